"""ArcGIS downloads of the backfills (Prefect tasks): item metadata, archives, the ferry export.

Every request goes through the project HTTP session (connect/read timeouts, retries with backoff
on 429/5xx and connection errors). An archive is streamed to a file in the run's work
directory, never held in memory, by `tasks.common.http.download_to` under the backfills' own
limits, larger than other downloads': at most `historic_download_max_bytes` bytes (checked
against Content-Length first, then while streaming) and `historic_download_deadline_seconds` of
wall time, checked after every socket read. A short body (fewer bytes than Content-Length) is
a transient error: the task downloads again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from prefect.logging import get_run_logger

from tasks.common import http
from tasks.common.runs import io_task
from tasks.common.settings import Settings, get_settings
from tasks.historic import sources_core
from tasks.historic.sources_core import ItemInfo, ItemRef

CHUNK = 64 << 10
# A task's own limit: the download deadline (a setting) is enforced inside, this is a backstop.
DOWNLOAD_TASK_TIMEOUT = 6 * 3600.0


@dataclass(frozen=True)
class Download:
    """A downloaded archive (or the ferry CSV) in the run's work directory."""

    path: str
    url: str
    size: int
    seconds: float

    @property
    def name(self) -> str:
        return Path(self.path).name


@io_task("fetch-item-info", run_name="fetch-item-info {item.label}")
def fetch_item_info(item: ItemRef) -> ItemInfo:
    """The item's ArcGIS metadata (`modified`, size, file name)."""
    settings = get_settings()
    url = sources_core.item_json_url(settings.historic_arcgis_base_url, item.item_id)
    payload = http.get(http.session(settings), url, params={"f": "json"}).json()
    if not isinstance(payload, dict):
        raise sources_core.ItemError(f"ArcGIS item {item.item_id}: expected a JSON object")
    info = sources_core.parse_item(item, payload)
    get_run_logger().info(
        "%s: item %s modified %s, %s bytes (%s)",
        item.label,
        item.item_id,
        info.modified_iso,
        info.size if info.size is not None else "?",
        info.name or info.title,
    )
    return info


def stream_to_file(
    url: str,
    dest: Path,
    settings: Settings,
    params: dict[str, str] | None = None,
) -> Download:
    """GET `url` into `dest` within the backfills' size and time limits (module docstring)."""
    started = time.monotonic()
    size = http.download_to(
        http.session(settings),
        url,
        dest,
        params=params,
        max_bytes=settings.historic_download_max_bytes,
        deadline=settings.historic_download_deadline_seconds,
    )
    return Download(str(dest), url, size, round(time.monotonic() - started, 3))


@io_task(
    "download-archive", run_name="download-archive {info.item.label}", timeout=DOWNLOAD_TASK_TIMEOUT
)
def download_archive(info: ItemInfo, work_dir: str) -> Download:
    """The item's archive (rapid transit, bus: the ZIP; ferry: the CSV export) into `work_dir`."""
    settings = get_settings()
    item = info.item
    if item.source == "ferry":
        url = sources_core.ferry_csv_url(settings.historic_arcgis_hub_url)
        params: dict[str, str] | None = sources_core.FERRY_CSV_PARAMS
        dest = Path(work_dir) / "ferry.csv"
    else:
        url = sources_core.item_data_url(settings.historic_arcgis_base_url, item.item_id)
        params = None
        dest = Path(work_dir) / f"{item.source}-{item.year}.zip"
    download = stream_to_file(url, dest, settings, params)
    get_run_logger().info(
        "%s: %s bytes from %s in %.1f s", item.label, f"{download.size:,}", url, download.seconds
    )
    return download


@io_task("refresh-ferry-export", run_name="refresh-ferry-export")
def refresh_ferry_export() -> str:
    """Ask ArcGIS Hub to rebuild the ferry CSV, then wait (bounded) while it says it is busy.

    Returns the last status. A refresh still running after `historic_ferry_export_wait_seconds`
    is not an error: the download then gets the previous export (the run notes it).
    """
    settings = get_settings()
    session = http.session(settings)
    url = sources_core.ferry_refresh_url(settings.historic_arcgis_hub_url)
    status = _status(http.get(session, url, params=sources_core.FERRY_REFRESH_PARAMS).json())
    waited = 0.0
    while (
        status.lower() in sources_core.FERRY_PENDING_STATES
        and waited < settings.historic_ferry_export_wait_seconds
    ):
        time.sleep(settings.historic_ferry_export_poll_seconds)
        waited += settings.historic_ferry_export_poll_seconds
        status = _status(http.get(session, url, params=sources_core.FERRY_STATUS_PARAMS).json())
    get_run_logger().info("ferry export: %s after %.0f s", status, waited)
    return status


def _status(payload: object) -> str:
    if isinstance(payload, dict):
        return str(payload.get("status") or "unknown")
    return "unknown"
