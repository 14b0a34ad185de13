"""The one HTTP session factory for public sources: timeouts, retries with backoff, a User-Agent.

Retries (urllib3) cover connection errors, read errors and the statuses in `RETRY_STATUSES`, with
exponential backoff plus jitter, honouring `Retry-After` (capped at `http_backoff_max`, so a
server cannot park a run for an hour). When the budget is spent the last response is returned,
and `get()` turns it into an `HttpSourceError` naming the URL, the status and the attempts.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tasks.common.settings import Settings, get_settings

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
PROJECT = "prefect-data-pipelines"


def user_agent() -> str:
    """`prefect-data-pipelines/<version> (+requests/<version>)`."""
    try:
        own = version(PROJECT)
    except PackageNotFoundError:  # running from a source tree without install
        own = "dev"
    return f"{PROJECT}/{own} (requests/{requests.__version__})"


class HttpSourceError(RuntimeError):
    """A source answered with an error (after retries where retrying made sense)."""

    def __init__(self, url: str, status: int | None, message: str) -> None:
        super().__init__(f"GET {url} failed: {message}")
        self.url = url
        self.status = status


class _TimeoutSession(requests.Session):
    """A Session whose requests get a default (connect, read) timeout."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, *args, **kwargs)


def session(
    settings: Settings | None = None,
    *,
    retry_statuses: Collection[int] = RETRY_STATUSES,
    headers: Mapping[str, str] | None = None,
) -> requests.Session:
    """A `requests.Session` with the project's timeouts, retry policy and User-Agent.

    Args:
        settings: where timeouts and the retry budget come from (default: the environment).
        retry_statuses: HTTP statuses worth retrying (Socrata adds 202 "still processing").
        headers: extra default headers (e.g. an API token; never logged by this module).
    """
    s = settings or get_settings()
    retry = Retry(
        total=s.http_retries,
        connect=s.http_retries,
        read=s.http_retries,
        status=s.http_retries,
        other=0,
        backoff_factor=s.http_backoff_factor,
        backoff_max=s.http_backoff_max,
        backoff_jitter=s.http_backoff_jitter,
        status_forcelist=sorted(retry_statuses),
        allowed_methods=frozenset({"GET", "HEAD", "OPTIONS"}),
        respect_retry_after_header=True,
        raise_on_status=False,  # hand back the last response; get() reports it
        retry_after_max=math.ceil(s.http_backoff_max),
    )
    sess = _TimeoutSession((s.http_connect_timeout, s.http_read_timeout))
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=32)
    sess.mount("http://", adapter)
    sess.mount("https://", adapter)
    sess.headers["User-Agent"] = user_agent()
    if headers:
        sess.headers.update(headers)
    return sess


def get(
    sess: requests.Session,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    ok: Collection[int] = (200,),
    stream: bool = False,
) -> requests.Response:
    """GET `url` through `sess`; raise `HttpSourceError` unless the final status is in `ok`.

    Connection failures that outlast the retries also become `HttpSourceError` (status None).
    """
    try:
        response = sess.get(url, params=params, stream=stream)
    except requests.exceptions.RetryError as exc:  # only when a status retry loop raises
        raise HttpSourceError(url, None, f"retries exhausted ({exc})") from exc
    except requests.exceptions.RequestException as exc:
        raise HttpSourceError(url, None, f"{type(exc).__name__}: {exc}") from exc
    if response.status_code not in ok:
        attempts = _attempts(response)
        detail = response.reason or ""
        raise HttpSourceError(
            url,
            response.status_code,
            f"HTTP {response.status_code} {detail}".rstrip() + f" after {attempts} attempt(s)",
        )
    return response


def _attempts(response: requests.Response) -> int:
    history = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
    return len(history) + 1
