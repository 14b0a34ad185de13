"""Layering: pure transform modules never import I/O or orchestration libraries.

Pure modules are `tasks/<pipeline>/transform*.py`, `tasks/<pipeline>/*_core.py` and
`tasks/common/keys.py`; imports of project modules are followed, so a pure module cannot reach
boto3 through a helper either. Flows and deployments may import anything below them.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("boto3", "botocore", "requests", "urllib3", "prefect", "prefect_aws", "logging")
PURE_GLOBS = ("tasks/*/transform*.py", "tasks/*/*_core.py", "tasks/common/keys.py")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from tasks.common import s3` may name a submodule
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_path(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def forbidden_reach(path: Path) -> dict[str, str]:
    """Forbidden imports reachable from `path` → the project module that imports each."""
    found: dict[str, str] = {}
    seen: set[Path] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in imports_of(current):
            top = name.split(".")[0]
            if top in FORBIDDEN:
                found[name.split(".")[0]] = current.name
            elif top in {"tasks", "flows", "deployments"}:
                target = module_path(name)
                if target is not None:
                    todo.append(target)
    return found


def pure_modules() -> list[Path]:
    return sorted({p for pattern in PURE_GLOBS for p in ROOT.glob(pattern)})


def test_pure_modules_import_no_io_or_orchestration() -> None:
    offenders = {str(p.relative_to(ROOT)): forbidden_reach(p) for p in pure_modules()}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_checker_catches_an_indirect_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import json\nfrom tasks.common import s3\n")
    # tasks.common.s3 imports boto3's exceptions and the client factory
    assert {"botocore", "boto3"} <= set(forbidden_reach(module))


def test_flows_package_import_has_no_side_effects() -> None:
    tops = {name.split(".")[0] for name in imports_of(ROOT / "flows" / "__init__.py")}
    assert tops <= {"__future__", "importlib", "dataclasses", "typing"}
