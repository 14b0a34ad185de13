"""Fixtures of the telemetry tests: a real redis-server, the stack's telemetry resources."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `redis-server` on a free port in a temporary directory (no persistence).

    `make test` (its `tools` step) installs the Debian package when missing; without the binary this
    fixture fails rather than skipping the cache tests.
    """
    import redis

    from deployments.local_stack import free_port

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server is not installed: run the tests with `make test` (it installs the "
            "Debian package redis-server) or `apt-get install redis-server`"
        )
    port = free_port()
    workdir: Path = tmp_path_factory.mktemp("redis")
    log = (workdir / "redis.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--daemonize",
            "no",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 15
    while True:
        try:
            if client.ping():
                break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"redis-server did not start: {(workdir / 'redis.log').read_text()}")
            time.sleep(0.05)
    try:
        yield url
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """The session's Redis, emptied, with its command statistics reset."""
    import redis

    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.config_resetstat()
    yield redis_server
    client.close()


def command_calls(url: str) -> dict[str, int]:
    """Calls per Redis command since the last reset (`INFO commandstats`)."""
    import redis

    client = redis.Redis.from_url(url)
    stats = client.info("commandstats")
    client.close()
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
