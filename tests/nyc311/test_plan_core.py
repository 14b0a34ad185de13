"""Run planning: modes from the checkpoint, windows, overlap, the checkpoint document."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tasks.nyc311 import plan_core
from tasks.nyc311.plan_core import CheckpointError, Outcome, RunCounts, plan_run
from tasks.nyc311.soql_core import Cursor

AS_OF = datetime(2025, 2, 22, 2, 0, 0)
CURSOR_20 = {"created_date": "2024-01-20T00:00:00.000", "unique_key": "9"}
ZERO = RunCounts(
    records=0,
    overlap_rows=0,
    fetched=0,
    inserted=0,
    replaced=0,
    duplicates_in_batch=0,
    rejected=0,
    invalid_values=0,
    requests=1,
)


def _doc(**changes: Any) -> dict[str, Any]:
    plan = plan_core.Plan("incremental", plan_core.STATE_KEY, datetime(2025, 2, 21, 2))
    doc = plan_core.checkpoint_doc(
        plan,
        Cursor("2025-02-21T01:59:58.000", "63000001"),
        False,
        ZERO,
        updated_at=datetime(2025, 2, 21, 7, 0, 5),
        flow_run_id="run-1",
    )
    return {**doc, **changes}


def test_no_checkpoint_means_an_initial_load_of_the_seed_statuses_from_midnight() -> None:
    plan = plan_run(None, as_of=AS_OF)
    assert plan.mode == "initial"
    assert plan.window_start == datetime(2024, 2, 23)  # 365 days back, at midnight
    assert plan.cursor is None
    assert plan.overlap_from is None
    assert plan.clauses() == [
        "(status = 'Open' OR status = 'In Progress')",
        "created_date >= '2024-02-23T00:00:00.000'",
        "created_date < '2025-02-22T02:00:00.000'",
    ]
    assert plan.state_key == "pipeline_state/last_run_timestamp.json"


def test_checkpoint_means_incremental_after_its_cursor_with_an_overlap_reread() -> None:
    plan = plan_run(_doc(), as_of=AS_OF, overlap=timedelta(hours=6))
    assert plan.mode == "incremental"
    assert plan.cursor == Cursor("2025-02-21T01:59:58.000", "63000001")
    assert plan.statuses == ()
    assert plan.clauses() == ["", "", "created_date < '2025-02-22T02:00:00.000'"]
    assert plan.overlap_clauses() == [
        "",
        "created_date >= '2025-02-20T19:59:58.000'",
        "(created_date < '2025-02-21T01:59:58.000' OR "
        "(created_date = '2025-02-21T01:59:58.000' AND unique_key <= '63000001'))",
        "created_date < '2025-02-22T02:00:00.000'",
    ]
    assert plan.date_range() == "2025-02-20T19:59:58.000 to 2025-02-22T02:00:00.000"


def test_zero_overlap_means_no_reread() -> None:
    assert plan_run(_doc(), as_of=AS_OF, overlap=timedelta(0)).overlap_clauses() is None


def test_force_initial_load_ignores_the_checkpoint() -> None:
    plan = plan_run(_doc(), as_of=AS_OF, force_initial_load=True, initial_lookback_days=7)
    assert (plan.mode, plan.window_start, plan.cursor) == ("initial", datetime(2025, 2, 15), None)


def test_an_initial_load_with_a_backlog_is_continued_with_its_filters() -> None:
    doc = _doc(
        mode="initial",
        backlog=True,
        window_start="2024-02-23T00:00:00",
        statuses=["Open", "In Progress"],
    )
    plan = plan_run(doc, as_of=AS_OF)
    assert plan.mode == "initial"
    assert plan.continues_backlog
    assert plan.window_start == datetime(2024, 2, 23)
    assert plan.statuses == ("Open", "In Progress")
    assert plan.cursor == Cursor("2025-02-21T01:59:58.000", "63000001")


def test_a_completed_initial_load_hands_over_at_its_window_end() -> None:
    plan = plan_run(None, as_of=AS_OF)
    assert plan_core.next_cursor(plan, Cursor("2025-02-20T10:00:00.000", "5"), backlog=False) == (
        Cursor("2025-02-22T02:00:00.000", "")
    )
    # with a backlog it continues exactly after the last record written
    last = Cursor("2025-01-01T00:00:00.000", "7")
    assert plan_core.next_cursor(plan, last, backlog=True) == last


def test_an_incremental_run_without_records_keeps_its_cursor() -> None:
    plan = plan_run(_doc(), as_of=AS_OF)
    assert plan_core.next_cursor(plan, None, backlog=False) == plan.cursor


def test_backfill_has_its_own_checkpoint_and_takes_every_status() -> None:
    plan = plan_run(None, as_of=datetime(2024, 2, 1), start=datetime(2024, 1, 1))
    assert plan.mode == "backfill"
    assert plan.state_key == "pipeline_state/backfills/20240101T000000-20240201T000000.json"
    assert plan.clauses() == [
        "",
        "created_date >= '2024-01-01T00:00:00.000'",
        "created_date < '2024-02-01T00:00:00.000'",
    ]
    resumed = plan_run(
        _doc(mode="backfill", cursor=CURSOR_20),
        as_of=datetime(2024, 2, 1),
        start=datetime(2024, 1, 1),
        overlap=timedelta(days=30),
    )
    assert resumed.cursor == Cursor("2024-01-20T00:00:00.000", "9")
    assert resumed.overlap_from == datetime(2024, 1, 1)  # never before the window start


def test_a_backfill_must_start_before_it_ends() -> None:
    with pytest.raises(ValueError, match="is not before its end"):
        plan_run(None, as_of=datetime(2024, 1, 1), start=datetime(2024, 1, 1))


def test_the_seeds_state_file_is_read_as_a_position() -> None:
    seed = {"last_run_timestamp": "2025-02-21T02:00:00.123456", "updated_at": "x"}
    plan = plan_run(seed, as_of=AS_OF)
    assert plan.mode == "incremental"
    assert plan.cursor == Cursor("2025-02-21T02:00:00.123", "")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"version": 3}, "unsupported checkpoint version 3"),
        ({"version": 2, "cursor": None}, "unreadable checkpoint (KeyError: 'mode')"),
        ({"last_run_timestamp": "yesterday"}, "unreadable checkpoint (ValueError"),
    ],
)
def test_an_unreadable_checkpoint_stops_the_run(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(CheckpointError) as info:
        plan_run(doc, as_of=AS_OF)
    assert str(info.value).startswith(message)


def test_an_incremental_checkpoint_without_cursor_is_refused() -> None:
    with pytest.raises(CheckpointError, match="has no cursor"):
        plan_run(_doc(cursor=None), as_of=AS_OF)


def test_checkpoint_document_format() -> None:
    assert _doc() == {
        "version": 2,
        "cursor": {"created_date": "2025-02-21T01:59:58.000", "unique_key": "63000001"},
        "mode": "incremental",
        "backlog": False,
        "window_start": None,
        "window_end": "2025-02-21T02:00:00",
        "statuses": [],
        "last_run_timestamp": "2025-02-21T02:00:00",
        "updated_at": "2025-02-21T07:00:05",
        "last_run": {**ZERO, "flow_run_id": "run-1"},
    }


def _outcome(counts: RunCounts, backlog: bool = False) -> Outcome:
    return Outcome(
        plan=plan_run(_doc(), as_of=AS_OF),
        counts=counts,
        backlog=backlog,
        cursor=Cursor("2025-02-22T01:00:00.000", "63000999"),
        first_created_date=None,
        last_created_date=None,
        raw_uri=None,
        checkpoint_uri="s3://b/k",
    )


def test_summary_says_no_new_data_and_backlog_as_the_seed_did() -> None:
    summary, notes = plan_core.summarise(_outcome(ZERO), 10_000)
    assert (summary["message"], notes) == ("No new data available", [])
    busy = RunCounts(**{**ZERO, "records": 10_000, "fetched": 10_000, "inserted": 10_000})
    summary, notes = plan_core.summarise(_outcome(busy, backlog=True), 10_000)
    assert notes[0] == (
        "Backlog remains: max_records (10,000) was reached; the next run continues exactly "
        "after created_date=2025-02-22T01:00:00.000, unique_key=63000999."
    )
    assert summary["message"] == notes[0]
    assert summary["backlog"] is True


def test_window_ends_are_inclusive_days_or_instants_in_new_york_time() -> None:
    assert plan_core.window_start(date(2024, 3, 10)) == datetime(2024, 3, 10)
    assert plan_core.window_end(date(2024, 3, 10)) == datetime(2024, 3, 11)  # the whole day
    # a date-time from the UI arrives in UTC: 05:00Z is midnight in New York (EST)
    assert plan_core.window_start(datetime(2024, 1, 10, 5, tzinfo=UTC)) == datetime(2024, 1, 10)
    # inclusive to Socrata's millisecond
    assert plan_core.window_end(datetime(2024, 1, 10, 12)) == datetime(2024, 1, 10, 12, 0, 0, 1000)
    described = plan_core.described(datetime(2024, 1, 10), datetime(2024, 1, 11))
    assert described == {
        "new_york": "2024-01-10T00:00:00 → 2024-01-11T00:00:00 (America/New_York)",
        "utc": "2024-01-10T05:00:00Z → 2024-01-11T05:00:00Z",
    }


def test_progress_is_the_position_in_the_window() -> None:
    plan = plan_run(
        None,
        as_of=datetime(2024, 1, 11),
        start=datetime(2024, 1, 10),
        overlap=timedelta(0),
    )
    assert plan.fraction_done(None) == 0.0
    assert plan.fraction_done("2024-01-10T06:00:00.000") == 0.25
    assert plan.fraction_done("2024-01-12T00:00:00.000") == 1.0
