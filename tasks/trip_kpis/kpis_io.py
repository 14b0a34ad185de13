"""S3 I/O of trip KPIs: write the KPI files of some dates, keeping unchanged ones as they are.

A KPI file states when it was generated, so a rerun never produces the same bytes by itself:
each file is read first, and when everything but `generated_at` is the same, the stored file is
kept — a rerun on unchanged data writes nothing and the bytes stay the same. Otherwise the put is
conditional on the version that was read (`If-Match`, or `If-None-Match: *` for a new file):
a daily run and a backfill writing the same date at once cannot interleave; the loser gets
`ConflictError` and its task retries from a fresh read. Every put is encrypted (`s3.put_bytes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prefect import get_run_logger

from tasks.common import s3
from tasks.common.runs import io_task, run_parameter
from tasks.trip_kpis import kpi_core


def _write_run_name() -> str:
    docs = run_parameter("docs") or []
    dates = [str(d.get("date")) for d in docs]
    if len(dates) == 1:
        return f"write-kpis {dates[0]}"
    if not dates:
        return "write-kpis (none)"
    return f"write-kpis {dates[0]}..{dates[-1]} ({len(dates)} dates)"


@io_task("write-kpis", run_name=_write_run_name)
def write_kpis(bucket: str, docs: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Store each KPI document at `kpis/date=<date>/kpi.json`; date → written / unchanged."""
    outcomes: dict[str, str] = {}
    for doc in docs:
        key = kpi_core.kpi_key(str(doc["date"]))
        found = s3.get_with_etag(bucket, key)
        stored, etag = found if found is not None else (None, None)
        if kpi_core.same_content(stored, doc):
            outcomes[doc["date"]] = "unchanged"
            continue
        s3.put_bytes(
            bucket,
            key,
            kpi_core.kpi_body(doc),
            content_type=s3.JSON,
            if_match=etag,
            if_none_match=etag is None,
        )
        outcomes[doc["date"]] = "written"
    written = sum(1 for o in outcomes.values() if o == "written")
    get_run_logger().info(
        "s3://%s/%s/: %d KPI file(s) written, %d unchanged",
        bucket,
        kpi_core.KPI_PREFIX,
        written,
        len(outcomes) - written,
    )
    return outcomes
