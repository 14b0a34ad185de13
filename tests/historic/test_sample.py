"""The ArcGIS look-alike of the sample-source server: items, archives, export, GTFS index."""

from __future__ import annotations

import csv
import io
import zipfile

import requests

from deployments import historic_sample as sample


def test_items_have_metadata_and_archives_in_the_real_layouts(sample_sources: str) -> None:
    items = f"{sample_sources}{sample.ITEMS_PATH}"
    meta = requests.get(
        f"{items}/{sample.RAPID_IDS[2024]}", params={"f": "json"}, timeout=30
    ).json()
    assert (meta["modified"], meta["name"]) == (
        sample.SAMPLE_MODIFIED,
        "MBTA_Rapid_Transit_2024.zip",
    )
    archive = requests.get(f"{items}/{sample.RAPID_IDS[2024]}/data", timeout=30).content
    assert len(archive) == meta["size"]
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        methods = {i.filename.rsplit("/", 1)[-1]: i.compress_type for i in zf.infolist()}
    assert methods["2024-02_Rapid_Transit_Events.csv"] == 9  # Deflate64: read through 7-Zip
    missing = requests.get(f"{items}/{'0' * 32}", params={"f": "json"}, timeout=30).json()
    assert missing["error"]["code"] == 400


def test_the_ferry_export_and_the_gtfs_index(sample_sources: str) -> None:
    hub = f"{sample_sources}{sample.HUB_PATH}"
    refreshed = requests.get(f"{hub}/api/download/v1/items/{sample.FERRY_ID}/csv", timeout=30)
    assert refreshed.json()["status"] == "Completed"
    export = requests.get(
        f"{hub}/api/v3/datasets/{sample.FERRY_ID}_0/downloads/data",
        params={"format": "csv"},
        timeout=30,
    )
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["service_date"] for r in rows][:2] == ["2024/05/06 00:00:00+00"] * 2
    assert [r["trip_id"] for r in rows].count("") == 2  # one crossing a day without a trip id
    index = requests.get(f"{sample_sources}{sample.GTFS_PATH}/archived_feeds.txt", timeout=30).text
    feeds = list(csv.DictReader(io.StringIO(index)))
    assert [f["feed_version"] for f in feeds] == ["subset-20240207", sample.SAMPLE_FEED]
    gtfs = requests.get(feeds[1]["archive_url"], timeout=30).content
    assert zipfile.ZipFile(io.BytesIO(gtfs)).read("routes.txt").startswith(b"route_id,route_type")
