"""Fleet telemetry benchmark: ours vs the seed's row-by-row design vs DuckDB, same files, one run.

Files come from `tasks.telemetry.synthetic_core` (seeded): a fleet with depots around New York,
random-walk routes with plausible speeds, ~3 % bad rows (every reject code, plus rows with a
missing field), ~2 % duplicates. Sizes: 1,000,000 and 10,000,000 events (5,000 and 50,000
vehicles × 200 steps). They are written to `bench/out/telemetry/` (git-ignored) or `--out` and
reused when present.

Each engine runs in a fresh process (`bench.common.measure`; seconds from after its imports to
its last output, the whole process's peak RSS including imports) on the same file and vehicle
metadata, with no network, and produces the file flow's outputs:

- **ours**: `tasks.telemetry.local_io.run_local` — the file flow's processing (the same
  `FileProcessor` the flow runs): 8 MiB chunks parsed with explicit string types, validation in
  the contract's order, enrichment from the metadata document, distance, exact dedup (file key
  runs + Bloom filter), then the queue message bodies, the Snappy Parquet archive objects, the
  rejects rows and the per-day key sets — everything but the network calls.
- **row-by-row** (`bench/telemetry_rowwise.py`): the seed's design — a generator over the lines,
  per-row validation, metadata from a dict cache, `math` Haversine, a `hashlib` Bloom filter
  (dropping its false positives, as the seed does), one JSON document per event for SQS
  batches of 10, rows collected for Parquet.
- **DuckDB**: the same validation (reject codes in order), enrichment (join with the metadata),
  distance and dedup (first row per vehicle and instant) in SQL, writing the stored events as
  zstd Parquet and as JSON lines (the queue bodies' stand-in) and the rejects as CSV.

Every engine's stored / rejected / duplicate counts are checked against the generator's exact
expectation (the seed's Bloom filter may drop a few real events: shown, not failed).
Targets: ours ≥ 30x the row-by-row events/s, ≥ 0.5x DuckDB's, peak RSS ≤ 512 MB at both sizes.
Run: `python -m bench.telemetry [--sizes 1000000,10000000] [--out DIR]`.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import Target, check, measure, peak_rss_mb, print_table

OUT = Path(__file__).resolve().parent / "out" / "telemetry"
NOW_MS = 1_800_000_000_000  # processing time: after the generated events, before the "future"
STEPS = 200
SIZES = (1_000_000, 10_000_000)
CHUNK_BYTES = 8 << 20


# --- the three engines (top-level functions: they run in spawned processes) --------------------


def run_ours(path: str, metadata: str, chunk_bytes: int = CHUNK_BYTES) -> dict[str, Any]:
    from tasks.telemetry.local_io import file_chunks, run_local

    started = time.perf_counter()  # after the imports, like every engine
    result = run_local(
        file_chunks(Path(path)),
        Path(metadata).read_bytes(),
        now_ms=NOW_MS,
        chunk_bytes=chunk_bytes,
        keep=False,
    )
    totals = result.totals
    return {
        "seconds": time.perf_counter() - started,
        "rows": totals.rows,
        "stored": totals.stored,
        "duplicates": totals.duplicates,
        "rejected": totals.rejected_total,
        "messages": sum(totals.messages.values()),
        "peak_mb": peak_rss_mb(),
    }


def run_rowwise(path: str, metadata: str) -> dict[str, Any]:
    from bench import telemetry_rowwise

    started = time.perf_counter()
    doc = json.loads(Path(metadata).read_text())
    result = telemetry_rowwise.process(
        Path(path), doc, NOW_MS, keep_events=False, exact=False, expected_rows=STEPS * len(doc)
    )
    return {
        "seconds": time.perf_counter() - started,
        "rows": result.rows_in,
        "stored": result.stored_total,
        "duplicates": result.duplicates,
        "rejected": len(result.rejects),
        "messages": sum(result.messages.values()),
        "peak_mb": peak_rss_mb(),
    }


DUCKDB_SQL = r"""
CREATE TEMP TABLE meta AS
SELECT key AS vehicle_id,
       CAST(json_extract(value, '$.max_speed') AS DOUBLE) AS max_speed,
       CAST(json_extract(value, '$.depot_lat') AS DOUBLE) AS depot_lat,
       CAST(json_extract(value, '$.depot_lon') AS DOUBLE) AS depot_lon,
       value AS record
FROM (SELECT unnest(map_entries(CAST(j AS MAP(VARCHAR, JSON))), recursive := true)
      FROM (SELECT json(content) AS j FROM read_text('{metadata}')));

CREATE TEMP TABLE checked AS
WITH raw AS (
  SELECT row_number() OVER () + 1 AS line, *
  FROM read_csv('{path}', all_varchar = true, header = true, null_padding = true,
                strict_mode = false)
), parsed AS (
  SELECT line, vehicle_id, trim(timestamp) AS ts, trim(lat) AS lat_t, trim(lon) AS lon_t,
         trim(speed) AS speed_t, lower(trim(engine_status)) AS status,
         CASE
           WHEN regexp_full_match(trim(timestamp), '-?\d{{1,12}}')
             THEN make_timestamp(CAST(trim(timestamp) AS BIGINT) * 1000000)
           WHEN regexp_full_match(trim(timestamp),
             '\d{{4}}-\d{{2}}-\d{{2}}[Tt ]\d{{2}}:\d{{2}}:\d{{2}}([.,]\d{{1,9}})?'
             || '([Zz]|[+-]\d{{2}}(:?\d{{2}})?)')
             THEN CAST(try_cast(trim(timestamp) AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP)
         END AS instant,
         try_cast(trim(lat) AS DOUBLE) AS lat, try_cast(trim(lon) AS DOUBLE) AS lon,
         try_cast(trim(speed) AS DOUBLE) AS speed,
         try_cast(trim(heading) AS DOUBLE) AS heading,
         try_cast(trim(odometer) AS DOUBLE) AS odometer
  FROM raw
)
SELECT p.*, m.max_speed, m.depot_lat, m.depot_lon, m.record,
  CASE
    WHEN coalesce(trim(p.vehicle_id), '') = '' OR coalesce(p.ts, '') = ''
      OR coalesce(p.lat_t, '') = ''
      OR coalesce(p.lon_t, '') = '' OR coalesce(p.speed_t, '') = '' OR coalesce(p.status, '') = ''
      THEN 'missing_field'
    WHEN p.instant IS NULL OR p.instant < TIMESTAMP '1900-01-01' THEN 'bad_timestamp'
    WHEN p.instant > make_timestamp({now_ms} * 1000 + 300000000) THEN 'future_timestamp'
    WHEN isfinite(p.lat) AND abs(p.lat) > 90 THEN 'lat_out_of_range'
    WHEN isfinite(p.lon) AND abs(p.lon) > 180 THEN 'lon_out_of_range'
    WHEN p.lat IS NULL OR p.lon IS NULL OR p.speed IS NULL
      OR NOT isfinite(p.lat) OR NOT isfinite(p.lon) OR NOT isfinite(p.speed) THEN 'bad_number'
    WHEN p.speed < 0 THEN 'negative_speed'
    WHEN p.status NOT IN ('moving', 'idle', 'off') THEN 'bad_engine_status'
    WHEN m.vehicle_id IS NULL THEN 'unknown_vehicle'
    WHEN p.speed > m.max_speed THEN 'over_max_speed'
  END AS reason
FROM parsed p LEFT JOIN meta m ON p.vehicle_id = m.vehicle_id;

CREATE TEMP TABLE stored AS
SELECT vehicle_id, strftime(instant, '%Y-%m-%dT%H:%M:%S.%gZ') AS timestamp, instant, lat, lon,
       speed, status AS engine_status,
       round(2 * 6371.0088 * asin(sqrt(
         pow(sin(radians(depot_lat - lat) / 2), 2)
         + cos(radians(lat)) * cos(radians(depot_lat)) * pow(sin(radians(depot_lon - lon) / 2), 2)
       )), 3) AS distance_from_depot_km,
       heading, odometer, record, line
FROM checked
WHERE reason IS NULL
QUALIFY row_number() OVER (PARTITION BY vehicle_id, epoch_ms(instant) ORDER BY line) = 1;

COPY (SELECT * EXCLUDE (record) FROM stored)
  TO '{out}/archive.parquet' (FORMAT parquet, COMPRESSION zstd);
COPY (SELECT * EXCLUDE (instant) FROM stored) TO '{out}/events.jsonl' (FORMAT json);
COPY (SELECT line, reason FROM checked WHERE reason IS NOT NULL) TO '{out}/rejects.csv' (HEADER);
"""


def run_duckdb(path: str, metadata: str) -> dict[str, Any]:
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    with tempfile.TemporaryDirectory(prefix="bench-telemetry-duckdb-") as out:
        # constant SQL with quoted local paths: nothing untrusted reaches it
        sql = DUCKDB_SQL.format(
            path=path.replace("'", "''"),
            metadata=metadata.replace("'", "''"),
            out=out,
            now_ms=NOW_MS,
        )
        for statement in (s for s in sql.split(";\n") if s.strip()):
            con.execute(statement)
        counts = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE reason IS NOT NULL),"
            " count(*) FILTER (WHERE reason IS NULL) FROM checked"
        ).fetchone()
        stored = con.execute("SELECT count(*) FROM stored").fetchone()
    assert counts is not None
    assert stored is not None
    rows, rejected, valid = (int(c) for c in counts)
    return {
        "seconds": time.perf_counter() - started,
        "rows": rows,
        "stored": int(stored[0]),
        "duplicates": valid - int(stored[0]),
        "rejected": rejected,
        "messages": int(stored[0]),
        "peak_mb": peak_rss_mb(),
    }


# --- files -------------------------------------------------------------------------------------


def generate(path: str, metadata: str, rows: int, seed: int = 11) -> dict[str, Any]:
    """Write the synthetic file and its metadata (in a child process); its exact expectation."""
    from tasks.telemetry.synthetic_core import generate as generate_rows
    from tasks.telemetry.synthetic_core import make_fleet

    fleet = make_fleet(max(1, rows // STEPS), seed=seed)
    Path(metadata).write_text(json.dumps(fleet.document))
    blocks, expected = generate_rows(fleet, STEPS, seed=seed, block_steps=10)
    with Path(path).open("wb") as handle:
        for block in blocks:
            handle.write(block)
    return {
        "rows": expected.rows,
        "stored": expected.stored,
        "duplicates": expected.duplicates,
        "rejected": sum(expected.rejected.values()),
        "rejected_by_code": expected.rejected,
        "bytes": Path(path).stat().st_size,
    }


def ensure_file(directory: Path, rows: int) -> tuple[Path, Path, dict[str, Any]]:
    """The synthetic file of ~`rows` events (reused when present) and its expectation."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"fleet_{rows}.csv"
    metadata = directory / f"fleet_{rows}_metadata.json"
    meta = directory / f"fleet_{rows}.json"
    if path.exists() and meta.exists() and metadata.exists():
        saved: dict[str, Any] = json.loads(meta.read_text())
        if saved.get("bytes") == path.stat().st_size:
            return path, metadata, saved
    print(f"generating {path} ({rows:,} events)...", flush=True)
    expected: dict[str, Any] = measure("generate", generate, str(path), str(metadata), rows).result
    meta.write_text(json.dumps(expected))
    return path, metadata, expected


def run(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.telemetry", description=__doc__)
    parser.add_argument(
        "--sizes", default=",".join(str(s) for s in SIZES), help="events per file, comma-separated"
    )
    parser.add_argument("--out", type=Path, default=OUT, help="where generated files go")
    args, _unknown = parser.parse_known_args(list(argv))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")

    table: list[list[Any]] = []
    targets: list[Target] = []
    notes: list[str] = []
    for rows in sizes:
        path, metadata, expected = ensure_file(args.out, rows)
        label = f"{expected['rows']:,} events"
        engines = (("ours", run_ours), ("duckdb", run_duckdb), ("row-by-row", run_rowwise))
        runs = {name: measure(name, fn, str(path), str(metadata)) for name, fn in engines}
        for name, m in runs.items():
            got = {k: m.result[k] for k in ("rows", "stored", "duplicates", "rejected")}
            want = {k: expected[k] for k in got}
            if got != want:
                lost = want["stored"] - got["stored"]
                notes.append(
                    f"{name} on {label}: {got} (expected {want})"
                    + (f": {lost} real events dropped" if name == "row-by-row" else "")
                )
            seconds = m.result["seconds"]
            table.append([label, name, seconds, expected["rows"] / seconds, m.result["peak_mb"]])
        ours, duck, rowwise = (runs[k].result["seconds"] for k in ("ours", "duckdb", "row-by-row"))
        targets += [
            Target(
                f"{label}: ours / row-by-row events/s", rowwise / ours, 30.0, higher_is_better=True
            ),
            Target(f"{label}: ours / DuckDB events/s", duck / ours, 0.5, higher_is_better=True),
            Target(f"{label}: ours peak RSS MB", runs["ours"].result["peak_mb"], 512.0),
        ]
    print_table(["file", "engine", "seconds", "events/s", "peak RSS MB"], table)
    wrong = [n for n in notes if not n.startswith("row-by-row")]
    for note in notes:
        print(("WRONG COUNTS  " if note in wrong else "NOTE  ") + note)
    return check(targets) or (1 if wrong else 0)


if __name__ == "__main__":
    import sys

    sys.exit(run(sys.argv[1:]))
