"""Layering: pure modules never import I/O or orchestration libraries; AWS goes through one layer.

The rule is the name: every module called `*_core.py` under `tasks/` is pure, and every module of
a pipeline package (`tasks/<pipeline>/`, `tasks/transit/`) is either `*_core.py` (pure) or
`*_io.py` (tasks and I/O). Imports of project modules are followed, so a pure module cannot reach
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
    return sorted(ROOT.glob("tasks/**/*_core.py"))


def pipeline_modules() -> list[Path]:
    return sorted(
        p
        for p in ROOT.glob("tasks/*/*.py")
        if p.parent.name != "common" and p.name != "__init__.py"
    )


def test_pure_modules_import_no_io_or_orchestration() -> None:
    assert len(pure_modules()) >= 15
    offenders = {str(p.relative_to(ROOT)): forbidden_reach(p) for p in pure_modules()}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_every_pipeline_module_says_whether_it_is_pure_or_io() -> None:
    unnamed = [
        str(p.relative_to(ROOT))
        for p in pipeline_modules()
        if not p.stem.endswith(("_core", "_io"))
    ]
    assert unnamed == []


def test_checker_catches_an_indirect_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import json\nfrom tasks.common import s3\n")
    # tasks.common.s3 imports boto3's exceptions and the client factory
    assert {"botocore", "boto3"} <= set(forbidden_reach(module))


def test_flows_package_import_has_no_side_effects() -> None:
    tops = {name.split(".")[0] for name in imports_of(ROOT / "flows" / "__init__.py")}
    assert tops <= {"__future__", "importlib", "dataclasses", "typing"}


# Operations the shared layer (tasks/common/s3.py, dynamo.py, state.py) offers: no other module
# calls them on a boto3 client, so retries, conditions, encryption and pagination live in one place.
SHARED_AWS_OPERATIONS = frozenset(
    {
        "head_object",
        "get_object",
        "put_object",
        "list_objects_v2",
        "get_paginator",
        "batch_write_item",
        "batch_get_item",
        "put_item",
        "get_item",
    }
)
SHARED_LAYER_MODULES = frozenset({"s3", "dynamo", "state"})
# local_stack creates the CloudFormation stack before any setting points at it.
BOTO3_ALLOWED = {"deployments/local_stack.py"}


def aws_calls_outside_the_shared_layer(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = [
        f"{node.func.attr} (line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in SHARED_AWS_OPERATIONS
        # `dynamo.get_item(...)` is the shared layer itself; `client.get_item(...)` is not
        and not (
            isinstance(node.func.value, ast.Name) and node.func.value.id in SHARED_LAYER_MODULES
        )
    ]
    top_imports = {name.split(".")[0] for name in imports_of(path)}
    found += sorted(f"import {name}" for name in top_imports & {"boto3", "botocore"})
    return found


def test_only_the_shared_layer_calls_s3_and_dynamodb() -> None:
    offenders = {}
    for folder in ("tasks", "flows", "deployments", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith("tasks/common/") or relative in BOTO3_ALLOWED:
                continue
            calls = aws_calls_outside_the_shared_layer(path)
            if calls:
                offenders[relative] = calls
    assert offenders == {}


def test_the_scan_sees_a_raw_conditional_put(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from tasks.common import aws\n"
        "aws.s3().put_object(Bucket='b', Key='k', Body=b'', IfNoneMatch='*')\n"
        "import botocore.exceptions\n"
    )
    assert aws_calls_outside_the_shared_layer(module) == ["put_object (line 2)", "import botocore"]
