"""The summary document: exact expected summaries of the samples, keys, error shape."""

from __future__ import annotations

import json
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
    summary_json,
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


def summary_of(tmp_path: Path, name: str, data: bytes) -> dict[str, Any]:
    path = tmp_path / name
    path.write_bytes(data)
    return summarise(path)


def test_an_unclosed_quote_anywhere_is_an_error_naming_the_line_its_field_began(
    tmp_path: Path,
) -> None:
    summary = summary_of(tmp_path, "unclosed.csv", b'a,b\n1,2\n"x,3\n4,5\n4,5\n')
    assert expected.strip(summary) == {
        **expected.error(
            "unterminated quoted field: the quote that opens a field on line 3 is never closed"
            " (the rest of the file would be read as that one value)",
            encoding="utf-8",
        ),
        "file": {**expected.UTF8_COMMA},  # what was detected before the error is kept
    }


def test_row_count_is_every_data_record_ragged_ones_included(tmp_path: Path) -> None:
    # 4 data records: 2 well-formed, one with too few fields, one with too many
    summary = summary_of(tmp_path, "four.csv", b"id,label\n1,one\n2\n3,three,extra\n4,four\n")
    assert expected.strip(summary) == {
        "status": "success",
        "row_count": 4,
        "schema": {"id": "int", "label": "string"},
        # the per-column counts are over the 2 well-formed records (ids 1 and 4)
        "statistics": {"id": {"min": 1, "max": 4, "avg": 2.5, "count": 2}},
        "quality_issues": {
            **expected.no_issues(4),
            "has_issues": True,
            "ragged_rows": {
                "count": 2,
                "too_many_fields": 1,
                "too_few_fields": 1,
                "first_rows": [
                    {"row": 3, "fields": 1, "text": "2"},
                    {"row": 4, "fields": 3, "text": "3,three,extra"},
                ],
            },
        },
        "columns": {
            "id": expected.col(1, "int", 2, 2, "id", int=2),
            "label": expected.col(2, "string", 2, 2, "label", text=2),
        },
        "file": expected.UTF8_COMMA,
    }


def test_missing_percentages_are_over_the_well_formed_records(tmp_path: Path) -> None:
    summary = summary_of(tmp_path, "gaps.csv", b"id,label\n1,\n2\n3,x,y\n4,four\n5,NA\n")
    issues = summary["quality_issues"]
    assert (summary["row_count"], issues["total_rows"], issues["ragged_rows"]["count"]) == (5, 5, 2)
    # 2 missing labels among the 3 records that have a label field at all
    assert issues["missing_values"] == {"label": {"count": 2, "percentage": 66.67}}


def test_columns_keep_the_files_order_in_every_map_and_in_the_json_bytes(
    tmp_path: Path,
) -> None:
    summary = summary_of(
        tmp_path, "order.csv", b"zeta,alpha,mid\n3,x,2024-01-02\n1,NA,2024-01-01\n"
    )
    assert expected.strip(summary) == {
        "status": "success",
        "row_count": 2,
        "schema": {"zeta": "int", "alpha": "string", "mid": "date"},
        "statistics": {
            "zeta": {"min": 1, "max": 3, "avg": 2.0, "count": 2},
            "mid": {"min": "2024-01-01", "max": "2024-01-02", "count": 2},
        },
        "quality_issues": {
            **expected.no_issues(2),
            "has_issues": True,
            "missing_values": {"alpha": {"count": 1, "percentage": 50.0}},
        },
        "columns": {
            "zeta": expected.col(1, "int", 2, 2, "zeta", int=2),
            "alpha": expected.col(2, "string", 1, 1, "alpha", text=1),
            "mid": expected.col(3, "date", 2, 2, "mid", date=2),
        },
        "file": expected.UTF8_COMMA,
    }
    # dict equality ignores order: the order is checked on the keys and on the stored text
    for part in (summary["schema"], summary["columns"]):
        assert list(part) == ["zeta", "alpha", "mid"]
    assert list(summary["statistics"]) == ["zeta", "mid"]
    text = summary_json(summary).decode()
    assert (
        text.index('"zeta": "int"') < text.index('"alpha": "string"') < text.index('"mid": "date"')
    )
    assert list(json.loads(text)["schema"]) == ["zeta", "alpha", "mid"]
    assert summary_json(summary) == summary_json(json.loads(text))  # deterministic


def test_summary_keys_keep_the_suffix_case_and_never_collide() -> None:
    names = ["x.csv", "x.CSV", "x.Csv", "x.CSV.csv", "x.csv.csv", "x.CSV.CSV"]
    keys = [summary_key_for(n) for n in names]
    assert keys == [
        "processed/x_summary.json",
        "processed/x.CSV_summary.json",
        "processed/x.Csv_summary.json",
        "processed/x.CSV.csv_summary.json",
        "processed/x.csv.csv_summary.json",
        "processed/x.CSV.CSV_summary.json",
    ]
    assert len(set(keys)) == len(keys)
