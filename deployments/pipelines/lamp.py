"""Transit performance (LAMP): declaration, demo scenario and offline sample sources.

Demo, offline, on the real 2024-02-07 sample:
1. ingest 2024-02-07 (sample server → GTFS cache built → per-stop CSVs in moto's S3);
2. the same day again: every stop file unchanged, nothing rewritten;
3. a backfill dry run over 2024-02-05..2024-02-08: only the sample day is published, and it is
   unchanged since step 1, so the plan ingests nothing;
4. a forced backfill of that range: one day run (a subflow), the other days not in the index.
"""

from __future__ import annotations

import csv
import io
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

SAMPLE_DAY = date(2024, 2, 7)
# The sample server's paths imitate performancedata.mbta.com and cdn.mbta.com/archive.
LAMP_PREFIX = "/lamp/subway-on-time-performance-v1"
LAMP_SUFFIX = "-subway-on-time-performance-v1"
# A fixed publication time for the bundled LAMP files: index.csv's `last_modified` is what the
# backfill compares to decide whether a day changed, so it must not move between runs.
SAMPLE_LAST_MODIFIED = "2024-02-08T09:00:00Z"
# The deployment a backfill fans out to (one flow run per day, ECS tasks on the ECS pool).
DAY_DEPLOYMENT = "lamp-ingest-day/lamp-backfill-day"


def demo(stack: LocalStack) -> list[DemoRow]:
    """Run the LAMP flows on the sample data against the local stack."""
    from deployments.demo import DemoRow
    from flows.lamp import lamp_backfill, lamp_ingest_day
    from tasks.common.settings import get_settings

    settings = get_settings()
    where = f"s3://{settings.lamp_bucket}/Events-lamp/daily-data/"
    rows: list[DemoRow] = []
    for label in ("first run", "rerun"):
        state = lamp_ingest_day(service_date=SAMPLE_DAY, return_state=True)
        report: dict[str, Any] = dict(state.result()) if state.is_completed() else {}
        dropped = sum((report.get("rows_dropped") or {}).values()) + sum(
            (report.get("events_dropped") or {}).values()
        )
        written, unchanged = report.get("stops_written", 0), report.get("stops_unchanged", 0)
        outcome = f"{written} stop files written, {unchanged} unchanged"
        rows.append(
            DemoRow(
                "lamp",
                f"lamp-ingest-day {SAMPLE_DAY} ({label}: {outcome})",
                state.name or "",
                objects=int(written),
                items=int(report.get("events_written", 0)),
                rejects=dropped,
                where=where,
            )
        )
    window = {"start": date(2024, 2, 5), "end": date(2024, 2, 8)}
    for label, params in (
        ("dry run", {"dry_run": True}),
        ("forced", {"force": True, "max_concurrency": 2}),
    ):
        backfill_state = lamp_backfill(**window, **params, return_state=True)
        report = dict(backfill_state.result()) if backfill_state.is_completed() else {}
        runs = report.get("runs") or {}
        if report.get("dry_run"):
            detail = (
                f"{report['ingest']} to ingest, {report['unchanged']} unchanged,"
                f" {report['not_in_index']} not published"
            )
        else:
            detail = ", ".join(f"{n} {k}" for k, n in runs.items()) or "nothing to run"
        rows.append(
            DemoRow(
                "lamp",
                f"lamp-backfill {window['start']}..{window['end']} ({label}: {detail})",
                backfill_state.name or "",
                items=int(report.get("ingest", sum(runs.values()))),
                where=where,
            )
        )
    return rows


def sample_routes(data_dir: Path) -> list[Route]:
    """Routes imitating performancedata.mbta.com (LAMP) and cdn.mbta.com/archive (GTFS)."""
    from deployments.sample_server import Reply, Route, file_reply, not_found

    files: dict[str, Path] = {}
    for path in sorted((data_dir / "lamp").glob("*.parquet")):
        match = re.match(r"(\d{4}-\d{2}-\d{2})" + LAMP_SUFFIX, path.name)
        if match:
            files[match.group(1)] = path

    def index(_m: re.Match[str], _q: dict[str, list[str]], base: str) -> Reply:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["size_bytes", "last_modified", "service_date", "file_url"])
        for day, path in files.items():
            url = f"{base}{LAMP_PREFIX}/{day}{LAMP_SUFFIX}.parquet"
            writer.writerow([path.stat().st_size, SAMPLE_LAST_MODIFIED, day, url])
        return Reply(200, out.getvalue().encode(), "text/csv")

    def daily(m: re.Match[str], _q: dict[str, list[str]], _base: str) -> Reply:
        path = files.get(m.group("day"))
        if path is None:
            return not_found(f"LAMP file for {m.group('day')}")
        return file_reply(path, "application/octet-stream")

    def feeds(_m: re.Match[str], _q: dict[str, list[str]], base: str) -> Reply:
        text = (data_dir / "lamp" / "archived_feeds.txt").read_text()
        rows = list(csv.DictReader(io.StringIO(text)))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            if "://" not in row["archive_url"]:
                row["archive_url"] = f"{base}/gtfs/{row['archive_url']}"
            writer.writerow(row)
        return Reply(200, out.getvalue().encode(), "text/plain")

    def gtfs_zip(m: re.Match[str], _q: dict[str, list[str]], _base: str) -> Reply:
        return file_reply(data_dir / "lamp" / m.group("name"), "application/zip")

    day_file = r"/(?P<day>\d{4}-\d{2}-\d{2})" + LAMP_SUFFIX + r"\.parquet"
    return [
        Route(re.compile(re.escape(LAMP_PREFIX) + r"/index\.csv"), index),
        Route(re.compile(re.escape(LAMP_PREFIX) + day_file), daily),
        Route(re.compile(r"/gtfs/archived_feeds\.txt"), feeds),
        Route(re.compile(r"/gtfs/(?P<name>[A-Za-z0-9._-]+\.zip)"), gtfs_zip),
    ]


def sample_env(base_url: str) -> Mapping[str, str]:
    """Settings that point LAMP and GTFS at the sample-source server."""
    return {
        "PIPELINES_LAMP_BASE_URL": base_url + LAMP_PREFIX,
        "PIPELINES_GTFS_ARCHIVE_INDEX_URL": base_url + "/gtfs/archived_feeds.txt",
    }


PIPELINE = Pipeline(
    name="lamp",
    title="Transit performance (LAMP)",
    summary="MBTA LAMP daily parquet + GTFS archive → per-stop event CSVs "
    "`s3://tm-mbta-performance/Events-lamp/daily-data/…`; compact GTFS cache in `tm-gtfs`",
    flows=(
        FlowSpec(
            "lamp",
            "flows/lamp.py:lamp_ingest_day",
            "LAMP subway events of one service date (default: today) → per-stop CSVs",
        ),
        FlowSpec(
            "lamp-backfill",
            "flows/lamp.py:lamp_backfill",
            "LAMP over a date range, one run per day, unchanged days skipped (dry_run shows the "
            "plan)",
        ),
    ),
    deployments=(
        Deployment(
            "lamp-today",
            "lamp",
            "Today's LAMP subway events → per-stop CSVs, every 30 minutes from 06:00 to 02:30 "
            "Eastern (a 404 before the file is published is a clean no-op; unchanged stop files "
            "are skipped).",
            parameters={"which": "today"},
            schedules=(Schedule("*/30 6-23,0-2 * * *", "America/New_York"),),
            concurrency_limit=1,
            tags=("lamp", "today"),
        ),
        Deployment(
            "lamp-yesterday",
            "lamp",
            "Yesterday's service date again at 15:00 UTC, after MBTA's overnight clean-up.",
            parameters={"which": "yesterday"},
            schedules=(Schedule("0 15 * * *", "UTC"),),
            tags=("lamp", "yesterday"),
        ),
        Deployment(
            "lamp-backfill-day",
            "lamp",
            "One day of a LAMP backfill (lamp-backfill submits one run of this deployment per "
            "day); the concurrency limit is the backfill's parallelism on the work pool.",
            parameters={"skip_unchanged": True},
            concurrency_limit=8,
            tags=("lamp", "backfill"),
        ),
        Deployment(
            "lamp-backfill",
            "lamp-backfill",
            "LAMP over a date range (default 2019-09-15 → yesterday), one run of "
            "lamp-backfill-day per day, skipping days whose source is unchanged; run with "
            "dry_run=true first to see the plan.",
            parameters={"dry_run": True, "day_deployment": DAY_DEPLOYMENT},
            tags=("lamp", "backfill"),
        ),
    ),
    role="LampRole",
    settings_prefixes=("lamp_", "gtfs_"),
    demo=demo,
    sample_routes=sample_routes,
    sample_env=sample_env,
    docs="docs/lamp.md",
)
