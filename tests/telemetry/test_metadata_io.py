"""The vehicle cache-aside layer against a real redis-server, and the metadata sources."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from pytest_httpserver import HTTPServer

from deployments.local_stack import free_port
from tasks.common import s3
from tasks.common.settings import get_settings
from tasks.telemetry import metadata_io
from tasks.telemetry.csv_core import frame
from tasks.telemetry.metadata_io import (
    KEY_PREFIX,
    MetadataNotFoundError,
    MetadataSource,
    RedisCache,
    VehicleResolver,
)
from tasks.telemetry.process_core import FileProcessor, no_cross_file
from tasks.telemetry.vehicles_core import TtlCache, VehicleTable
from tests.telemetry import fixtures
from tests.telemetry.conftest import command_calls


class DocumentSource(MetadataSource):
    """The metadata document from memory (counts loads like the real source)."""

    def __init__(self, body: bytes = fixtures.METADATA_JSON) -> None:
        super().__init__("memory", get_settings())
        self.body = body

    def get(self, ids: Any) -> dict[str, str]:
        if self.records is None:
            from tasks.telemetry.vehicles_core import parse_document

            self.records, self.problems = parse_document(self.body)
            self.loads += 1
        return {v: self.records[v] for v in ids if v in self.records}


def redis_resolver(url: str, source: MetadataSource | None = None) -> VehicleResolver:
    client = redis.Redis.from_url(url, decode_responses=True)
    return VehicleResolver(
        VehicleTable(), RedisCache(client), source or DocumentSource(), 3600, "redis"
    )


def test_misses_are_filled_with_one_pipeline_and_a_one_hour_ttl(redis_url: str) -> None:
    first = redis_resolver(redis_url)
    first(["007", "V1", "nobody"])
    calls = command_calls(redis_url)
    assert (calls["mget"], calls["set"]) == (1, 2)
    assert first.stats.lookups == 3
    assert first.stats.hits == 0
    assert first.stats.unknown == 1
    assert first.source.loads == 1
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert 3590 < client.ttl(KEY_PREFIX + "007") <= 3600
    assert json.loads(client.get(KEY_PREFIX + "V1") or "")["model"] == "Transit"
    assert client.exists(KEY_PREFIX + "nobody") == 0  # unknown vehicles are not cached

    second = redis_resolver(redis_url)  # the next run: everything known is in Redis
    second(["007", "V1"])
    assert second.stats.hits == 2
    assert second.stats.hit_rate == 1.0
    assert second.source.loads == 0
    assert second.table.lookup(["007", "V1"]).tolist() == [0, 1]


def test_one_mget_per_chunk_for_its_new_vehicles(redis_url: str) -> None:
    resolver = redis_resolver(redis_url)
    header, blocks = frame([fixtures.BODY], 150)
    assert header is not None
    asked: list[int] = []  # the chunk of each lookup
    current = [0]

    def resolve(ids: Any) -> None:
        asked.append(current[0])
        resolver(ids)

    processor = FileProcessor(
        header,
        source_key="k",
        file_id="f",
        now_ms=1_800_000_000_000,
        vehicles=resolver.table,
        resolve=resolve,
        cross=no_cross_file(),
        expected_rows=100,
        message_bytes=100_000,
    )
    stored = 0
    for block in blocks:
        current[0] = block.index
        stored += processor.process(block).stored
    calls = command_calls(redis_url)
    assert stored == 7
    assert len(asked) == len(set(asked)) >= 2  # at most one lookup per chunk...
    assert calls["mget"] == len(asked)  # ...and one MGET per lookup
    assert calls["set"] == 3  # 007, V1 and V2, each filled once (BAD is invalid, 7 unknown)


def test_a_corrupt_cached_value_is_a_miss_and_rewritten(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.set(KEY_PREFIX + "V1", "{not json", ex=60)
    resolver = redis_resolver(redis_url)
    resolver(["V1"])
    assert resolver.stats.hits == 0
    assert json.loads(client.get(KEY_PREFIX + "V1") or "")["max_speed"] == 110.0


def test_when_redis_is_down_the_run_uses_the_document_and_stops_asking(redis_url: str) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    resolver = redis_resolver(closed)
    resolver(["007"])
    resolver(["V1"])
    assert resolver.stats.cache_errors == 1
    assert resolver.cache is None
    assert resolver.table.lookup(["007", "V1"]).tolist() == [0, 1]


def test_without_redis_the_in_process_cache_serves_later_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metadata_io.process_cache().clear()
    cache, name = metadata_io.make_cache(get_settings())
    assert name == "in-process"
    assert isinstance(cache, TtlCache)
    first = VehicleResolver(VehicleTable(), cache, DocumentSource(), 3600)
    first(["V2"])
    second = VehicleResolver(VehicleTable(), cache, DocumentSource(), 3600)
    second(["V2"])
    assert (first.stats.hits, second.stats.hits) == (0, 1)
    assert second.source.loads == 0
    metadata_io.process_cache().clear()


def test_settings_choose_redis_when_a_url_is_set(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINES_REDIS_URL", redis_url)
    cache, name = metadata_io.make_cache(get_settings())
    assert name == "redis"
    assert isinstance(cache, RedisCache)
    assert redis_url not in repr(get_settings())


def test_the_document_comes_from_a_url(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metadata_api.json").respond_with_data(fixtures.METADATA_JSON)
    source = MetadataSource(httpserver.url_for("/metadata_api.json"), get_settings())
    assert set(source.get(["007", "V9"])) == {"007"}
    assert source.problems == ["BAD: max_speed is not a number ('fast')"]


def test_the_document_comes_from_s3_and_its_absence_is_permanent(aws: None) -> None:
    from tasks.common import aws as factory

    settings = get_settings()
    factory.s3().create_bucket(Bucket=settings.telemetry_raw_bucket)
    with pytest.raises(MetadataNotFoundError, match=r"metadata/metadata_api\.json"):
        MetadataSource(settings.telemetry_metadata_location, settings).get(["007"])
    s3.put_bytes(
        settings.telemetry_raw_bucket, "meta/v.json", fixtures.METADATA_JSON, content_type=s3.JSON
    )
    uri = f"s3://{settings.telemetry_raw_bucket}/meta/v.json"
    assert set(MetadataSource(uri, settings).get(["V1", "V2"])) == {"V1", "V2"}
