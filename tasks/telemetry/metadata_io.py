"""Vehicle metadata through a cache-aside layer: Redis (1-hour TTL) or an in-process TTL cache.

For each chunk the run asks the cache for the distinct vehicles it has not resolved yet, with
one `MGET`; the misses are read from the metadata document (`telemetry_metadata_location`: a key
in the raw bucket, an `s3://` URI or an `http(s)://` URL; loaded at most once per run, only if
something missed) and written back with one pipeline of `SET key value EX ttl`. Unknown
vehicles are not cached, so a vehicle added to the document is known at its next miss.

Without `PIPELINES_REDIS_URL` the cache is a process-wide TTL cache (a warm Lambda or ECS task
keeps it between runs). If Redis fails during a run, the run carries on from the document and
stops asking Redis (counted as `cache_errors` in the run metrics): the cache is an accelerator,
never a reason to fail a file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import redis
from prefect.logging import get_logger

from tasks.common import http, s3
from tasks.common.errors import PermanentError
from tasks.common.settings import Settings, get_settings
from tasks.telemetry.vehicles_core import (
    ResolveStats,
    TtlCache,
    VehicleTable,
    parse_document,
    record_text,
)

KEY_PREFIX = "telemetry:vehicle:"
_process_cache = TtlCache(time.monotonic)
_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()
logger = get_logger("telemetry.metadata")


class Cache(Protocol):
    def get_many(self, keys: Sequence[str]) -> dict[str, str]: ...

    def set_many(self, values: Mapping[str, str], ttl_seconds: float) -> None: ...


class MetadataNotFoundError(PermanentError):
    """The vehicle metadata document does not exist where the settings say."""


def process_cache() -> TtlCache:
    """The in-process cache (tests clear it)."""
    return _process_cache


def redis_client(url: str) -> redis.Redis:
    """One client (connection pool) per URL and process; short timeouts (a cache must not
    stall a run)."""
    with _lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(
                url,
                socket_timeout=2.0,
                socket_connect_timeout=2.0,
                decode_responses=True,
                health_check_interval=30,
            )
            _clients[url] = client
        return client


class RedisCache:
    """Vehicle records in Redis under `telemetry:vehicle:<id>`."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        values: list[Any] = self.client.mget([KEY_PREFIX + k for k in keys])
        return {k: v for k, v in zip(keys, values, strict=True) if isinstance(v, str)}

    def set_many(self, values: Mapping[str, str], ttl_seconds: float) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key, value in values.items():
            pipe.set(KEY_PREFIX + key, value, ex=int(ttl_seconds))
        pipe.execute()


def make_cache(settings: Settings) -> tuple[Cache, str]:
    """The configured cache and its name (`redis` or `in-process`)."""
    if settings.redis_url is not None and settings.redis_url.get_secret_value():
        return RedisCache(redis_client(settings.redis_url.get_secret_value())), "redis"
    return _process_cache, "in-process"


def read_document(location: str, settings: Settings) -> bytes:
    """The metadata document's bytes from S3 (raw-bucket key or s3:// URI) or HTTP(S)."""
    if location.startswith(("http://", "https://")):
        return bytes(http.get(http.session(settings), location).content)
    if location.startswith("s3://"):
        bucket, _, key = location.removeprefix("s3://").partition("/")
    else:
        bucket, key = settings.telemetry_raw_bucket, location
    body = s3.get_bytes(bucket, key, settings)
    if body is None:
        raise MetadataNotFoundError(f"vehicle metadata not found at s3://{bucket}/{key}")
    return body


class MetadataSource:
    """The metadata document, read at most once (on the first miss) per run."""

    def __init__(self, location: str, settings: Settings) -> None:
        self.location = location
        self.settings = settings
        self.records: dict[str, str] | None = None
        self.problems: list[str] = []
        self.loads = 0

    def get(self, ids: Sequence[str]) -> dict[str, str]:
        if self.records is None:
            self.records, self.problems = parse_document(
                read_document(self.location, self.settings)
            )
            self.loads += 1
            if self.problems:
                logger.warning(
                    "vehicle metadata: %d invalid record(s), e.g. %s",
                    len(self.problems),
                    "; ".join(self.problems[:3]),
                )
        return {v: self.records[v] for v in ids if v in self.records}


class VehicleResolver:
    """Cache-aside resolution of a run's vehicles into its `VehicleTable`."""

    def __init__(
        self,
        table: VehicleTable,
        cache: Cache,
        source: MetadataSource,
        ttl_seconds: float,
        cache_name: str = "in-process",
    ) -> None:
        self.table = table
        self.cache: Cache | None = cache
        self.cache_name = cache_name
        self.source = source
        self.ttl_seconds = ttl_seconds
        self.stats = ResolveStats()

    def __call__(self, ids: Sequence[str]) -> None:
        """Find `ids` (one MGET, then the document for misses) and add them to the table."""
        stats = self.stats
        stats.lookups += len(ids)
        found: dict[str, str] = {}
        if self.cache is not None:
            try:
                cached = self.cache.get_many(ids)
            except redis.RedisError as exc:
                self._cache_failed(exc)
                cached = {}
            # a cached value that is not a valid record is a miss (and gets rewritten)
            found = {k: v for k, v in cached.items() if _valid_text(k, v)}
        stats.hits += len(found)
        misses = [v for v in ids if v not in found]
        if misses:
            loaded = self.source.get(misses)
            stats.source_loads = self.source.loads
            if loaded and self.cache is not None:
                try:
                    self.cache.set_many(loaded, self.ttl_seconds)
                except redis.RedisError as exc:
                    self._cache_failed(exc)
            found.update(loaded)
        stats.unknown += len(ids) - len(found)
        self.table.add(found)

    def _cache_failed(self, exc: Exception) -> None:
        self.stats.cache_errors += 1
        logger.warning("vehicle cache (%s) failed, using the document: %s", self.cache_name, exc)
        self.cache = None


def _valid_text(vehicle_id: str, text: str) -> bool:
    import json

    try:
        record = json.loads(text)
    except ValueError:
        return False
    return record_text(vehicle_id, record)[0] is not None


def resolver(table: VehicleTable, settings: Settings | None = None) -> VehicleResolver:
    """The run's resolver from the settings (Redis if configured, else in-process)."""
    s = settings or get_settings()
    cache, name = make_cache(s)
    source = MetadataSource(s.telemetry_metadata_location, s)
    return VehicleResolver(table, cache, source, s.telemetry_metadata_ttl_seconds, name)
