"""README.md stays true to the code: configuration table, commands, pipelines."""

from __future__ import annotations

import re

import flows
from deployments import docs
from deployments.cli import build_parser

README = docs.README.read_text()


def test_configuration_table_matches_the_settings_model() -> None:
    assert docs.render(README) == README, "run `.venv/bin/python -m deployments.docs`"


def test_quick_start_names_the_two_commands_and_ci_runs_the_test_one() -> None:
    assert "make demo" in README
    assert "make test" in README
    ci = (docs.README.parent / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.MULTILINE)


def test_every_cli_command_and_pipeline_is_documented() -> None:
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    for command in subparsers.choices:  # type: ignore[union-attr]
        assert f"pipelines {command}" in README, command
    for ref in flows.FLOWS:
        assert f"`{ref.name}`" in README, ref.name
