"""The sample-source server imitates the LAMP and GTFS hosts with the bundled data."""

from __future__ import annotations

import csv
import io

import pyarrow.parquet as pq
import requests

from deployments.pipelines.lamp import SAMPLE_LAST_MODIFIED


def test_lamp_index_lists_the_bundled_day_with_a_fixed_last_modified(sample_sources: str) -> None:
    text = requests.get(
        f"{sample_sources}/lamp/subway-on-time-performance-v1/index.csv", timeout=5
    ).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0] == "size_bytes,last_modified,service_date,file_url"
    assert [r["service_date"] for r in rows] == ["2024-02-07"]
    assert rows[0]["last_modified"] == SAMPLE_LAST_MODIFIED
    parquet = requests.get(rows[0]["file_url"], timeout=5)
    assert parquet.status_code == 200
    assert int(rows[0]["size_bytes"]) == len(parquet.content)
    assert pq.read_metadata(io.BytesIO(parquet.content)).num_rows == 10_000


def test_unknown_day_is_a_404(sample_sources: str) -> None:
    name = "2030-01-01-subway-on-time-performance-v1.parquet"
    url = f"{sample_sources}/lamp/subway-on-time-performance-v1/{name}"
    assert requests.get(url, timeout=5).status_code == 404


def test_gtfs_index_points_at_this_server(sample_sources: str) -> None:
    text = requests.get(f"{sample_sources}/gtfs/archived_feeds.txt", timeout=5).text
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["feed_start_date"] == "20240207"
    assert row["archive_url"] == f"{sample_sources}/gtfs/gtfs-20240207-subset.zip"
    archive = requests.get(row["archive_url"], timeout=5)
    assert archive.status_code == 200
    assert archive.content[:2] == b"PK"


def test_path_traversal_is_not_served(sample_sources: str) -> None:
    assert (
        requests.get(f"{sample_sources}/gtfs/..%2F..%2Fsample_server.py", timeout=5).status_code
        == 404
    )
