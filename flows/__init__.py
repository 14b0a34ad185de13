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


FLOWS: tuple[FlowRef, ...] = (
    FlowRef(
        "lamp",
        "flows/lamp.py:lamp_ingest_day",
        "LAMP subway events of one service date (default: today) → per-stop CSVs",
    ),
    FlowRef(
        "lamp-backfill",
        "flows/lamp.py:lamp_backfill",
        "LAMP over a date range, one run per day, unchanged days skipped (dry_run shows the plan)",
    ),
    FlowRef(
        "csv-profile",
        "flows/csv_profile.py:profile_csv_upload",
        "one uploaded CSV (uploads/*.csv) → processed/<name>_summary.json + metadata item",
    ),
    FlowRef(
        "csv-profile-sweep",
        "flows/csv_profile.py:sweep_uploads",
        "every uploads/*.csv whose current version is not profiled yet (force=true: all)",
    ),
    FlowRef(
        "nyc311",
        "flows/nyc311.py:nyc311_collect",
        "NYC 311 requests from Socrata since the keyset checkpoint → raw JSON + month Parquet",
    ),
)


def get(name: str) -> FlowRef:
    """The registered flow called `name`; `KeyError` lists the known names."""
    for ref in FLOWS:
        if ref.name == name:
            return ref
    known = ", ".join(ref.name for ref in FLOWS) or "(none yet)"
    raise KeyError(f"unknown pipeline {name!r}; known: {known}")
