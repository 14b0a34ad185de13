"""Generated files stay true to the code (prefect.yaml, README tables); commands documented."""

from __future__ import annotations

import re

from deployments import docs, registry
from deployments.cli import build_parser

README = docs.README.read_text()


def test_generated_files_are_current() -> None:
    for path, text in docs.generated().items():
        assert path.read_text() == text, f"{path.name} is stale: run `pipelines generate`"


def test_quick_start_names_the_two_commands_and_ci_runs_the_test_one() -> None:
    assert "make demo" in README
    assert "make test" in README
    ci = (docs.README.parent / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.MULTILINE)


def test_every_cli_command_and_pipeline_is_documented() -> None:
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    for command in subparsers.choices:  # type: ignore[union-attr]
        assert f"pipelines {command}" in README, command
    for _pipeline, ref in registry.all_flows():
        assert f"`{ref.name}`" in README, ref.name
