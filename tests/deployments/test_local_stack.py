"""The local stack: every template resource exists in moto, buckets take puts, sources answer."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests

from deployments.local_stack import LocalStack, free_port, local_stack
from tasks.common.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DATA_TYPES = {"AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::SQS::Queue"}


@pytest.fixture(scope="module")
def running() -> Iterator[LocalStack]:
    with local_stack() as stack:
        yield stack


def _session() -> boto3.Session:
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


def test_every_data_resource_of_the_template_exists(running: LocalStack) -> None:
    session = _session()
    endpoint = running.aws_endpoint
    made = {(r["type"], r["physical_id"]) for r in running.stack_resources}
    buckets = {
        b["Name"] for b in session.client("s3", endpoint_url=endpoint).list_buckets()["Buckets"]
    }
    tables = set(session.client("dynamodb", endpoint_url=endpoint).list_tables()["TableNames"])
    queues = {
        url.rsplit("/", 1)[-1]
        for url in session.client("sqs", endpoint_url=endpoint).list_queues()["QueueUrls"]
    }
    assert {name for kind, name in made if kind == "AWS::S3::Bucket"} == buckets
    assert {name for kind, name in made if kind == "AWS::DynamoDB::Table"} == tables
    assert {url.rsplit("/", 1)[-1] for kind, url in made if kind == "AWS::SQS::Queue"} == queues
    # ...and the built pipelines' settings name them by default
    s = Settings(aws_endpoint_url=endpoint)
    assert {
        s.lamp_bucket, s.gtfs_bucket, s.nyc311_raw_bucket, s.nyc311_processed_bucket, s.csv_bucket,
    } <= buckets  # fmt: skip
    assert {s.csv_metadata_table} <= tables
    assert {"AWS::IAM::Role", "AWS::ECS::Cluster"} <= {kind for kind, _ in made}


def test_each_bucket_takes_an_encrypted_put_and_get(running: LocalStack) -> None:
    s3 = _session().client("s3", endpoint_url=running.aws_endpoint)
    for res in running.stack_resources:
        if res["type"] != "AWS::S3::Bucket":
            continue
        bucket = res["physical_id"]
        s3.put_object(
            Bucket=bucket, Key="probe/hello.txt", Body=b"hi", ServerSideEncryption="AES256"
        )
        assert s3.get_object(Bucket=bucket, Key="probe/hello.txt")["Body"].read() == b"hi"
        encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]


def test_env_points_a_process_at_the_stack(running: LocalStack) -> None:
    env = running.env(offline=True)
    assert env["AWS_ENDPOINT_URL"] == running.aws_endpoint
    assert env["PIPELINES_LAMP_BASE_URL"].startswith(
        running.sources.base_url if running.sources else "?"
    )
    assert "PIPELINES_LAMP_BASE_URL" not in running.env(offline=False)
    index = requests.get(env["PIPELINES_LAMP_BASE_URL"] + "/index.csv", timeout=5)
    assert index.status_code == 200


def _start(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "deployments.cli", "local-stack", "--aws-port", "0",
         "--sources-port", "0", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "Ctrl-C to stop" in line or not line:
            break
    return proc, lines


def test_local_stack_command_prints_exports_and_stops_on_sigint() -> None:
    proc, lines = _start("--offline")
    exports = dict(
        line.removeprefix("export ").strip().split("=", 1)
        for line in lines
        if line.startswith("export ")
    )
    try:
        endpoint = exports["AWS_ENDPOINT_URL"]
        s3 = _session().client("s3", endpoint_url=endpoint)
        assert "tm-mbta-performance" in {b["Name"] for b in s3.list_buckets()["Buckets"]}
        assert exports["PIPELINES_LAMP_BASE_URL"].endswith("/lamp/subway-on-time-performance-v1")
    finally:
        proc.send_signal(2)  # SIGINT, as Ctrl-C
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(lines) + out
    assert "stopped" in out
    printed = "".join(lines)
    assert "No Moto CloudFormation support" not in printed
    assert re.search(r"\(moto does not model \d+ resource\(s\) of the template \(AWS::", printed)
    resource_rows = [line for line in lines if line.startswith("  AWS::")]
    assert all(len(line.split()) == 2 for line in resource_rows)  # no rows without a name


def test_local_stack_with_prefect_serves_a_ui_that_finds_its_api_and_stops_on_sigterm() -> None:
    port = free_port()
    proc, lines = _start("--prefect", "--prefect-port", str(port))
    ui = f"http://127.0.0.1:{port}"
    try:
        assert f"Prefect UI on {ui}" in "".join(lines), "".join(lines)
        settings = requests.get(f"{ui}/ui-settings", timeout=10).json()
        assert settings["api_url"] == f"{ui}/api"
        assert requests.get(f"{settings['api_url']}/health", timeout=10).json() is True
        runs = requests.post(f"{ui}/api/flow_runs/filter", json={}, timeout=10).json()
        assert runs == []  # a fresh Prefect home: no runs of an earlier stack
        automations = requests.post(f"{ui}/api/automations/filter", json={}, timeout=10).json()
        assert [a["name"] for a in automations] == ["crash-zombie-flow-runs"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "stopped" in out
    with pytest.raises(requests.ConnectionError):  # the Prefect server stopped with it
        requests.get(f"{ui}/api/health", timeout=5)
