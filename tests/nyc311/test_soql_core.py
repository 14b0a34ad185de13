"""SoQL is built safely and keyset paging neither repeats nor skips rows, ties included."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from deployments.socrata_sample import SocrataDataset, parse_where
from tasks.nyc311.soql_core import (
    Cursor,
    PagingError,
    after,
    at_or_before,
    collect,
    conjunction,
    keyset_pages,
    literal,
    page_params,
    status_in,
    timestamp_text,
)


def test_literal_doubles_single_quotes() -> None:
    assert literal("O'Brien") == "'O''Brien'"
    assert literal("x' OR '1'='1") == "'x'' OR ''1''=''1'"


def test_a_quote_in_a_value_cannot_change_the_query() -> None:
    # the server reads the whole value as one literal, so no OR is injected
    predicate = parse_where("status = " + literal("Open' OR status = 'Closed"))
    assert not predicate({"status": "Closed"})
    assert predicate({"status": "Open' OR status = 'Closed"})


def test_keyset_condition_is_strictly_after_the_cursor() -> None:
    cursor = Cursor("2024-03-15T14:23:00.000", "10000005")
    assert after(cursor) == (
        "(created_date > '2024-03-15T14:23:00.000' OR "
        "(created_date = '2024-03-15T14:23:00.000' AND unique_key > '10000005'))"
    )
    assert at_or_before(cursor) == (
        "(created_date < '2024-03-15T14:23:00.000' OR "
        "(created_date = '2024-03-15T14:23:00.000' AND unique_key <= '10000005'))"
    )


def test_page_params_order_by_created_date_then_key_and_never_offset() -> None:
    where = conjunction([status_in(["Open", "In Progress"]), "", "created_date < 'x'"])
    assert page_params(where, 2000) == {
        "$order": "created_date,unique_key",
        "$limit": "2000",
        "$where": "(status = 'Open' OR status = 'In Progress') AND created_date < 'x'",
    }
    assert status_in([]) == ""


def test_timestamp_text_has_milliseconds_and_refuses_zones() -> None:
    assert timestamp_text(datetime(2024, 3, 15, 14, 23, 0, 123456)) == "2024-03-15T14:23:00.123"
    with pytest.raises(ValueError, match="floating timestamps have no zone"):
        timestamp_text(datetime.fromisoformat("2024-03-15T14:23:00+00:00"))


def _records(spec: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"created_date": t, "unique_key": k} for t, k in spec]


def _fetcher(dataset: SocrataDataset, log: list[dict[str, str]]) -> Any:
    def fetch(where: str, limit: int) -> list[dict[str, Any]]:
        params = page_params(where, limit)
        log.append(params)
        return dataset.query(params)

    return fetch


def test_ties_across_a_page_boundary_are_each_fetched_once() -> None:
    tie = "2024-01-02T00:00:00.000"
    # keys of mixed length: text order ('9999998' > '10000001') is the server's order
    spec = [("2024-01-01T00:00:00.000", "1")]
    spec += [(tie, k) for k in ("10000001", "10000002", "9999998", "9999999", "10000000")]
    spec += [("2024-01-03T00:00:00.000", "2")]
    log: list[dict[str, str]] = []
    pages = list(
        keyset_pages(
            _fetcher(SocrataDataset(_records(spec)), log), [], start=None, cap=100, page_size=2
        )
    )
    keys = [r["unique_key"] for p in pages for r in p.records]
    assert keys == ["1", "10000000", "10000001", "10000002", "9999998", "9999999", "2"]
    assert [len(p.records) for p in pages] == [2, 2, 2, 1]
    assert pages[1].cursor == Cursor(tie, "10000002")  # the next page starts inside the tie
    assert "$offset" not in str(log)


def _collect_seconds(seconds: range, **options: Any) -> tuple[Any, list[dict[str, str]]]:
    """`collect` over one record per second (key = the second) of 2024-01-01 00:00."""
    spec = [(f"2024-01-01T00:00:{i:02d}.000", str(i)) for i in seconds]
    log: list[dict[str, str]] = []
    batch = collect(_fetcher(SocrataDataset(_records(spec)), log), [], **options)
    return batch, log


def test_cap_limits_the_last_page_and_reports_a_backlog() -> None:
    batch, log = _collect_seconds(
        range(10, 30), start=None, overlap_clauses=None, max_records=7, page_size=3
    )
    assert [p["$limit"] for p in log] == ["3", "3", "1"]
    assert batch.new_rows == 7
    assert batch.backlog
    assert batch.last == Cursor("2024-01-01T00:00:16.000", "16")


def test_collect_rereads_the_overlap_then_continues_after_the_cursor() -> None:
    cursor = Cursor("2024-01-01T00:00:15.000", "15")
    overlap = ["created_date >= '2024-01-01T00:00:13.000'", at_or_before(cursor)]
    batch, _log = _collect_seconds(
        range(10, 20), start=cursor, overlap_clauses=overlap, max_records=100, page_size=100
    )
    assert [r["unique_key"] for r in batch.records] == ["13", "14", "15", "16", "17", "18", "19"]
    assert (batch.overlap_rows, batch.new_rows, batch.requests) == (3, 4, 2)
    assert not batch.backlog
    assert batch.first_created_date == "2024-01-01T00:00:16.000"


def test_a_server_that_ignores_the_cursor_is_caught_instead_of_looping() -> None:
    page = _records([("2024-01-01T00:00:00.000", "1"), ("2024-01-01T00:00:01.000", "2")])
    with pytest.raises(PagingError, match="no progress past"):
        list(keyset_pages(lambda w, n: page, [], start=None, cap=10, page_size=2))


def test_a_row_without_key_cannot_be_paged_past() -> None:
    with pytest.raises(PagingError, match="unique_key=None"):
        list(
            keyset_pages(
                lambda w, n: [{"created_date": "2024-01-01T00:00:00.000"}],
                [],
                start=None,
                cap=10,
                page_size=1,
            )
        )
