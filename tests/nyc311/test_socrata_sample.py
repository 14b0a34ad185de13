"""The Socrata look-alike: typed SoQL comparisons, ordering, paging, Socrata-style 400s."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from deployments.socrata_sample import (
    KEY_ROLLOVER,
    SocrataDataset,
    SoqlError,
    generate_records,
    parse_where,
)

ROWS = [
    {"unique_key": "9999999", "created_date": "2024-01-02T00:00:00.000", "status": "Open"},
    {"unique_key": "10000000", "created_date": "2024-01-02T00:00:00.000", "status": "Closed"},
    {"unique_key": "5", "created_date": "2024-01-01T12:00:00.000", "latitude": "40.5"},
    {"unique_key": "6", "created_date": "2024-01-03T00:00:00.000", "status": "O'Neil"},
]


def _keys(params: dict[str, str]) -> list[str]:
    return [r["unique_key"] for r in SocrataDataset(ROWS).query(params)]


def test_timestamps_compare_as_time_not_text() -> None:
    # '2024-01-02T00:00:00' < '2024-01-02T00:00:00.000' as text, but they are the same instant
    assert _keys({"$where": "created_date = '2024-01-02T00:00:00'"}) == ["9999999", "10000000"]


def test_unique_key_compares_as_text() -> None:
    assert _keys({"$where": "unique_key > '9'"}) == ["9999999"]
    order = {"$order": "created_date,unique_key"}
    assert _keys(order) == ["5", "10000000", "9999999", "6"]


def test_and_or_parentheses_and_escaped_quotes() -> None:
    where = (
        "(created_date > '2024-01-02T00:00:00.000' OR (created_date = '2024-01-02T00:00:00.000' "
        "AND unique_key > '10000000')) AND (status = 'Open' OR status = 'O''Neil')"
    )
    assert _keys({"$where": where, "$order": "created_date,unique_key"}) == ["9999999", "6"]


def test_missing_values_never_match() -> None:
    assert _keys({"$where": "status != 'Open'"}) == ["10000000", "6"]
    assert _keys({"$where": "latitude >= 40"}) == ["5"]


def test_limit_offset_select_and_descending_order() -> None:
    params = {"$order": "created_date DESC", "$limit": "2", "$offset": "1", "$select": "unique_key"}
    expected = [{"unique_key": "9999999"}, {"unique_key": "10000000"}]
    assert SocrataDataset(ROWS).query(params) == expected


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({"$where": "nope = 'x'"}, "query.soql.no-such-column", "No such column: nope"),
        ({"$where": "created_date > 'soon'"}, "query.soql.type-mismatch", "Cannot read 'soon'"),
        ({"$where": "status = 'Open' AND"}, "query.compiler.malformed", "Unexpected end"),
        ({"$where": "status LIKE 'O%'"}, "query.compiler.malformed", "Expected a comparison"),
        ({"$order": "created_date SIDEWAYS"}, "query.compiler.malformed", "Cannot order by"),
        ({"$limit": "50001"}, "query.compiler.malformed", "$limit must be an integer"),
        ({"$group": "status"}, "query.compiler.malformed", "Unsupported parameter $group"),
        ({"status": "Open"}, "query.compiler.malformed", "Unsupported parameter status"),
    ],
)
def test_anything_else_is_a_socrata_style_400(
    params: dict[str, str], code: str, message: str
) -> None:
    answer = SocrataDataset(ROWS).answer({k: [v] for k, v in params.items()})
    body = json.loads(answer.body)
    assert answer.status == 400
    assert body["errorCode"] == code
    assert body["message"].startswith(message)


def test_parse_errors_name_the_problem() -> None:
    with pytest.raises(SoqlError, match="Unexpected input"):
        parse_where("status = 'unterminated")


def test_records_can_be_published_and_changed_mid_run() -> None:
    dataset = SocrataDataset(ROWS)
    dataset.add({"unique_key": "7", "created_date": "2024-01-01T00:00:00.000"})
    dataset.update("5", status="Closed")
    assert [r["unique_key"] for r in dataset.query({"$where": "status = 'Closed'"})] == [
        "10000000",
        "5",
    ]
    assert len(dataset) == 5


def test_generated_records_look_like_the_api() -> None:
    records = generate_records(500, days=10, burst=40)
    assert records == generate_records(500, days=10, burst=40)  # deterministic
    assert len({r["unique_key"] for r in records}) == 500
    stamps = [r["created_date"] for r in records]
    burst_stamp = max(set(stamps), key=stamps.count)
    burst_keys = [int(r["unique_key"]) for r in records if r["created_date"] == burst_stamp]
    assert len(burst_keys) == 40
    assert min(burst_keys) < KEY_ROLLOVER <= max(burst_keys)  # ties straddle 7 → 8 digits
    assert sum(s.endswith("T00:00:00.000") for s in stamps) > 50  # many midnight stamps
    sample: dict[str, Any] = next(r for r in records if "x_coordinate_state_plane" in r)
    assert isinstance(sample["latitude"], str)
    assert set(sample["location"]) == {"latitude", "longitude", "human_address"}
    assert any("closed_date" not in r for r in records)  # nulls are omitted
    assert any(r["incident_zip"] == "07302" for r in records)


def test_sample_server_serves_the_dataset_and_refuses_other_ids(sample_sources: str) -> None:
    ok = requests.get(
        f"{sample_sources}/resource/erm2-nwe9.json",
        params={"$order": "created_date,unique_key", "$limit": "2"},
        timeout=5,
    )
    assert ok.status_code == 200
    assert [r["created_date"] for r in ok.json()] == ["2024-01-01T00:00:00.000"] * 2
    bad = requests.get(f"{sample_sources}/resource/erm2-nwe9.json?$where=x%3D1", timeout=5)
    assert (bad.status_code, bad.json()["errorCode"]) == (400, "query.soql.no-such-column")
    other = requests.get(f"{sample_sources}/resource/abcd-1234.json", timeout=5)
    assert (other.status_code, other.json()["errorCode"]) == (404, "not_found")
