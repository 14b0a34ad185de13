"""`pipelines telemetry-file` (local, no AWS) and `pipelines telemetry-dlq` (the DLQ flow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployments.cli import main
from tests.telemetry import fixtures


def test_telemetry_file_writes_the_outputs_of_a_local_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, metadata, out = tmp_path / "fleet.csv", tmp_path / "metadata.json", tmp_path / "out"
    source.write_bytes(fixtures.BODY)
    metadata.write_bytes(fixtures.METADATA_JSON)

    assert (
        main(["telemetry-file", str(source), "--metadata", str(metadata), "--out", str(out)]) == 0
    )

    summary = json.loads(capsys.readouterr().out)
    assert summary["reconciliation"] == "rows_in 24 = stored 7 + rejected 15 + duplicates 2"
    assert summary["rejected_by_code"]["missing_field"] == 4
    rejects = (out / "rejects.csv").read_text().splitlines()
    assert rejects[0] == "line,reason,row"
    assert rejects[1] == '4,missing_field,",2024-05-01T08:16:00Z,40.7,-74.0,10,moving,,,"'
    assert len(rejects) == 16
    high = (out / "messages-high.jsonl").read_text().splitlines()
    assert sum(len(json.loads(line)["events"]["timestamp"]) for line in high) == 4
    assert [p.name for p in (out / "archive" / "events").iterdir()] == ["date=2024-05-01"]


def test_telemetry_file_names_a_missing_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["telemetry-file", str(tmp_path / "no.csv"), "--metadata", "m.json", "--out", "o"])
    assert code == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.usefixtures("prefect_harness", "stack")
def test_telemetry_dlq_lists_an_empty_queue(capsys: pytest.CaptureFixture[str]) -> None:
    from tasks.telemetry import queue_io

    queue_io.clear_urls()
    assert main(["telemetry-dlq", "list"]) == 0
    out = capsys.readouterr().out
    assert "0 message(s) in the DLQ (list)" in out
