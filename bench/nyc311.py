"""NYC 311 benchmark: keyset paging + month merges (this repo) vs the seed ($offset + append-only).

Both collectors read the same generated dataset from a local Socrata look-alike that sleeps
`--latency` seconds per request, write raw JSON and Parquet to in-process moto S3, and are then
judged by reading their Parquet back: rows written, unique keys, duplicates, and records missed.

The timeline (identical for both, four daily runs at 02:00, `max_records` 10,000, pages of 2,000):
- before run 1, `--records` requests created over the three previous days are published (a
  backlog larger than one run, the seed's own "busy day");
- during run 1, after its second request, 50 records are published back-dated into the first
  page's time range (what paging sees when records appear behind its position);
- between runs, 2,000 new requests per day are published, plus 100 *late* ones created in the
  two hours before the previous run (publication lag).
The seed's status filter is left out on both sides so that both mirror the same rows. This repo's
collector runs as the real Prefect flow (Prefect test server started before timing) and then once
more as a backfill of the whole period, the repair for records back-dated behind a cursor.

Run: `python -m bench.nyc311 [--records N] [--latency S]`. Targets: this collector loses and
duplicates nothing; the seed's losses are reported, not targeted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bench.common import Target, check, measure, peak_rss_mb, print_table

D0 = datetime(2024, 3, 1)
RUN_TIMES = tuple(D0 + timedelta(days=3 + i, hours=2) for i in range(4))
MAX_RECORDS = 10_000
PAGE = 2_000
RAW, PROCESSED = "311-raw-data", "311-processed-data"
COLUMNS = ("requests", "seconds", "rows", "files", "duplicates", "missed")
MERGE_COLUMNS = ("seconds", "rows", "inserted", "replaced", "mb", "peak_mb")


@dataclass
class Timeline:
    """What is published when; keys are unique across batches."""

    base: list[dict[str, Any]]
    back_dated: list[dict[str, Any]]
    between: list[list[dict[str, Any]]]  # published after run i (arrivals + late ones)

    def expected(self) -> set[str]:
        """Every record published (all are created before the last run)."""
        pool = self.base + self.back_dated + [r for batch in self.between for r in batch]
        return {r["unique_key"] for r in pool}


def make_timeline(records: int, seed: int) -> Timeline:
    """The benchmark's dataset and events (deterministic for a seed)."""
    from deployments.socrata_sample import generate_records, stamp

    def rekey(batch: list[dict[str, Any]], first: int) -> list[dict[str, Any]]:
        return [{**r, "unique_key": str(first + i)} for i, r in enumerate(batch)]

    base = rekey(generate_records(records, seed=seed, start=D0, days=3, burst=60), 30_000_000)
    first_page = sorted(r["created_date"] for r in base)[:PAGE]
    back_dated = [
        {**r, "created_date": first_page[(i * 37) % PAGE]}
        for i, r in enumerate(rekey(generate_records(50, seed=seed + 1, burst=0), 40_000_000))
    ]
    between = []
    for i, run_time in enumerate(RUN_TIMES[:-1]):
        arrivals = generate_records(2_000, seed=seed + 10 + i, start=run_time, days=1, burst=0)
        late = generate_records(100, seed=seed + 20 + i, start=run_time, days=1, burst=0)
        for j, r in enumerate(late):
            r["created_date"] = stamp(run_time - timedelta(hours=2) + timedelta(seconds=71 * j))
        between.append(rekey(arrivals + late, 50_000_000 + 1_000_000 * i))
    return Timeline(base, back_dated, between)


@dataclass
class Server:
    """The local Socrata look-alike with latency, a request counter and a mid-run event."""

    latency: float
    requests: int = 0
    on_request: Callable[[int], None] | None = None
    _stop: list[Any] = field(default_factory=list)

    def start(self, timeline: Timeline) -> Any:
        from deployments import sample_server
        from deployments.pipelines.nyc311 import sample_routes
        from deployments.socrata_sample import SocrataDataset

        self.dataset = SocrataDataset(timeline.base)
        (route,) = sample_routes(sample_server.SAMPLE_DATA, self.dataset)

        def slow(m: Any, q: dict[str, list[str]], base: str) -> Any:
            time.sleep(self.latency)
            reply = route.handler(m, q, base)
            self.requests += 1
            if self.on_request is not None:
                self.on_request(self.requests)
            return reply

        context = sample_server.serve(routes=[sample_server.Route(route.pattern, slow)])
        self._stop.append(context)
        return context.__enter__()

    def stop(self) -> None:
        for context in self._stop:
            context.__exit__(None, None, None)


def _isolate() -> None:
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PREFECT_HOME": tempfile.mkdtemp(prefix="bench-nyc311-"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PIPELINES_SOCRATA_APP_TOKEN": "bench",  # no Secret-block lookups
        }
    )
    for name in ("AWS_ENDPOINT_URL", "PREFECT_API_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)


def _judge(timeline: Timeline, seconds: float, requests: int) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tasks.common import s3

    keys: list[str] = []
    files = 0
    for obj in s3.list_objects(PROCESSED, "processed/"):
        if obj.key.endswith(".parquet"):
            files += 1
            body = s3.get_bytes(PROCESSED, obj.key) or b""
            table = pq.read_table(pa.BufferReader(body), columns=["unique_key"])
            keys += [str(k) for k in table["unique_key"].to_pylist()]
    expected = timeline.expected()
    return {
        "seconds": seconds,
        "requests": requests,
        "rows": len(keys),
        "files": files,
        "duplicates": len(keys) - len(set(keys)),
        "missed": len(expected - set(keys)),
        "expected": len(expected),
        "peak_mb": peak_rss_mb(),
    }


def _publish_hook(server: Server, timeline: Timeline) -> Callable[[int], None]:
    def hook(count: int) -> None:
        if count == 2:  # during run 1, after its second request
            server.dataset.add(*timeline.back_dated)

    return hook


# --- the seed's algorithm -------------------------------------------------------------------


def seed_run(base_url: str, last_run: datetime, run_time: datetime) -> list[dict[str, Any]]:
    """The seed's fetch: created_date in (last run + 1 s, run time], `$offset` pages by date."""
    import requests

    start = (last_run + timedelta(seconds=1)).isoformat()
    where = f"created_date > '{start}' AND created_date <= '{run_time.isoformat()}'"
    fetched: list[dict[str, Any]] = []
    while len(fetched) < MAX_RECORDS:
        limit = min(PAGE, MAX_RECORDS - len(fetched))
        params = {"$where": where, "$order": "created_date ASC", "$limit": str(limit)}
        params["$offset"] = str(len(fetched))
        page = requests.get(f"{base_url}/resource/erm2-nwe9.json", params=params, timeout=60)
        page.raise_for_status()
        rows = page.json()
        fetched += rows
        if len(rows) < limit:
            break
    return fetched


def seed_store(records: list[dict[str, Any]], run_time: datetime) -> None:
    """Raw JSON per day and one more Parquet file per month per run (append-only)."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from tasks.common import s3

    day = run_time.strftime("%Y/%m/%d")
    s3.put_bytes(RAW, f"raw/{day}/data.json", json.dumps(records).encode(), content_type=s3.JSON)
    months: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        months.setdefault(r["created_date"][:7], []).append(r)
    for month, rows in months.items():
        sink = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pylist(rows), sink)
        key = f"processed/year={month[:4]}/month={month[5:]}/data_{run_time:%Y-%m-%d}.parquet"
        s3.put_bytes(PROCESSED, key, sink.getvalue().to_pybytes(), content_type=s3.PARQUET)


def run_seed(records: int, seed: int, latency: float) -> dict[str, Any]:
    """Four daily runs of the seed's design; returns the judged outcome."""
    _isolate()
    from moto import mock_aws

    from tasks.common import aws

    timeline = make_timeline(records, seed)
    server = Server(latency)
    with mock_aws():
        aws.s3().create_bucket(Bucket=RAW)
        aws.s3().create_bucket(Bucket=PROCESSED)
        sources = server.start(timeline)
        server.on_request = _publish_hook(server, timeline)
        last_run = D0 - timedelta(days=1)  # the seed's checkpoint: the previous run time
        started = time.perf_counter()
        for i, run_time in enumerate(RUN_TIMES):
            seed_store(seed_run(sources.base_url, last_run, run_time), run_time)
            last_run = run_time
            if i < len(timeline.between):  # published after run i
                server.dataset.add(*timeline.between[i])
        seconds = time.perf_counter() - started
        result = _judge(timeline, seconds, server.requests)
        server.stop()
    return result


def run_keyset(records: int, seed: int, latency: float) -> dict[str, Any]:
    """Four daily runs of this repo's flow, then a backfill of the period; judged outcome."""
    _isolate()
    from moto import mock_aws
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from flows.nyc311 import nyc311_collect
    from tasks.common import aws, s3

    timeline = make_timeline(records, seed)
    server = Server(latency)
    with (
        prefect_test_harness(server_startup_timeout=180),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        mock_aws(),
    ):
        aws.s3().create_bucket(Bucket=RAW)
        aws.s3().create_bucket(Bucket=PROCESSED)
        sources = server.start(timeline)
        os.environ["PIPELINES_SOCRATA_BASE_URL"] = sources.base_url
        start = D0 - timedelta(days=1)  # the same starting point as the seed's
        cursor = {"created_date": start.isoformat(timespec="milliseconds"), "unique_key": ""}
        checkpoint = {"version": 2, "cursor": cursor, "mode": "incremental", "backlog": False}
        s3.write_json(PROCESSED, "pipeline_state/last_run_timestamp.json", checkpoint)
        # `end` is inclusive: a run at time T collects what was created before T
        before = timedelta(milliseconds=1)
        nyc311_collect(end=start - before, max_records=1)  # warm Prefect up outside the timing
        server.requests = 0
        server.on_request = _publish_hook(server, timeline)
        started = time.perf_counter()
        for i, run_time in enumerate(RUN_TIMES):
            nyc311_collect(end=run_time - before, max_records=MAX_RECORDS, page_size=PAGE)
            if i < len(timeline.between):
                server.dataset.add(*timeline.between[i])
        daily = _judge(timeline, time.perf_counter() - started, server.requests)
        repair = nyc311_collect(
            start=D0, end=RUN_TIMES[-1] - before, max_records=100_000, page_size=PAGE
        )
        daily["after_backfill"] = _judge(timeline, 0.0, server.requests)
        daily["backfill_inserted"] = repair["inserted"]
        server.stop()
    return daily


# --- the cost of merging into a month ------------------------------------------------------


def month_files(month_rows: int, new_rows: int, seed: int) -> tuple[bytes, bytes]:
    """A stored month of distinct generated requests, and a fetch: half updates, half new."""
    import pyarrow as pa

    from deployments.socrata_sample import generate_records
    from tasks.nyc311 import records_core

    records = generate_records(month_rows + new_rows // 2, seed=seed, days=28, burst=0)
    stored = records_core.parse_records(records[:month_rows]).table
    updates = [{**r, "status": "Closed"} for r in records[month_rows - new_rows // 2 : month_rows]]
    new = records_core.parse_records(updates + records[month_rows:]).table
    return records_core.to_parquet(stored), records_core.to_parquet(pa.table(new))


def merge_month(stored: bytes, new: bytes) -> dict[str, Any]:
    """What a month merge costs: read the stored file, merge, write the new file."""
    from tasks.nyc311 import records_core

    started = time.perf_counter()
    merged = records_core.merge(records_core.from_parquet(stored), records_core.from_parquet(new))
    body = merged.parquet()
    return {
        "seconds": time.perf_counter() - started,
        "rows": len(merged),
        "inserted": merged.inserted,
        "replaced": merged.replaced,
        "mb": len(body) / 1e6,
        "peak_mb": peak_rss_mb(),
    }


def run(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nyc311", description=__doc__)
    parser.add_argument("--records", type=int, default=25_000, help="backlog before run 1")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--seed", type=int, default=311)
    parser.add_argument("--month-rows", type=int, nargs="*", default=[50_000, 250_000])
    args, _unknown = parser.parse_known_args(list(argv))

    # the parent stays lean: data is made in children, and each child reports its own peak RSS
    seed = measure("seed", run_seed, args.records, args.seed, args.latency).result
    ours = measure("keyset", run_keyset, args.records, args.seed, args.latency).result
    fixed = ours["after_backfill"]
    rows = [
        ["seed: $offset, run-time checkpoint, append", seed, seed["peak_mb"]],
        ["this repo: keyset + overlap + month merge", ours, ours["peak_mb"]],
        ["this repo, after one backfill of the period", {**fixed, "seconds": "-"}, "-"],
    ]
    print(f"expected records: {seed['expected']:,} ({args.latency * 1000:.0f} ms per request)")
    print_table(
        ["approach", "requests", "seconds", "rows", "files", "duplicates", "missed", "RSS MB"],
        [[name, *(r[k] for k in COLUMNS), m] for name, r, m in rows],
    )

    merges: list[tuple[int, dict[str, Any]]] = []
    for n in args.month_rows:
        files = measure(f"month {n}", month_files, n, MAX_RECORDS, args.seed).result
        merges.append((n, measure(f"merge {n}", merge_month, *files).result))
        del files
    print(f"\nmerging {MAX_RECORDS:,} fetched rows (half updates) into a stored month file")
    print_table(
        ["month rows", "seconds", "rows after", "inserted", "replaced", "file MB", "peak RSS MB"],
        [[n, *(r[k] for k in MERGE_COLUMNS)] for n, r in merges],
    )
    month, biggest = merges[-1]
    return check(
        [
            Target("keyset: duplicates", ours["duplicates"], 0),
            Target("keyset: missed after the backfill", fixed["missed"], 0),
            Target("keyset: duplicates after the backfill", fixed["duplicates"], 0),
            Target(f"merge into a {month:,}-row month: seconds", biggest["seconds"], 10.0),
            Target(f"merge into a {month:,}-row month: peak RSS MB", biggest["peak_mb"], 1024.0),
        ]
    )


if __name__ == "__main__":
    import sys

    sys.exit(run(sys.argv[1:]))
