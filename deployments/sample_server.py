"""A local HTTP server that imitates the public sources with bundled sample data (offline mode).

It serves the same paths as the real hosts, so a pipeline switches to it by changing only its
base-URL settings (see `LocalSources.env()`):

- LAMP:  `/lamp/subway-on-time-performance-v1/index.csv` and `/{date}-...-v1.parquet`
- GTFS:  `/gtfs/archived_feeds.txt` (archive_url rewritten to this server) and `/gtfs/<zip>`
- NYC 311 (Socrata): `/resource/erm2-nwe9.json` with the SoQL subset of `socrata_sample.py`

Each source contributes `Route`s; a handler gets the regex match, the query string and this
server's base URL, and returns a `Reply`. Standard library only: no extra dependency at runtime.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from deployments import socrata_sample

SAMPLE_DATA = Path(__file__).parent / "sample_data"
LAMP_PREFIX = "/lamp/subway-on-time-performance-v1"
LAMP_SUFFIX = "-subway-on-time-performance-v1"
# A fixed publication time for the bundled LAMP files: index.csv's `last_modified` is what the
# backfill compares to decide whether a day changed, so it must not move between runs.
SAMPLE_LAST_MODIFIED = "2024-02-08T09:00:00Z"


@dataclass(frozen=True)
class Reply:
    """An HTTP answer."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[re.Match[str], dict[str, list[str]], str], Reply]


@dataclass(frozen=True)
class Route:
    """`GET` requests whose path fully matches `pattern` go to `handler`."""

    pattern: re.Pattern[str]
    handler: Handler


def not_found(what: str) -> Reply:
    """A 404 naming what is missing."""
    return Reply(404, f"not found: {what}\n".encode(), "text/plain")


def _file_reply(path: Path, content_type: str) -> Reply:
    if not path.is_file():
        return not_found(path.name)
    return Reply(200, path.read_bytes(), content_type)


# --- LAMP + GTFS --------------------------------------------------------------------------


def lamp_files(data_dir: Path) -> dict[str, Path]:
    """Bundled LAMP parquet files by service date (`YYYY-MM-DD`)."""
    found: dict[str, Path] = {}
    for path in sorted((data_dir / "lamp").glob("*.parquet")):
        match = re.match(r"(\d{4}-\d{2}-\d{2})" + LAMP_SUFFIX, path.name)
        if match:
            found[match.group(1)] = path
    return found


def lamp_routes(data_dir: Path = SAMPLE_DATA) -> list[Route]:
    """Routes imitating performancedata.mbta.com and cdn.mbta.com/archive."""
    files = lamp_files(data_dir)

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
        return _file_reply(path, "application/octet-stream")

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
        return _file_reply(data_dir / "lamp" / m.group("name"), "application/zip")

    return [
        Route(re.compile(re.escape(LAMP_PREFIX) + r"/index\.csv"), index),
        Route(
            re.compile(
                re.escape(LAMP_PREFIX) + r"/(?P<day>\d{4}-\d{2}-\d{2})" + LAMP_SUFFIX + r"\.parquet"
            ),
            daily,
        ),
        Route(re.compile(r"/gtfs/archived_feeds\.txt"), feeds),
        Route(re.compile(r"/gtfs/(?P<name>[A-Za-z0-9._-]+\.zip)"), gtfs_zip),
    ]


# --- NYC 311 (Socrata) ---------------------------------------------------------------------


def nyc311_routes(
    dataset: socrata_sample.SocrataDataset | None = None,
    dataset_id: str = socrata_sample.SAMPLE_DATASET_ID,
) -> list[Route]:
    """`/resource/<dataset_id>.json` over a generated 311 dataset (default: the sample records)."""
    data = (
        dataset
        if dataset is not None
        else socrata_sample.SocrataDataset(socrata_sample.generate_records())
    )

    def resource(m: re.Match[str], query: dict[str, list[str]], _base: str) -> Reply:
        if m.group("dataset") != dataset_id:
            body = {"errorCode": "not_found", "message": f"Dataset {m.group('dataset')} not found"}
            return Reply(404, json.dumps(body).encode(), "application/json")
        answer = data.answer(query)
        return Reply(answer.status, answer.body, "application/json")

    return [
        Route(re.compile(r"/resource/(?P<dataset>[A-Za-z0-9]{4}-[A-Za-z0-9]{4})\.json"), resource)
    ]


def default_routes(data_dir: Path = SAMPLE_DATA) -> list[Route]:
    """Every bundled source."""
    return [*lamp_routes(data_dir), *nyc311_routes()]


# --- server -------------------------------------------------------------------------------


class _RequestHandler(BaseHTTPRequestHandler):
    server: _SampleHTTPServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        reply = not_found(parts.path)
        for route in self.server.routes:
            match = route.pattern.fullmatch(parts.path)
            if match:
                try:
                    reply = route.handler(match, query, self.server.base_url)
                except Exception as exc:  # a sample-server bug must answer, not hang the client
                    reply = Reply(500, f"sample server error: {exc}\n".encode(), "text/plain")
                break
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:
        self.server.requests.append(
            f"{self.command} {self.path} {args[1] if len(args) > 1 else ''}"
        )


class _SampleHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], routes: Sequence[Route]) -> None:
        super().__init__(address, _RequestHandler)
        self.routes = list(routes)
        host, port = self.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"
        self.requests: list[str] = []


@dataclass
class LocalSources:
    """A running sample-source server."""

    base_url: str
    requests: list[str]

    def env(self) -> dict[str, str]:
        """Settings that point every pipeline's public source at this server."""
        return {
            "PIPELINES_LAMP_BASE_URL": self.base_url + LAMP_PREFIX,
            "PIPELINES_GTFS_ARCHIVE_INDEX_URL": self.base_url + "/gtfs/archived_feeds.txt",
            "PIPELINES_SOCRATA_BASE_URL": self.base_url,
        }


@contextmanager
def serve(
    port: int = 0, routes: Sequence[Route] | None = None, host: str = "127.0.0.1"
) -> Iterator[LocalSources]:
    """Run the sample server in a background thread for the duration of the block."""
    server = _SampleHTTPServer((host, port), default_routes() if routes is None else routes)
    thread = threading.Thread(target=server.serve_forever, name="sample-sources", daemon=True)
    thread.start()
    try:
        yield LocalSources(server.base_url, server.requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
