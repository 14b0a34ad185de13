"""The summary document: exact expected summaries of the samples, keys, error shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tasks.common.keys_core import UnsafeKeyError
from tasks.csv_profile.local_io import file_chunks
from tasks.csv_profile.profile_core import FileProfile, ProfileOptions, profile_or_error
from tasks.csv_profile.summary_core import (
    build_summary,
    file_name_for,
    options_doc,
    prior_state,
    summary_key_for,
)
from tests.conftest import SAMPLE_DATA
from tests.csv_profile import expected
from tests.csv_profile.options import options

SAMPLES = SAMPLE_DATA / "csv_profile"


def summarise(path: Path, rules: ProfileOptions | None = None) -> dict[str, Any]:
    opts = rules or options()
    return build_summary(
        profile_or_error(file_chunks(path, size=7), opts),  # tiny chunks: boundaries everywhere
        file_name=f"samples/{path.name}",
        summary_key=summary_key_for(f"samples/{path.name}"),
        source={"bucket": "b", "key": f"uploads/samples/{path.name}", "etag": "e", "size_bytes": 1},
        upload_timestamp="2025-11-29T10:30:00Z",
        processed_timestamp="2025-11-29T10:30:15Z",
        options=opts,
    )


@pytest.mark.parametrize(
    ("sample", "summary"),
    [
        ("clean.csv", expected.CLEAN),
        ("dirty.csv", expected.DIRTY),
        ("semicolon_latin1.csv", expected.SEMICOLON_LATIN1),
        ("ragged.csv", expected.RAGGED),
        ("bom.csv", expected.BOM),
        ("header_only.csv", expected.HEADER_ONLY),
        ("empty.csv", expected.EMPTY),
        ("binary.csv", expected.BINARY),
    ],
)
def test_sample_summary_is_exactly_as_expected(sample: str, summary: dict[str, Any]) -> None:
    assert expected.strip(summarise(SAMPLES / sample)) == summary


def test_per_run_fields_are_the_seed_fields_plus_provenance() -> None:
    summary = summarise(SAMPLES / "clean.csv")
    assert summary["file_name"] == "samples/clean.csv"
    assert summary["summary_key"] == "processed/samples/clean_summary.json"
    assert summary["upload_timestamp"] == "2025-11-29T10:30:00Z"
    assert summary["processed_timestamp"] == "2025-11-29T10:30:15Z"
    assert summary["profile_options"] == options_doc(options())
    assert "error_message" not in summary  # seed: only when status is "error"


def test_a_stricter_threshold_turns_a_column_with_one_bad_value_into_string() -> None:
    summary = summarise(SAMPLES / "dirty.csv", options(type_threshold=0.99))
    # age: 38 valid of 39 = 0.974 < 0.99; salary 37/38; join_date 38/40; name_2 39/40
    assert summary["schema"]["age"] == "string"
    assert summary["schema"]["salary"] == "string"
    assert summary["schema"]["join_date"] == "string"
    assert summary["schema"]["name_2"] == "string"
    assert summary["quality_issues"]["invalid_values"] == {}
    assert set(summary["statistics"]) == {"id"}


def test_file_name_is_the_key_relative_to_uploads() -> None:
    assert file_name_for("uploads/sales/2025.csv") == "sales/2025.csv"
    assert file_name_for("uploads/DATA.CSV") == "DATA.CSV"
    for bad in ("processed/x.csv", "uploads/x.txt", "uploads/.csv", "x.csv"):
        with pytest.raises(ValueError, match="not a CSV upload"):
            file_name_for(bad)


def test_summary_key_keeps_folders_and_cannot_leave_processed() -> None:
    assert summary_key_for("data.csv") == "processed/data_summary.json"
    assert summary_key_for("sales/2025.csv") == "processed/sales/2025_summary.json"
    assert summary_key_for("../../etc/x.csv") == "processed/%2E%2E/%2E%2E/etc/x_summary.json"
    assert summary_key_for("a b/ü?.csv") == "processed/a%20b/%C3%BC%3F_summary.json"
    with pytest.raises(UnsafeKeyError):
        summary_key_for("a//b.csv")


def test_an_error_profile_keeps_what_was_detected_and_has_the_seed_error_shape() -> None:
    profile = FileProfile(encoding="utf-8", error="CSV parse error after 3 data rows: boom")
    summary = build_summary(
        profile,
        file_name="x.csv",
        summary_key="processed/x_summary.json",
        source={},
        upload_timestamp="t0",
        processed_timestamp="t1",
        options=options(),
    )
    assert summary["status"] == "error"
    assert summary["row_count"] == 0
    assert summary["schema"] == {}
    assert summary["statistics"] == {}
    assert summary["error_message"] == "CSV parse error after 3 data rows: boom"
    assert summary["file"]["encoding"] == "utf-8"
    assert summary["quality_issues"]["has_issues"] is True


def test_prior_state_decides_from_the_stored_version_and_rules() -> None:
    rules = options_doc(options())
    record = {
        "source": {"etag": "v1"},
        "upload_timestamp": "2025-01-02T00:00:00Z",
        "processed_timestamp": "2025-01-02T00:00:09Z",
        "profile_options": rules,
    }
    opts = options()
    assert prior_state(None, "v1", "2025-01-02T00:00:00Z", opts) == ("new", None)
    assert prior_state(record, "v1", "2025-01-02T00:00:00Z", opts) == (
        "done",
        "2025-01-02T00:00:09Z",
    )
    stricter = options(type_threshold=0.99)
    assert prior_state(record, "v1", "2025-01-02T00:00:00Z", stricter) == (
        "redo",
        "2025-01-02T00:00:09Z",
    )
    assert prior_state(record, "v0", "2025-01-01T00:00:00Z", opts) == ("newer", None)
    assert prior_state(record, "v2", "2025-01-03T00:00:00Z", opts) == ("new", None)
