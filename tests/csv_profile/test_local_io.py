"""Local mode: `pipelines profile-csv FILE` prints the same summary for a file on disk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deployments import cli
from tasks.csv_profile.local_io import profile_file
from tests.csv_profile import expected
from tests.csv_profile.conftest import SAMPLES


def test_profile_csv_prints_the_summary_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dirty.csv"
    shutil.copy(SAMPLES / "dirty.csv", path)
    stamp = datetime(2025, 11, 29, 10, 30, tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))
    assert cli.main(["profile-csv", str(path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert expected.strip(summary) == expected.DIRTY
    assert summary["upload_timestamp"] == "2025-11-29T10:30:00Z"
    assert summary["source"] == {
        "bucket": None,
        "key": str(path),
        "etag": "cd81c965a906a497bb0471be992742e3",
        "size_bytes": 1462,
    }


def test_profile_csv_exit_code_says_the_file_is_unreadable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["profile-csv", str(SAMPLES / "binary.csv")]) == 1
    assert json.loads(capsys.readouterr().out)["status"] == "error"
    assert cli.main(["profile-csv", "/no/such/file.csv"]) == 2


def test_options_from_the_command_line_reach_the_profiler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["profile-csv", str(SAMPLES / "dirty.csv"), "--threshold", "0.99", "--null-token", "x"]
    assert cli.main([*args, "--header", "no", "--delimiter", ";"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["profile_options"]["type_threshold"] == 0.99
    assert summary["profile_options"]["null_tokens"] == ["x"]
    assert summary["file"]["delimiter"] == ";"
    assert summary["file"]["has_header"] is False
    assert list(summary["schema"]) == ["column_1"]


def test_the_local_etag_is_the_md5_of_the_whole_file_even_when_unreadable() -> None:
    summary = profile_file(SAMPLES / "binary.csv", now=datetime(2025, 1, 1, tzinfo=UTC))
    assert summary["source"]["etag"] == "75860b412b43070036c6996ae11eba9e"
    assert summary["processed_timestamp"] == "2025-01-01T00:00:00Z"


def test_a_record_longer_than_the_parse_block_never_aborts_the_command(tmp_path: Path) -> None:
    """pyarrow's reader reads ahead on its own thread: it must be closed on every error path
    before anything else reads the file (else "generator already executing", then SIGABRT at
    exit, in about half of the runs). Eight runs in fresh processes, two at a time."""
    path = tmp_path / "long_row.csv"
    path.write_bytes(b"a,b\n3," + b"x" * 300_000 + b"\n" + b"4,5\n" * 1_000_000)
    env = {**os.environ, "PIPELINES_CSV_BLOCK_BYTES": "65536"}
    command = [sys.executable, "-m", "deployments.cli", "profile-csv", str(path)]
    outcomes = []
    for _ in range(4):
        runs = [
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)
        ]
        outcomes += [(run.wait(timeout=120), *run.communicate()) for run in runs]
    message = (
        "a record longer than the parse block (65,536 bytes) after 0 data records: "
        "raise PIPELINES_CSV_BLOCK_BYTES to read it"
    )
    for code, out, err in outcomes:
        assert (code, err.decode()) == (1, "")  # an error summary, no crash, no traceback
        assert json.loads(out)["error_message"] == message
