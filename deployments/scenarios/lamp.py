"""Demo scenario for LAMP: the real 2024-02-07 sample through the real flows, offline.

1. ingest 2024-02-07 (sample server → GTFS cache built → per-stop CSVs in moto's S3);
2. the same day again: every stop file unchanged, nothing rewritten;
3. a backfill dry run over 2024-02-05..2024-02-08: only the sample day is published, and it is
   unchanged since step 1, so the plan ingests nothing;
4. a forced backfill of that range: one day run (a subflow), the other days not in the index.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from deployments.demo import DemoRow
from deployments.local_stack import LocalStack

SAMPLE_DAY = date(2024, 2, 7)


def run(stack: LocalStack) -> list[DemoRow]:
    """Run the LAMP flows on the sample data against the local stack."""
    from flows.lamp import lamp_backfill, lamp_ingest_day
    from tasks.common.settings import get_settings

    settings = get_settings()
    where = f"s3://{settings.lamp_bucket}/Events-lamp/daily-data/"
    rows: list[DemoRow] = []

    for label in ("first run", "rerun"):
        state = lamp_ingest_day(service_date=SAMPLE_DAY, return_state=True)
        report: dict[str, Any] = state.result() if state.is_completed() else {}
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
                objects=int(report.get("stops_written", 0)),
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
        state = lamp_backfill(**window, **params, return_state=True)
        report = state.result() if state.is_completed() else {}
        runs = report.get("runs") or {}
        if "dry_run" in report:
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
                state.name or "",
                items=int(report.get("ingest", sum(runs.values()))),
                where=where,
            )
        )
    return rows
