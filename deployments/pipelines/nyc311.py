"""NYC 311 collector: declaration, demo scenario and the offline Socrata sample.

The sample server publishes 3,000 generated requests created 2024-01-01 → 2024-02-29
(`deployments/socrata_sample.py`). The demo runs the collector five times:
1. initial load through 2024-02-14 (Open / In Progress of the last 45 days) capped at 300 →
   it stops with a backlog warning;
2. the same again: it continues exactly after its cursor and completes the initial load;
3. incremental through 2024-02-29: every new request since, all statuses;
4. incremental again: "No new data available" (the overlap re-read finds nothing new);
5. a backfill of January (every status), which merges into the months already stored.
Then the processed dataset is read back: it must hold each unique_key once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployments.registry import Deployment, FlowSpec, Pipeline, Schedule

if TYPE_CHECKING:
    from deployments.demo import DemoRow
    from deployments.local_stack import LocalStack
    from deployments.sample_server import Route
    from deployments.socrata_sample import SocrataDataset

# `start` and `end` are inclusive New York days.
RUNS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "initial (capped)",
        {"end": date(2024, 2, 14), "initial_lookback_days": 45, "max_records": 300},
    ),
    ("initial (continued)", {"end": date(2024, 2, 14), "max_records": 1_000}),
    ("incremental", {"end": date(2024, 2, 29)}),
    ("incremental again", {"end": date(2024, 2, 29)}),
    ("backfill 2024-01", {"start": date(2024, 1, 1), "end": date(2024, 1, 31)}),
)


def demo(stack: LocalStack) -> list[DemoRow]:
    """Run the collector five times on the local stack; check the processed dataset."""
    from deployments.demo import DemoRow
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

    from tasks.common import s3
    from tasks.common.settings import get_settings

    bucket = get_settings().nyc311_processed_bucket
    keys: list[Any] = []
    for obj in s3.list_objects(bucket, "processed/"):
        if obj.key.endswith(".parquet"):
            body = s3.get_bytes(bucket, obj.key) or b""
            table = pq.read_table(pa.BufferReader(body), columns=["unique_key"])
            keys += table["unique_key"].to_pylist()
    return len(keys), len(set(keys))


def sample_routes(_data_dir: Path, dataset: SocrataDataset | None = None) -> list[Route]:
    """`/resource/<dataset_id>.json` over a generated 311 dataset (default: the sample)."""
    from deployments import socrata_sample
    from deployments.sample_server import Reply, Route

    data = dataset or socrata_sample.SocrataDataset(socrata_sample.generate_records())
    dataset_id = socrata_sample.SAMPLE_DATASET_ID

    def resource(m: re.Match[str], query: dict[str, list[str]], _base: str) -> Reply:
        if m.group("dataset") != dataset_id:
            body = {"errorCode": "not_found", "message": f"Dataset {m.group('dataset')} not found"}
            return Reply(404, json.dumps(body).encode(), "application/json")
        answer = data.answer(query)
        return Reply(answer.status, answer.body, "application/json")

    pattern = re.compile(r"/resource/(?P<dataset>[A-Za-z0-9]{4}-[A-Za-z0-9]{4})\.json")
    return [Route(pattern, resource)]


def sample_env(base_url: str) -> Mapping[str, str]:
    """Settings that point the collector at the sample-source server."""
    return {"PIPELINES_SOCRATA_BASE_URL": base_url}


PIPELINE = Pipeline(
    name="nyc311",
    title="NYC 311 collector",
    summary="Socrata `erm2-nwe9` (keyset pages, checkpoint) → raw JSON `s3://311-raw-data/raw/…` "
    "+ month Parquet `s3://311-processed-data/processed/year=/month=/`",
    flows=(
        FlowSpec(
            "nyc311",
            "flows/nyc311.py:nyc311_collect",
            "NYC 311 requests from Socrata since the keyset checkpoint → raw JSON + month Parquet",
        ),
    ),
    # Both deployments write the same month files; merges are conditional puts (If-Match), so an
    # overlap of the two is safe, just wasteful. A month merge holds one month in memory (~0.6 GB
    # process peak for a 250k-row month, bench/nyc311.py): give ECS tasks 2 GB.
    deployments=(
        Deployment(
            "nyc311-daily",
            "nyc311",
            "New 311 service requests since the keyset checkpoint, daily at 02:00 New York (the "
            "seed's schedule); up to 10,000 per run, a backlog continues on the next run.",
            parameters={"max_records": 10000, "page_size": 2000},
            schedules=(Schedule("0 2 * * *", "America/New_York"),),
            concurrency_limit=1,
            tags=("nyc311", "incremental"),
        ),
        Deployment(
            "nyc311-initial-or-backfill",
            "nyc311",
            "Manual: force_initial_load=true restarts the collection with an initial load (Open / "
            "In Progress of the last initial_lookback_days); start/end (NYC time) backfill a "
            "window of every status with its own checkpoint; re-run the same window until no "
            "backlog remains.",
            parameters={
                "max_records": 10000,
                "page_size": 2000,
                "force_initial_load": False,
                "initial_lookback_days": 365,
            },
            concurrency_limit=1,
            tags=("nyc311", "backfill"),
        ),
    ),
    role="Nyc311Role",
    settings_prefixes=("nyc311_", "socrata_"),
    demo=demo,
    sample_routes=sample_routes,
    sample_env=sample_env,
    docs="docs/nyc311.md",
)
