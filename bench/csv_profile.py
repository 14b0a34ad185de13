"""CSV profiling benchmark: our streaming profiler vs DuckDB vs pandas chunked, same files and run.

Files come from `tasks.csv_profile.synthetic_io` (seeded; 5 columns id/name/amount/age/signup_date
with `N/A`, `abc` and `not a date` injected at 0.1 % each): 2,000,000 rows (~69 MB) always, and
a file of `--size-gb` GB (~30 M rows per GB) when asked. They are written to `bench/out/`
(git-ignored) or `--out`, and reused when present with the same size.

Each engine runs in a fresh process (`bench.common.measure`: wall seconds inside the function,
peak RSS of the whole process including imports) and computes the same profile facts per column:
missing (null tokens), values that parse as int / float / date, min/max/avg of the numbers.

- ours: exactly what `pipelines profile-csv FILE` runs (`local_io.profile_file`: the file read
  in 1 MiB chunks, as an S3 body is, its MD5 computed on the way, the summary document built
  and serialised), which also does type inference, examples, distinct counts, ragged rows,
  encoding checks and the unclosed-quote scan;
- DuckDB: `read_csv(all_varchar=true)` + per column: null-token count, `try_cast` counts to
  BIGINT/DOUBLE/DATE, min/max/avg, approximate distinct (the same facts; the target's baseline);
- DuckDB lean (reference only): numeric `try_cast` counts + min/max/avg, the peers' lighter query;
- pandas: `read_csv(dtype=str, chunksize=…)` + `to_numeric(errors="coerce")` per chunk.

Targets: within 2x of DuckDB's time, >= 5x faster than pandas chunked, < 512 MB peak RSS on the
largest file. Run: `python -m bench.csv_profile [--size-gb 1] [--out DIR]`.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import Target, check, measure, peak_rss_mb, print_table

OUT = Path(__file__).resolve().parent / "out" / "csv_profile"
BYTES_PER_ROW = 34.6  # of the synthetic files (69.2 MB for 2 M rows)
COLUMNS = ("id", "name", "amount", "age", "signup_date")
NULLS = ("", "NA", "N/A", "null", "NULL", "None", "nan", "NaN", "-")


# --- the three engines (top-level functions: they run in spawned processes) ---------------------


def run_ours(path: str) -> dict[str, Any]:
    """What `pipelines profile-csv FILE` does: `local_io.profile_file` (the streaming profile,
    the file's MD5, the summary document) and the summary's JSON bytes."""
    from tasks.csv_profile.local_io import profile_file
    from tasks.csv_profile.options_io import options_from_settings
    from tasks.csv_profile.summary_core import summary_json

    summary = profile_file(Path(path), options_from_settings())
    text = summary_json(summary)
    issues = summary["quality_issues"]
    return {
        "rows": summary["row_count"],
        "amount_missing": issues["missing_values"].get("amount", {}).get("count", 0),
        "age_invalid": issues["invalid_values"].get("age", {}).get("count", 0),
        "date_invalid": issues["invalid_values"].get("signup_date", {}).get("count", 0),
        "types": summary["schema"],
        "md5": summary["source"]["etag"],
        "summary_bytes": len(text),
        "peak_mb": peak_rss_mb(),
    }


def run_duckdb(path: str) -> dict[str, Any]:
    nulls = ", ".join("'" + n.replace("'", "''") + "'" for n in NULLS)
    parts = ["count(*) AS rows"]
    for c in COLUMNS:
        v = f'trim("{c}")'
        parts += [
            f"count(*) FILTER (WHERE {v} IN ({nulls})) AS {c}_missing",
            f"count(try_cast({v} AS BIGINT)) AS {c}_int",
            f"count(try_cast({v} AS DOUBLE)) AS {c}_float",
            f"count(try_cast({v} AS DATE)) AS {c}_date",
            f"min(try_cast({v} AS DOUBLE)) AS {c}_min",
            f"max(try_cast({v} AS DOUBLE)) AS {c}_max",
            f"avg(try_cast({v} AS DOUBLE)) AS {c}_avg",
            f"approx_count_distinct({v}) AS {c}_distinct",
        ]
    got = _duckdb_select(path, parts)
    return {
        "rows": got["rows"],
        "amount_missing": got["amount_missing"],
        "age_invalid": got["rows"] - got["age_int"],
        "date_invalid": got["rows"] - got["signup_date_date"],
        "peak_mb": peak_rss_mb(),
    }


def run_duckdb_lean(path: str) -> dict[str, Any]:
    """The peers' lighter DuckDB query (numeric try_cast counts + min/max/avg only): it answers
    less (no missing values, no dates, no distinct, no trimming), shown for reference."""
    parts = ["count(*) AS rows"]
    for c in COLUMNS:
        # nullif: DuckDB 2.0 pushes a bare try_cast into the all_varchar scan and then fails
        # on the first non-number ("Could not convert string 'frank' to DOUBLE").
        v = f"nullif(\"{c}\", '')"
        parts += [
            f"count(try_cast({v} AS DOUBLE)) AS {c}_float",
            f"min(try_cast({v} AS DOUBLE)) AS {c}_min",
            f"max(try_cast({v} AS DOUBLE)) AS {c}_max",
            f"avg(try_cast({v} AS DOUBLE)) AS {c}_avg",
        ]
    return {"rows": _duckdb_select(path, parts)["rows"], "peak_mb": peak_rss_mb()}


def _duckdb_select(path: str, parts: list[str]) -> dict[str, Any]:
    """`SELECT <parts> FROM read_csv(path, all_varchar)` as {column alias: value}."""
    import duckdb

    # constant column names and a quoted path: nothing untrusted reaches the SQL
    source = path.replace("'", "''")
    select = ", ".join(parts)
    query = f"SELECT {select} FROM read_csv('{source}', all_varchar=true, header=true)"  # noqa: S608
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    cursor = con.execute(query)
    row = cursor.fetchone() or ()
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


def run_pandas(path: str, chunksize: int = 500_000) -> dict[str, Any]:
    import pandas as pd

    totals: dict[str, float] = {"rows": 0}
    for chunk in pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=chunksize):
        totals["rows"] += len(chunk)
        for c in COLUMNS:
            values = chunk[c].str.strip()
            missing = values.isin(NULLS)
            numbers = pd.to_numeric(values, errors="coerce")
            dates = pd.to_datetime(values, format="%Y-%m-%d", errors="coerce")
            totals[f"{c}_missing"] = totals.get(f"{c}_missing", 0) + int(missing.sum())
            totals[f"{c}_float"] = totals.get(f"{c}_float", 0) + int(numbers.notna().sum())
            totals[f"{c}_date"] = totals.get(f"{c}_date", 0) + int(dates.notna().sum())
            totals[f"{c}_sum"] = totals.get(f"{c}_sum", 0.0) + float(numbers.sum())
            low, high = numbers.min(), numbers.max()
            if pd.notna(low):
                totals[f"{c}_min"] = min(totals.get(f"{c}_min", low), low)
                totals[f"{c}_max"] = max(totals.get(f"{c}_max", high), high)
    rows = int(totals["rows"])
    return {
        "rows": rows,
        "amount_missing": int(totals["amount_missing"]),
        "age_invalid": rows - int(totals["age_float"]),
        "date_invalid": rows - int(totals["signup_date_date"]),
        "peak_mb": peak_rss_mb(),
    }


# --- driver -------------------------------------------------------------------------------------


def generate(path: str, rows: int) -> dict[str, int]:
    """Write the synthetic file (in a child process: the driver stays small); its counts."""
    from tasks.csv_profile.synthetic_io import write_csv

    injected = write_csv(Path(path), rows, seed=4)
    return {k: v for k, v in injected.__dict__.items() if isinstance(v, int)}


def ensure_file(directory: Path, rows: int) -> tuple[Path, dict[str, int]]:
    """The synthetic file of `rows` rows (reused if already generated) and its exact counts."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"synthetic_{rows}.csv"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        saved: dict[str, int] = json.loads(meta.read_text())
        if saved.get("bytes") == path.stat().st_size:
            return path, saved
    print(f"generating {path} ({rows:,} rows)...", flush=True)
    counts: dict[str, int] = measure("generate", generate, str(path), rows).result
    meta.write_text(json.dumps(counts))
    return path, counts


def run(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.csv_profile", description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows of the base file")
    parser.add_argument("--size-gb", type=float, default=0.0, help="also a file of this size")
    parser.add_argument("--out", type=Path, default=OUT, help="where generated files go")
    args, _unknown = parser.parse_known_args(list(argv))

    files = [ensure_file(args.out, args.rows)]
    if args.size_gb > 0:
        files.append(ensure_file(args.out, int(args.size_gb * 1e9 / BYTES_PER_ROW)))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")

    table: list[list[Any]] = []
    targets: list[Target] = []
    wrong: list[str] = []
    for path, injected in files:
        expected = {
            k: injected[k] for k in ("rows", "amount_missing", "age_invalid", "date_invalid")
        }
        size_mb = path.stat().st_size / 1e6
        engines = (
            ("ours", run_ours),
            ("duckdb", run_duckdb),
            ("duckdb-lean", run_duckdb_lean),
            ("pandas", run_pandas),
        )
        runs = {name: measure(name, fn, str(path)) for name, fn in engines}
        for name, m in runs.items():
            counts = {k: m.result[k] for k in expected if k in m.result}
            if counts != {k: expected[k] for k in counts}:
                wrong.append(f"{name} on {path.name}: {counts} != {expected}")
            table.append(
                [
                    path.name,
                    f"{size_mb:,.0f} MB",
                    name,
                    m.seconds,
                    m.seconds / runs["duckdb"].seconds,
                    size_mb / m.seconds,
                    m.result["peak_mb"],
                ]
            )
        ours, duck, pandas = runs["ours"], runs["duckdb"], runs["pandas"]
        label = f"{size_mb:,.0f} MB"
        targets += [
            Target(f"{label}: ours / DuckDB time", ours.seconds / duck.seconds, 2.0),
            Target(
                f"{label}: pandas chunked / ours time",
                pandas.seconds / ours.seconds,
                5.0,
                higher_is_better=True,
            ),
        ]
    targets.append(Target(f"{label}: ours peak RSS MB", ours.result["peak_mb"], 512.0))
    print_table(["file", "size", "engine", "seconds", "x DuckDB", "MB/s", "peak RSS MB"], table)
    for line in wrong:
        print(f"WRONG COUNTS  {line}")
    return check(targets) or (1 if wrong else 0)


if __name__ == "__main__":
    import sys

    sys.exit(run(sys.argv[1:]))
