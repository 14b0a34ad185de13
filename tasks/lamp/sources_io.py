"""LAMP sources (Prefect tasks): the index of published days and the daily parquet files.

HTTP goes through the project session: connect/read timeouts bound every request and retries
with backoff cover 429/5xx and connection errors; the task tries once more, later, when the
source was still failing (a 4xx is a refusal and fails at once, with URL and status). A 404 for
a day that may not be published yet is returned as None, for the flow to decide.
"""

from __future__ import annotations

from datetime import date

from prefect.logging import get_run_logger

from tasks.common import http
from tasks.common.runs import io_task
from tasks.common.settings import get_settings
from tasks.lamp import plan_core


@io_task("fetch-lamp-index", run_name="fetch-lamp-index", retries=1)
def fetch_index() -> dict[date, plan_core.IndexEntry]:
    """The LAMP index.csv, by service date."""
    settings = get_settings()
    url = plan_core.index_url(settings.lamp_base_url)
    response = http.get(http.session(settings), url)
    index = plan_core.parse_index(response.text)
    get_run_logger().info("LAMP index: %d published days", len(index))
    return index


@io_task("fetch-parquet", run_name="fetch-parquet {service_date}", retries=1)
def fetch_daily_file(service_date: date, missing_ok: bool) -> bytes | None:
    """The LAMP parquet of `service_date`; None on 404 when `missing_ok`, else an error."""
    settings = get_settings()
    url = plan_core.daily_file_url(settings.lamp_base_url, service_date)
    response = http.get(http.session(settings), url, ok=(200, 404) if missing_ok else (200,))
    if response.status_code == 404:
        get_run_logger().info("LAMP file for %s is not published yet (404)", service_date)
        return None
    body = response.content
    get_run_logger().info("LAMP file for %s: %d bytes", service_date, len(body))
    return body
