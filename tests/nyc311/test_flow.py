"""The collector flow against a local Socrata server: nothing lost, nothing duplicated, ever.

Each scenario runs the real flow (Prefect test server, in-process moto, pytest-httpserver) and
then reads the processed Parquet back from S3 and counts unique_keys.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from prefect import task
from werkzeug import Response

import flows.nyc311 as flow_module
from deployments.socrata_sample import generate_records, stamp
from flows.nyc311 import nyc311_collect
from tasks.common import s3
from tasks.nyc311.plan_core import STATE_KEY

from .conftest import (
    PROCESSED,
    RAW,
    FakeSocrata,
    keys_under,
    processed_keys,
    processed_table,
)

END = date(2024, 5, 31)  # inclusive: the window ends at 2024-06-01T00:00 New York
pytestmark = pytest.mark.usefixtures("prefect_harness", "buckets", "no_heartbeat", "fast_http")


def _run(**params: Any) -> Any:
    return nyc311_collect(**{"end": END, **params}, return_state=True)


def _summary(**params: Any) -> dict[str, Any]:
    state = _run(**params)
    assert state.is_completed(), state.message
    return dict(state.result())


def _start_incremental_after(created_date: str) -> None:
    """A checkpoint as an earlier run would have left it."""
    doc = {
        "version": 2,
        "cursor": {"created_date": created_date, "unique_key": ""},
        "mode": "incremental",
        "backlog": False,
    }
    s3.write_json(PROCESSED, STATE_KEY, doc)


def _checkpoint() -> dict[str, Any] | None:
    doc = s3.read_json(PROCESSED, STATE_KEY)
    return dict(doc) if doc is not None else None


def _records_between(start: datetime, n: int, step: timedelta) -> list[dict[str, Any]]:
    return [
        {
            "unique_key": str(1000 + i),
            "created_date": stamp(start + i * step),
            "status": "Open",
            "latitude": "40.7",
        }
        for i in range(n)
    ]


def _artifacts(flow_run_id: Any) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        return list(
            client.read_artifacts(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
        )


def _api_logs(flow_run_id: Any) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return [log.message for log in logs]


def test_25000_new_records_at_10000_per_run_take_three_runs_and_none_is_lost(
    socrata: FakeSocrata,
) -> None:
    records = generate_records(25_000, days=60)
    socrata.dataset.add(*records)
    _start_incremental_after("2023-12-31T00:00:00.000")
    states = [_run() for _ in range(3)]  # real sizes: max_records 10,000, pages of 2,000
    summaries = [dict(s.result()) for s in states]

    assert [s["records"] for s in summaries] == [10_000, 10_000, 5_000]
    assert [s["backlog"] for s in summaries] == [True, True, False]
    assert [s["message"].split(":")[0] for s in summaries] == [
        "Backlog remains",
        "Backlog remains",
        "Data ingestion successful",
    ]
    keys = processed_keys()
    assert len(keys) == 25_000
    assert set(keys) == {r["unique_key"] for r in records}
    assert keys_under(PROCESSED, "processed/year=") == [
        "processed/year=2024/month=01/data.parquet",
        "processed/year=2024/month=02/data.parquet",
    ]
    # each run continues exactly after the last record written by the one before
    ordered = sorted(records, key=lambda r: (r["created_date"], r["unique_key"]))
    assert summaries[0]["cursor"] == {
        "created_date": ordered[9_999]["created_date"],
        "unique_key": ordered[9_999]["unique_key"],
    }
    assert summaries[1]["first_created_date"] == ordered[10_000]["created_date"]
    assert _checkpoint()["cursor"] == summaries[2]["cursor"]  # type: ignore[index]
    assert all("$offset" not in page for page in socrata.pages())
    assert {page["$limit"] for page in socrata.pages()} == {"2000"}
    # one overlap request (fewer than 2,000 rows in the window) + 5, 5 and 3 pages
    assert [s["overlap_rows"] < 2_000 for s in summaries] == [True] * 3
    assert [s["requests"] for s in summaries] == [6, 6, 4]
    assert all("X-App-Token" not in r["headers"] for r in socrata.requests)  # no token anywhere

    notes = [
        a.data
        for a in _artifacts(states[0].state_details.flow_run_id)
        if a.key == "nyc311-collector-notes"
    ]
    assert len(notes) == 1
    assert "Backlog remains: max_records (10,000) was reached" in notes[0]


def test_50_records_sharing_a_created_date_across_page_boundaries_are_collected_once(
    socrata: FakeSocrata,
) -> None:
    tie = "2024-02-01T00:00:00.000"
    before = _records_between(datetime(2024, 1, 31, 12), 30, timedelta(minutes=1))
    ties = [
        {"unique_key": str(key), "created_date": tie, "status": "Open"}
        for key in range(9_999_975, 10_000_025)  # text order differs from numeric order here
    ]
    after = _records_between(datetime(2024, 2, 1, 8), 20, timedelta(minutes=1))
    for i, r in enumerate(after):
        r["unique_key"] = str(2000 + i)
    socrata.dataset.add(*before, *ties, *after)
    _start_incremental_after("2024-01-01T00:00:00.000")

    summary = _summary(page_size=20)

    keys = processed_keys()
    assert sorted(keys) == sorted(r["unique_key"] for r in before + ties + after)
    assert len(keys) == len(set(keys)) == 100
    assert summary["requests"] == 7  # 1 overlap re-read, 5 full pages, 1 empty page ends it
    tie_rows = [k for k in keys if k in {t["unique_key"] for t in ties}]
    assert tie_rows == sorted(tie_rows)  # stored in the server's (text) order


def test_records_published_mid_run_are_never_duplicated(socrata: FakeSocrata) -> None:
    socrata.dataset.add(*_records_between(datetime(2024, 1, 10, 10), 35, timedelta(minutes=1)))
    late_behind = {"unique_key": "7", "created_date": "2024-01-10T10:05:30.000", "status": "Open"}
    early_ahead = {"unique_key": "8", "created_date": "2024-01-10T10:59:00.000", "status": "Open"}

    def publish(answers: int) -> None:
        if answers == 2:  # after the second page: one behind the cursor, one ahead of it
            socrata.dataset.add(late_behind, early_ahead)

    socrata.after_answer = publish
    _start_incremental_after("2024-01-01T00:00:00.000")

    first = _summary(page_size=10)
    assert first["records"] == 36  # the one ahead of the cursor is read in this run
    assert "7" not in processed_keys()

    socrata.after_answer = None
    second = _summary(page_size=10)  # the overlap re-read finds the late one
    assert (second["records"], second["inserted"]) == (0, 1)
    keys = processed_keys()
    assert len(keys) == len(set(keys)) == 37


def test_a_changed_record_replaces_its_stored_version(socrata: FakeSocrata) -> None:
    socrata.dataset.add(*_records_between(datetime(2024, 1, 10, 10), 5, timedelta(minutes=1)))
    _start_incremental_after("2024-01-01T00:00:00.000")
    _summary()
    socrata.dataset.update("1004", status="Closed")  # inside the overlap window
    summary = _summary()
    assert (summary["inserted"], summary["replaced"]) == (0, 5)
    rows = processed_table().select(["unique_key", "status"]).to_pylist()
    assert {"unique_key": "1004", "status": "Closed"} in rows
    assert len(rows) == 5


def test_429_with_retry_after_then_success(socrata: FakeSocrata) -> None:
    socrata.dataset.add(*_records_between(datetime(2024, 1, 10), 3, timedelta(hours=1)))
    socrata.script.append(Response("slow down", status=429, headers={"Retry-After": "1"}))
    _start_incremental_after("2024-01-01T00:00:00.000")
    summary = _summary()
    assert summary["records"] == 3
    # the overlap request got 429, waited, was repeated as is; then the page of new records
    assert len(socrata.requests) == 3
    assert socrata.requests[0]["args"] == socrata.requests[1]["args"]
    assert sorted(processed_keys()) == ["1000", "1001", "1002"]


def test_400_with_an_error_code_fails_the_run_with_it(socrata: FakeSocrata) -> None:
    body = '{"errorCode": "query.soql.no-such-column", "message": "No such column: created"}'
    socrata.script.append(Response(body, status=400, content_type="application/json"))
    _start_incremental_after("2024-01-01T00:00:00.000")
    before = _checkpoint()
    state = _run()
    assert state.is_failed()
    assert "query.soql.no-such-column" in state.message
    assert "No such column: created" in state.message
    assert len(socrata.requests) == 1  # fail fast: no retries of a refused query
    assert _checkpoint() == before


def test_an_html_page_instead_of_records_fails_at_once(socrata: FakeSocrata) -> None:
    socrata.script.append(Response("<html>maintenance</html>", content_type="text/html"))
    _start_incremental_after("2024-01-01T00:00:00.000")
    state = _run()
    assert state.is_failed()
    assert "invalid-json: the body is not JSON" in state.message
    assert len(socrata.requests) == 1  # a malformed payload is permanent: not retried


@pytest.mark.parametrize("crashing", ["merge_partition", "write_checkpoint"])
def test_a_crash_after_the_raw_write_then_a_rerun_leaves_no_duplicates(
    socrata: FakeSocrata, monkeypatch: pytest.MonkeyPatch, crashing: str
) -> None:
    records = generate_records(300, start=datetime(2024, 4, 1), days=20, burst=30)
    socrata.dataset.add(*records)
    open_keys = {r["unique_key"] for r in records if r["status"] in {"Open", "In Progress"}}

    @task(name=f"crashing-{crashing}")
    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the container was stopped")

    with monkeypatch.context() as patch:
        patch.setattr(flow_module, crashing, crash)
        state = _run(initial_lookback_days=90)
    assert state.is_failed()
    raw = keys_under(RAW, "raw/")
    assert len(raw) == 1
    assert _checkpoint() is None  # the checkpoint never moved

    summary = _summary(initial_lookback_days=90)  # the rerun: same initial load again
    keys = processed_keys()
    assert len(keys) == len(set(keys)) == len(open_keys)
    assert set(keys) == open_keys
    assert keys_under(RAW, "raw/") == raw  # same records, same content-named raw file
    assert summary["mode"] == "initial"
    assert _checkpoint()["cursor"] == {"created_date": "2024-06-01T00:00:00.000", "unique_key": ""}  # type: ignore[index]


@pytest.fixture
def token_from_env(monkeypatch: pytest.MonkeyPatch) -> str:
    token = "tok-S3cr3t-n0t-f0r-l0gs"
    monkeypatch.setenv("PIPELINES_SOCRATA_APP_TOKEN", token)
    return token


def test_the_token_is_sent_but_never_logged_or_published(
    socrata: FakeSocrata, token_from_env: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    socrata.dataset.add(*_records_between(datetime(2024, 1, 10), 3, timedelta(hours=1)))
    _start_incremental_after("2024-01-01T00:00:00.000")
    good = _run()
    socrata.script.append(Response('{"errorCode": "x", "message": "y"}', status=403))
    bad = _run()
    assert good.is_completed()
    assert bad.is_failed()
    assert {r["headers"].get("X-App-Token") for r in socrata.requests} == {token_from_env}

    seen: list[str] = [r.getMessage() for r in caplog.records] + [str(bad.message)]
    for state in (good, bad):
        run_id = state.state_details.flow_run_id
        seen += _api_logs(run_id)
        seen += [f"{a.data} {a.description}" for a in _artifacts(run_id)]
    seen.append(str(good.result()))
    assert len(seen) > 20
    assert not [text for text in seen if token_from_env in text]


def test_the_token_falls_back_to_a_prefect_secret_block(
    socrata: FakeSocrata, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.blocks.system import Secret

    monkeypatch.setenv("PIPELINES_SOCRATA_TOKEN_BLOCK", "nyc311-test-token")
    Secret(value="blk-t0ken").save("nyc311-test-token", overwrite=True)
    try:
        _start_incremental_after("2024-01-01T00:00:00.000")
        _summary()
    finally:
        Secret.delete("nyc311-test-token")
    assert socrata.requests[0]["headers"]["X-App-Token"] == "blk-t0ken"


def test_an_empty_day_says_no_new_data_and_keeps_the_cursor(socrata: FakeSocrata) -> None:
    _start_incremental_after("2024-01-01T00:00:00.000")
    summary = _summary()
    assert summary["message"] == "No new data available"
    assert (summary["records"], summary["raw_uri"], summary["partitions"]) == (0, None, [])
    checkpoint = _checkpoint()
    assert checkpoint is not None
    assert checkpoint["cursor"] == {"created_date": "2024-01-01T00:00:00.000", "unique_key": ""}
    assert checkpoint["last_run_timestamp"] == "2024-06-01T00:00:00"


def test_a_backfill_window_keeps_its_own_checkpoint(socrata: FakeSocrata) -> None:
    socrata.dataset.add(*_records_between(datetime(2024, 1, 10), 24, timedelta(hours=1)))
    _start_incremental_after("2024-05-01T00:00:00.000")
    summary = _summary(start=datetime(2024, 1, 10, 6), end=datetime(2024, 1, 10, 12))
    assert summary["mode"] == "backfill"
    assert summary["records"] == 7  # 06:00 to 12:00, both ends included
    assert summary["checkpoint_uri"] == (
        "s3://311-processed-data/pipeline_state/backfills/20240110T060000-20240110T120000.json"
    )
    assert _checkpoint()["cursor"]["created_date"] == "2024-05-01T00:00:00.000"  # type: ignore[index]
