"""The Socrata (SODA) client: one page per task through the shared HTTP session, token kept secret.

Retries (in the session) cover 202 "still processing", 429 and 5xx, honouring `Retry-After`. Any
other 4xx fails fast with Socrata's `errorCode` and `message`; a 200 whose body is not a JSON list
of records is an error too. The app token comes from the settings (`PIPELINES_SOCRATA_APP_TOKEN` /
`SOCRATA_APP_TOKEN`) or else from a Prefect Secret block; it is read inside the task, sent only as
the `X-App-Token` header, only over https (or to a loopback host) and never to another host on a
redirect, and never logged, returned or passed as a parameter.
"""

from __future__ import annotations

import json
from typing import cast

import requests
from prefect import get_run_logger

from tasks.common import http, keys_core
from tasks.common.errors import PermanentError
from tasks.common.runs import io_task, run_parameter
from tasks.common.settings import Settings, get_settings
from tasks.nyc311.soql_core import Record, page_params

# Socrata answers 202 while a query is still being prepared: worth retrying like 429/5xx.
RETRY_STATUSES = frozenset({202, 429, 500, 502, 503, 504})
# Final statuses handed back to us for a Socrata-specific message; others raise in http.get.
_CLIENT_ERRORS = frozenset(range(400, 500)) - {429}


class SocrataError(PermanentError):
    """Socrata refused a query (4xx) or answered 200 with something that is not a record list
    (permanent: the same query gets the same answer)."""

    def __init__(self, url: str, status: int, code: str, message: str) -> None:
        super().__init__(f"Socrata answered HTTP {status} {code}: {message} (GET {url})")
        self.url = url
        self.status = status
        self.code = code
        self.message = message


def dataset_url(base_url: str, dataset_id: str) -> str:
    """`<base>/resource/<dataset>.json` (the dataset id cannot change the path)."""
    return f"{base_url.rstrip('/')}/resource/{keys_core.segment(dataset_id)}.json"


def app_token(settings: Settings) -> str | None:
    """The app token: the setting, else the Prefect Secret block, else None (both optional)."""
    if settings.socrata_app_token is not None:
        return settings.socrata_app_token.get_secret_value() or None
    from prefect.blocks.system import Secret

    try:
        block = cast("Secret[str]", Secret.load(settings.socrata_token_block))
    except ValueError:  # no such block: run without a token (shared, lower rate limit)
        return None
    value = block.get()
    return str(value) if value else None


def error_from(url: str, response: requests.Response) -> SocrataError:
    """A `SocrataError` from a 4xx answer (`errorCode`/`code` and `message` when JSON)."""
    code, message = "http-error", (response.text or response.reason or "").strip()[:300]
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = str(body.get("errorCode") or body.get("code") or code)
        message = str(body.get("message") or message)
    return SocrataError(url, response.status_code, code, message)


def records_from(url: str, response: requests.Response) -> list[Record]:
    """The records of a 200 answer, which must be a JSON list of objects."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError) as exc:
        raise SocrataError(url, 200, "invalid-json", f"the body is not JSON ({exc})") from exc
    if not isinstance(body, list):
        raise SocrataError(
            url, 200, "not-a-list", f"expected a JSON list, got {type(body).__name__}"
        )
    if not all(isinstance(item, dict) for item in body):
        raise SocrataError(url, 200, "not-a-list", "expected a JSON list of objects")
    return body


def _page_run_name() -> str:
    page, first, limit = (run_parameter(n) for n in ("page", "first_row", "limit"))
    return f"page {page} (rows {first + 1:,}–{first + limit:,})"


@io_task("fetch-page", run_name=_page_run_name, retries=1, timeout=900)
def fetch_page(
    base_url: str, dataset_id: str, where: str, limit: int, page: int = 1, first_row: int = 0
) -> list[Record]:
    """One page of records: `$where`, ordered by `created_date, unique_key`, at most `limit`.

    `page` and `first_row` (the run's page number and rows fetched before it) only name the
    task run.
    """
    settings = get_settings()
    token = app_token(settings)
    url = dataset_url(base_url, dataset_id)
    with http.session(
        settings,
        retry_statuses=RETRY_STATUSES,
        secret_headers={"X-App-Token": token} if token else None,
    ) as sess:
        response = http.get(sess, url, params=page_params(where, limit), ok={200, *_CLIENT_ERRORS})
        if response.status_code != 200:
            raise error_from(url, response)
        records = records_from(url, response)
    get_run_logger().info("fetched %d record(s) (limit %d)", len(records), limit)
    return records
