"""Prefect flows, one module per pipeline, and the registry the CLI and the tests read.

`FLOWS` names every flow a user can run (`pipelines run <name>`); entrypoints use prefect.yaml's
`path/to/file.py:function` form, and a test checks that prefect.yaml deploys only these.
Importing this package imports no flow module (no Prefect import, no side effects).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FlowRef:
    """A runnable flow: CLI name, prefect.yaml entrypoint and a one-line description."""

    name: str
    entrypoint: str
    description: str

    @property
    def module(self) -> str:
        """Dotted module path of the entrypoint."""
        path = self.entrypoint.split(":", 1)[0]
        return path.removesuffix(".py").replace("/", ".")

    def load(self) -> Any:
        """Import and return the Prefect `Flow` object."""
        function = self.entrypoint.split(":", 1)[1]
        return getattr(importlib.import_module(self.module), function)


FLOWS: tuple[FlowRef, ...] = ()


def get(name: str) -> FlowRef:
    """The registered flow called `name`; `KeyError` lists the known names."""
    for ref in FLOWS:
        if ref.name == name:
            return ref
    known = ", ".join(ref.name for ref in FLOWS) or "(none yet)"
    raise KeyError(f"unknown pipeline {name!r}; known: {known}")
