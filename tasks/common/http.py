"""The one HTTP session factory for public sources: timeouts, retries, deadlines, secrets kept safe.

- **Retries** (urllib3) cover connection errors, read errors and the statuses in
  `RETRY_STATUSES`, with exponential backoff plus jitter, honouring `Retry-After` (capped at
  `http_backoff_max`, so a server cannot park a run for an hour). When the budget is spent the
  last response is returned, and `get()` turns it into an `HttpSourceError` naming the URL, the
  status and the attempts.
- **Deadlines**: the connect/read timeouts bound each wait, but a source that trickles bytes
  never trips a read timeout. `get()` therefore reads every body itself, a receive at a time,
  and gives up with `DownloadDeadlineError` once `http_download_deadline` seconds have passed
  since the request, and with `DownloadTooLargeError` once more than `http_max_download_bytes`
  arrived (or were announced by Content-Length).
- **Secrets** (an API token header) go only where they were meant to: a session made with
  `secret_headers` refuses plain `http://` except to a loopback host, and drops those headers when
  a redirect leaves the original host (or downgrades to http), as requests does for
  `Authorization`.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Collection, Iterator, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tasks.common.errors import PermanentError, http_status_is_transient
from tasks.common.settings import Settings, get_settings

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
PROJECT = "prefect-data-pipelines"
_READ_SIZE = 1 << 16


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

    @property
    def permanent(self) -> bool:
        """A refusal (4xx other than 408/429) that asking again will not change."""
        return not http_status_is_transient(self.status)


class DownloadDeadlineError(TimeoutError):
    """A response took longer than the download deadline (a stalled or trickling source)."""


class DownloadTooLargeError(PermanentError):
    """A response is larger than the download limit."""


class IncompleteDownloadError(ConnectionError):
    """The server sent fewer bytes than it announced (transient: download again)."""


class InsecureSecretError(PermanentError):
    """A secret would be sent over plain HTTP to a host that is not loopback."""


def is_loopback(host: str | None) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Session(requests.Session):
    """A Session with default timeouts, download limits, and secret headers kept to its host."""

    def __init__(
        self, timeout: tuple[float, float], secret_headers: Collection[str], settings: Settings
    ) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.secret_headers = {h.lower() for h in secret_headers}
        self.deadline = settings.http_download_deadline
        self.max_bytes = settings.http_max_download_bytes

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.default_timeout)
        if self.secret_headers:
            parts = urlsplit(url if isinstance(url, str) else url.decode())
            if parts.scheme != "https" and not is_loopback(parts.hostname):
                raise InsecureSecretError(
                    f"refusing to send a secret header to {parts.scheme}://{parts.hostname}: "
                    "use https (plain http is allowed to a loopback host only)"
                )
        return super().request(method, url, *args, **kwargs)

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        """On a redirect: requests drops `Authorization` when the host changes; so do we for
        every secret header (and on an https → http downgrade)."""
        super().rebuild_auth(prepared_request, response)  # type: ignore[no-untyped-call]
        if self.secret_headers and self.should_strip_auth(  # type: ignore[no-untyped-call]
            response.request.url, prepared_request.url
        ):
            for name in list(prepared_request.headers):
                if name.lower() in self.secret_headers:
                    del prepared_request.headers[name]


def session(
    settings: Settings | None = None,
    *,
    retry_statuses: Collection[int] = RETRY_STATUSES,
    headers: Mapping[str, str] | None = None,
    secret_headers: Mapping[str, str] | None = None,
) -> requests.Session:
    """A `requests.Session` with the project's timeouts, retry policy, limits and User-Agent.

    Args:
        settings: where timeouts, limits and the retry budget come from (default: environment).
        retry_statuses: HTTP statuses worth retrying (Socrata adds 202 "still processing").
        headers: extra default headers.
        secret_headers: headers that carry a secret (an API token): sent only to the
            requested host over https (or to loopback), never logged by this module.
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
    sess = _Session((s.http_connect_timeout, s.http_read_timeout), secret_headers or {}, s)
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=32)
    sess.mount("http://", adapter)
    sess.mount("https://", adapter)
    sess.headers["User-Agent"] = user_agent()
    sess.headers.update({**(headers or {}), **(secret_headers or {})})
    return sess


def get(
    sess: requests.Session,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    ok: Collection[int] = (200,),
) -> requests.Response:
    """GET `url` through `sess`; raise `HttpSourceError` unless the final status is in `ok`.

    The body is read here within the session's download deadline and size limit, so the
    returned response's `.content`/`.text`/`.json()` are ready. Connection failures that outlast
    the retries also become `HttpSourceError` (status None).
    """
    started = time.monotonic()
    response = _request(sess, url, params)
    with response:
        body = b"".join(_read_within_limits(sess, response, url, started))
    response._content = body
    _check_status(response, url, ok)
    return response


def download_to(
    sess: requests.Session,
    url: str,
    dest: Path,
    *,
    params: Mapping[str, str] | None = None,
    max_bytes: int | None = None,
    deadline: float | None = None,
) -> int:
    """Stream the body of a 200 answer into `dest` (never whole in memory); its size in bytes.

    `max_bytes`/`deadline` override the session's limits for large archives. Raises
    `HttpSourceError` for another status, `DownloadTooLargeError`/`DownloadDeadlineError` past
    the limits, `IncompleteDownloadError` when fewer bytes than announced arrived.
    """
    started = time.monotonic()
    response = _request(sess, url, params)
    with response:
        if response.status_code != 200:
            response._content = b"".join(_read_within_limits(sess, response, url, started))
            _check_status(response, url, (200,))
        size = 0
        with dest.open("wb") as out:
            for chunk in _read_within_limits(sess, response, url, started, max_bytes, deadline):
                out.write(chunk)
                size += len(chunk)
        announced = response.headers.get("Content-Length", "")
    encoded = response.headers.get("Content-Encoding", "identity") != "identity"
    if announced.isdigit() and not encoded and size != int(announced):
        raise IncompleteDownloadError(f"GET {url}: got {size:,} of {int(announced):,} bytes")
    return size


def _request(
    sess: requests.Session, url: str, params: Mapping[str, str] | None
) -> requests.Response:
    try:
        return sess.get(url, params=params, stream=True)
    except requests.exceptions.RetryError as exc:  # only when a status retry loop raises
        raise HttpSourceError(url, None, f"retries exhausted ({exc})") from exc
    except requests.exceptions.RequestException as exc:
        raise HttpSourceError(url, None, f"{type(exc).__name__}: {exc}") from exc


def _check_status(response: requests.Response, url: str, ok: Collection[int]) -> None:
    if response.status_code not in ok:
        attempts = _attempts(response)
        detail = response.reason or ""
        raise HttpSourceError(
            url,
            response.status_code,
            f"HTTP {response.status_code} {detail}".rstrip() + f" after {attempts} attempt(s)",
        )


def _read_within_limits(
    sess: requests.Session,
    response: requests.Response,
    url: str,
    started: float,
    max_bytes: int | None = None,
    deadline: float | None = None,
) -> Iterator[bytes]:
    """The body a receive at a time, within the byte limit and the wall-time deadline."""
    own_limit: float = getattr(sess, "max_bytes", math.inf)
    own_deadline: float = getattr(sess, "deadline", math.inf)
    limit = float(max_bytes) if max_bytes else own_limit
    seconds = float(deadline) if deadline else own_deadline
    announced = response.headers.get("Content-Length", "")
    if announced.isdigit() and int(announced) > limit:
        raise DownloadTooLargeError(
            f"GET {url}: {int(announced):,} bytes announced, more than the {limit:,.0f}-byte "
            "download limit"
        )
    received = 0
    try:
        # read1: one receive at a time, so a trickling source cannot hold us inside one read
        while chunk := response.raw.read1(_READ_SIZE, decode_content=True):
            received += len(chunk)
            if received > limit:
                raise DownloadTooLargeError(
                    f"GET {url}: more than the {limit:,.0f}-byte download limit"
                )
            elapsed = time.monotonic() - started
            if elapsed > seconds:
                raise DownloadDeadlineError(
                    f"GET {url}: {received:,} bytes in {elapsed:.0f} s, past the {seconds:g}-second"
                    " download deadline"
                )
            yield chunk
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        if isinstance(exc, DownloadDeadlineError):
            raise
        raise HttpSourceError(url, None, f"{type(exc).__name__} while reading: {exc}") from exc


def _attempts(response: requests.Response) -> int:
    history = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
    return len(history) + 1
