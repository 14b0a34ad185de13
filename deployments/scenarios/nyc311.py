"""Demo scenario for the NYC 311 collector, offline against the sample Socrata endpoint.

The sample server publishes 3,000 generated requests created 2024-01-01 → 2024-02-29. Five runs:
1. initial load as of 2024-02-15 (Open / In Progress of the last 45 days) capped at 300 →
   it stops with a backlog warning;
2. the same again: it continues exactly after its cursor and completes the initial load;
3. incremental as of 2024-03-01: every new request since, all statuses;
4. incremental again: "No new data available" (the overlap re-read finds nothing new);
5. a backfill of January (every status), which merges into the months already stored.
Then the processed dataset is read back: it must hold each unique_key once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from deployments.demo import DemoRow
from deployments.local_stack import LocalStack

RUNS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "initial (capped)",
        {"end": datetime(2024, 2, 15), "initial_lookback_days": 45, "max_records": 300},
    ),
    ("initial (continued)", {"end": datetime(2024, 2, 15), "max_records": 1_000}),
    ("incremental", {"end": datetime(2024, 3, 1)}),
    ("incremental again", {"end": datetime(2024, 3, 1)}),
    ("backfill 2024-01", {"start": datetime(2024, 1, 1), "end": datetime(2024, 2, 1)}),
)


def run(stack: LocalStack) -> list[DemoRow]:
    """Run the collector five times on the local stack; check the processed dataset."""
    from flows.nyc311 import nyc311_collect

    rows: list[DemoRow] = []
    for label, params in RUNS:
        state = nyc311_collect(page_size=500, **params, return_state=True)
        summary: dict[str, Any] = dict(state.result()) if state.is_completed() else {}
        message = str(summary.get("message", state.message or "")).split(";")[0]
        rows.append(
            DemoRow(
                "nyc311",
                f"{label}: {message}",
                state.name or "-",
                objects=len(summary.get("partitions", [])) + (1 if summary.get("raw_uri") else 0),
                items=int(summary.get("inserted", 0)),
                rejects=int(summary.get("rejected", 0)),
                where=str(summary.get("raw_uri") or summary.get("checkpoint_uri") or "-"),
            )
        )
    total, unique = _processed_counts()
    if total != unique:
        raise RuntimeError(f"processed dataset has {total - unique} duplicate unique_key(s)")
    print(f"  processed dataset: {total:,} rows, {unique:,} unique keys")
    return rows


def _processed_counts() -> tuple[int, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tasks.common import aws, s3
    from tasks.common.settings import get_settings

    bucket = get_settings().nyc311_processed_bucket
    pages = aws.s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="processed/")
    keys: list[Any] = []
    for page in pages:
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".parquet"):
                body = s3.get_bytes(bucket, obj["Key"]) or b""
                keys += pq.read_table(pa.BufferReader(body), columns=["unique_key"])[
                    "unique_key"
                ].to_pylist()
    return len(keys), len(set(keys))
