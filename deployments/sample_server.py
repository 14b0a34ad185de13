"""A local HTTP server that imitates the public sources with bundled sample data (offline mode).

It serves the same paths as the real hosts, so a pipeline switches to it by changing only its
base-URL settings (see `LocalSources.env()`). Each registered pipeline contributes its `Route`s
and settings (`Pipeline.sample_routes`, `Pipeline.sample_env` in `deployments/pipelines/`); a
handler gets the regex match, the query string and this server's base URL, and returns a
`Reply`. Standard library only: no extra dependency at runtime.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

SAMPLE_DATA = Path(__file__).parent / "sample_data"


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


def file_reply(path: Path, content_type: str) -> Reply:
    """A file's bytes, or a 404 if it does not exist."""
    if not path.is_file():
        return not_found(path.name)
    return Reply(200, path.read_bytes(), content_type)


def default_routes(data_dir: Path = SAMPLE_DATA) -> list[Route]:
    """Every registered pipeline's sample sources."""
    from deployments import registry

    return [
        route
        for pipeline in registry.pipelines()
        if pipeline.sample_routes is not None
        for route in pipeline.sample_routes(data_dir)
    ]


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
        """Settings that point every pipeline's public sources at this server."""
        from deployments import registry

        env: dict[str, str] = {}
        for pipeline in registry.pipelines():
            if pipeline.sample_env is not None:
                env.update(pipeline.sample_env(self.base_url))
        return env


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
