"""The `pipelines` command: parameter parsing, help listing, errors for unknown pipelines."""

from __future__ import annotations

import argparse
import json

import pytest

from deployments import cli, registry


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
    for _pipeline, ref in registry.all_flows():
        assert ref.name in out
        for name in ref.load().parameters.properties:
            assert f"--param {name}" in out


@pytest.mark.usefixtures("prefect_harness", "stack")
def test_run_executes_a_flow_with_shell_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    from tasks.common import aws
    from tasks.common.settings import get_settings

    bucket = get_settings().csv_bucket
    aws.s3().put_object(Bucket=bucket, Key="uploads/cli.csv", Body=b"id,amount\n1,2.5\n2,x\n")
    assert cli.main(["run", "csv-profile", "--param", "key=uploads/cli.csv"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["status"], result["row_count"], result["columns"]) == ("success", 2, 2)
    stored = aws.s3().get_object(Bucket=bucket, Key="processed/cli_summary.json")["Body"].read()
    assert json.loads(stored)["row_count"] == 2


@pytest.mark.usefixtures("prefect_harness")
def test_a_failed_run_exits_1_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "csv-profile-sweep", "--param", "prefix=elsewhere/"]) == 1
    assert "prefix must be under 'uploads/'" in capsys.readouterr().err
