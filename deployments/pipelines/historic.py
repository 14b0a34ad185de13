"""Historic backfills (ArcGIS rapid transit, bus, ferry): declaration, demo, offline samples.

Demo, offline, on small archives in each source's real layout (`deployments/historic_sample.py`,
served by the sample-source server as ArcGIS items):
1. rapid transit 2024-02 (a Deflate64 ZIP, 2024-02-07 events of real scheduled trips, enriched
   from the LAMP sample's real GTFS subset; its read-me is reported and skipped);
2. bus 2024-03..2024-06 (March in Eastern time, June in UTC; April and May have no rows);
3. ferry 2024-05..2024-06 (service dates at UTC midnight, one crossing without a trip id);
4. a dry run of the bus backfill again: every month is done, nothing to download;
5. rapid transit 2024-02 again, forced: every object's bytes are unchanged, nothing uploaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployments.registry import Deployment, FlowSpec, Pipeline

if TYPE_CHECKING:
    from deployments.demo import DemoRow
    from deployments.local_stack import LocalStack
    from deployments.sample_server import Route

YEAR_DEPLOYMENT = "historic-year/historic-year"
RUNS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "rapid 2024-02",
        {"source": "rapid", "years": [2024], "start": date(2024, 2, 1), "end": date(2024, 2, 29)},
    ),
    ("bus 2024-03..06", {"source": "bus", "start": date(2024, 3, 1), "end": date(2024, 6, 30)}),
    ("ferry 2024-05..06", {"source": "ferry", "start": date(2024, 5, 1), "end": date(2024, 6, 30)}),
    (
        "bus 2024-03..06 again (dry run)",
        {"source": "bus", "start": date(2024, 3, 1), "end": date(2024, 6, 30), "dry_run": True},
    ),
    (
        "rapid 2024-02 again (forced)",
        {"source": "rapid", "start": date(2024, 2, 1), "end": date(2024, 2, 29), "force": True},
    ),
)
PREFIXES = {"rapid": "monthly-data", "bus": "monthly-bus-data", "ferry": "monthly-ferry-data"}


def demo(stack: LocalStack) -> list[DemoRow]:
    """One small backfill of each source, a dry run and a forced rerun, on the local stack."""
    from deployments.demo import DemoRow
    from flows.historic import historic_backfill
    from tasks.common.settings import get_settings

    bucket = get_settings().lamp_bucket
    rows: list[DemoRow] = []
    for label, params in RUNS:
        state = historic_backfill(**params, return_state=True)
        report: dict[str, Any] = dict(state.result()) if state.is_completed() else {}
        if report.get("dry_run"):
            detail = (
                f"{report['months_to_process']} month(s) to process, {report['months_done']} "
                f"done, {report['expected_downloads']['archives']} archive(s) to download"
            )
        else:
            detail = (
                f"{report.get('objects_written', 0)} objects written, "
                f"{report.get('objects_unchanged', 0)} unchanged"
            )
        rows.append(
            DemoRow(
                "historic",
                f"historic-backfill {label}: {detail}",
                state.name or "",
                objects=int(report.get("objects_written", 0)),
                items=int(report.get("events", 0)),
                rejects=int(report.get("rows_rejected", 0)),
                where=f"s3://{bucket}/Events/{PREFIXES[params['source']]}/",
            )
        )
    return rows


def sample_routes(data_dir: Path) -> list[Route]:
    """ArcGIS items (metadata + archives), the Hub's ferry export and the backfills' GTFS index."""
    from deployments import historic_sample as sample

    return sample.arcgis_routes(
        sample.demo_items(data_dir),
        sample.demo_feeds(data_dir),
        {f"{sample.SAMPLE_FEED}.zip": sample.sample_gtfs_zip},
    )


def sample_env(base_url: str) -> Mapping[str, str]:
    """Settings that point the backfills at the sample-source server."""
    from deployments import historic_sample as sample

    return {
        "PIPELINES_HISTORIC_ARCGIS_BASE_URL": base_url + sample.ITEMS_PATH,
        "PIPELINES_HISTORIC_ARCGIS_HUB_URL": base_url + sample.HUB_PATH,
        "PIPELINES_HISTORIC_GTFS_ARCHIVE_INDEX_URL": (
            f"{base_url}{sample.GTFS_PATH}/archived_feeds.txt"
        ),
    }


def _backfill(source: str, what: str) -> Deployment:
    return Deployment(
        f"historic-{source}",
        "historic-backfill",
        f"Backfill {what} from ArcGIS into monthly gzip CSVs, one historic-year run per item; "
        "months already written for the item's current version are skipped. On by default: "
        "dry_run (shows months, items, expected downloads): run with dry_run=false to write.",
        parameters={"source": source, "dry_run": True, "year_deployment": YEAR_DEPLOYMENT},
        tags=("historic", source),
    )


PIPELINE = Pipeline(
    name="historic",
    title="Historic backfills (ArcGIS)",
    summary="ArcGIS rapid transit / bus ZIPs (one per year) and the ferry CSV export + GTFS "
    "archive → monthly gzip CSVs `s3://tm-mbta-performance/Events/monthly-{,bus-,ferry-}data/…`; "
    "month markers in `Events/_state/historic/`",
    flows=(
        FlowSpec(
            "historic-backfill",
            "flows/historic.py:historic_backfill",
            "Years or a date range of one source, one run per ArcGIS item, resumable by month "
            "(dry_run shows the plan)",
        ),
        FlowSpec(
            "historic-year",
            "flows/historic.py:historic_year",
            "One ArcGIS item (a year, or the ferry export) → its months' files and markers",
        ),
    ),
    deployments=(
        _backfill("rapid", "rapid transit events (2016 on)"),
        _backfill("bus", "bus arrival/departure times (2020 on)"),
        _backfill("ferry", "ferry crossings (every year of the export)"),
        Deployment(
            "historic-year",
            "historic-year",
            "One ArcGIS item of a backfill: historic-backfill submits one run per item with its "
            "source, year and months (the defaults here are placeholders); the concurrency "
            "limit is the backfill's parallelism on the work pool.",
            parameters={"source": "rapid", "year": 2024, "months": []},
            concurrency_limit=4,
            tags=("historic",),
        ),
    ),
    role="HistoricRole",
    settings_prefixes=("historic_",),
    demo=demo,
    sample_routes=sample_routes,
    sample_env=sample_env,
    docs="docs/historic.md",
)
