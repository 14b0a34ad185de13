"""The `pipelines` command: parameter parsing, help listing, errors for unknown pipelines."""

from __future__ import annotations

import argparse

import pytest

import flows
from deployments import cli


def test_param_values_parse_as_json_or_text() -> None:
    assert cli.parse_param("max_records=100") == ("max_records", 100)
    assert cli.parse_param("force=true") == ("force", True)
    assert cli.parse_param("day=2024-02-07") == ("day", "2024-02-07")
    assert cli.parse_param('kinds=["bus","ferry"]') == ("kinds", ["bus", "ferry"])
    assert cli.parse_param("note=a=b") == ("note", "a=b")
    with pytest.raises(argparse.ArgumentTypeError, match="expected key=value"):
        cli.parse_param("oops")


def test_unknown_pipeline_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "no-such-pipeline"]) == 2
    assert "unknown pipeline 'no-such-pipeline'" in capsys.readouterr().err


def test_help_lists_every_pipeline_and_its_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("demo", "local-stack", "run", "list"):
        assert command in out
    for ref in flows.FLOWS:
        assert ref.name in out
        for name in ref.load().parameters.properties:
            assert f"--param {name}" in out
