"""The Lambda handler: S3/EventBridge/SQS event shapes, routing, in-process flow runs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from deployments import lambda_handler, registry
from deployments.lambda_handler import S3Object, handler, s3_objects
from deployments.registry import S3Route
from tests.conftest import SAMPLE_DATA

CLEAN = (SAMPLE_DATA / "csv_profile" / "clean.csv").read_bytes()


def s3_notification(
    bucket: str, key: str, etag: str, event: str = "ObjectCreated:Put"
) -> dict[str, Any]:
    """A record exactly as S3 sends it (keys URL-encoded, `+` for spaces)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2025-11-29T10:30:00.000Z",
                "eventName": event,
                "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
                "requestParameters": {"sourceIPAddress": "203.0.113.7"},
                "responseElements": {
                    "x-amz-request-id": "C3D13FE58DE4C810",
                    "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5Jg",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "csv-profile",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": key,
                        "size": 241,
                        "eTag": etag,
                        "sequencer": "0055AED6DCD90281E5",
                    },
                },
            }
        ]
    }


def eventbridge(bucket: str, key: str, etag: str) -> dict[str, Any]:
    """An EventBridge "Object Created" event (keys as stored, not URL-encoded)."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2025-11-29T10:30:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 241, "etag": etag, "sequencer": "617f08299329d189"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    }


def test_s3_notification_keys_are_url_decoded() -> None:
    event = s3_notification("b", "uploads/Q1+sales+%C3%A9t%C3%A9.csv", "abc")
    assert list(s3_objects(event)) == [S3Object("b", "uploads/Q1 sales été.csv", "abc")]


def test_eventbridge_and_sqs_wrapped_events_are_understood() -> None:
    assert list(s3_objects(eventbridge("b", "uploads/a b.csv", "e1"))) == [
        S3Object("b", "uploads/a b.csv", "e1")
    ]
    sqs = {
        "Records": [{"eventSource": "aws:sqs", "body": json.dumps(s3_notification("b", "k", "e"))}]
    }
    assert list(s3_objects(sqs)) == [S3Object("b", "k", "e")]


def test_events_that_create_nothing_name_no_objects() -> None:
    assert list(s3_objects({"Event": "s3:TestEvent", "Bucket": "b"})) == []
    assert list(s3_objects(s3_notification("b", "k", "e", event="ObjectRemoved:Delete"))) == []
    deleted = {**eventbridge("b", "k", "e"), "detail-type": "Object Deleted"}
    assert list(s3_objects(deleted)) == []


def test_routes_match_bucket_prefix_and_suffix() -> None:
    route = S3Route(flow="x", bucket_setting="csv_bucket", prefix="uploads/", suffix=".csv")

    class Settings:
        csv_bucket = "data"

    assert route.matches("data", "uploads/a/b.csv", Settings())
    assert route.matches("data", "uploads/a/B.CSV", Settings())  # suffixes match in any case
    assert not route.matches("data", "processed/a.csv", Settings())
    assert not route.matches("data", "uploads/a.txt", Settings())
    assert not route.matches("other", "uploads/a.csv", Settings())
    assert route.parameters("data", "uploads/a.csv", "e") == {
        "key": "uploads/a.csv",
        "bucket": "data",
        "etag": "e",
    }
    routes = registry.routes()
    assert [r.flow for r in routes] == ["csv-profile", "telemetry-file"]
    assert dict(routes[0].env) == {"PIPELINES_CSV_BLOCK_BYTES": "1048576"}
    assert dict(routes[1].env) == {"PIPELINES_TELEMETRY_CHUNK_BYTES": "4194304"}


@pytest.mark.usefixtures("prefect_harness")
def test_the_handler_runs_the_flow_in_process_per_record(
    stack: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.common import aws
    from tasks.common.settings import get_settings

    settings = get_settings()
    # the route sets it; set+del makes monkeypatch remove it again after the test
    monkeypatch.setenv("PIPELINES_CSV_BLOCK_BYTES", "0")
    monkeypatch.delenv("PIPELINES_CSV_BLOCK_BYTES")
    flushed: list[bool] = []
    real_flush = lambda_handler._flush_logs

    def flush() -> None:
        flushed.append(True)
        real_flush()  # the real APILogHandler flush, against the test server

    monkeypatch.setattr(lambda_handler, "_flush_logs", flush)
    etag = aws.s3().put_object(Bucket=settings.csv_bucket, Key="uploads/Q1 sales.csv", Body=CLEAN)[
        "ETag"
    ]
    event = s3_notification(settings.csv_bucket, "uploads/Q1+sales.csv", etag)
    event["Records"].append(
        s3_notification(settings.csv_bucket, "uploads/readme.txt", "x")["Records"][0]
    )

    response = handler(event, None)

    assert flushed == [True]
    ran, ignored = response["records"]
    assert ignored == {
        "bucket": settings.csv_bucket,
        "key": "uploads/readme.txt",
        "state": "ignored",
    }
    assert (ran["flow"], ran["state"], ran["key"]) == (
        "csv-profile",
        "Completed",
        "uploads/Q1 sales.csv",
    )
    assert ran["result"]["status"] == "success"
    assert ran["result"]["row_count"] == 5
    assert get_settings().csv_block_bytes == 1 << 20
    item = aws.dynamodb().get_item(
        TableName=settings.csv_metadata_table, Key={"file_name": {"S": "Q1 sales.csv"}}
    )["Item"]
    assert item["status"] == {"S": "success"}
    summary = aws.s3().get_object(
        Bucket=settings.csv_bucket, Key="processed/Q1%20sales_summary.json"
    )
    assert json.loads(summary["Body"].read())["row_count"] == 5


@pytest.mark.usefixtures("prefect_harness")
def test_a_failed_flow_run_fails_the_invocation_so_lambda_retries(
    stack: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.common import aws
    from tasks.common.settings import get_settings
    from tasks.csv_profile import storage_io

    settings = get_settings()
    monkeypatch.setattr(lambda_handler, "_flush_logs", lambda: None)
    monkeypatch.setattr(
        storage_io, "existing_record", storage_io.existing_record.with_options(retries=0)
    )
    aws.dynamodb().delete_table(TableName=settings.csv_metadata_table)
    etag = aws.s3().put_object(Bucket=settings.csv_bucket, Key="uploads/a.csv", Body=CLEAN)["ETag"]
    with pytest.raises(
        lambda_handler.FlowRunsFailed,
        match=r"1 of 1 flow run\(s\) failed: s3://.*/uploads/a.csv: Failed",
    ):
        handler(eventbridge(settings.csv_bucket, "uploads/a.csv", etag), None)


def test_a_malformed_record_is_reported_and_the_others_are_read() -> None:
    good = s3_notification("b", "uploads/a.csv", "e1")["Records"][0]
    broken = {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {}}}
    sqs_bad_body = {"eventSource": "aws:sqs", "messageId": "m-bad", "body": "not json"}
    sqs_good = {
        "eventSource": "aws:sqs",
        "messageId": "m-good",
        "body": json.dumps(s3_notification("b", "uploads/b.csv", "e2")),
    }
    found = list(lambda_handler.records({"Records": [good, broken, sqs_bad_body, sqs_good]}))
    assert [(r.obj, r.message_id) for r in found] == [
        (S3Object("b", "uploads/a.csv", "e1"), None),
        (None, None),
        (None, "m-bad"),
        (S3Object("b", "uploads/b.csv", "e2"), "m-good"),
    ]
    assert found[1].error == "malformed record 1: KeyError: 'name'"
    assert str(found[2].error).startswith("malformed record 2: JSONDecodeError")


@pytest.mark.usefixtures("prefect_harness")
def test_one_bad_record_does_not_stop_the_good_ones_and_only_failures_are_retried(
    stack: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.common import aws
    from tasks.common.settings import get_settings

    bucket = get_settings().csv_bucket
    monkeypatch.setattr(lambda_handler, "_flush_logs", lambda: None)
    etag = aws.s3().put_object(Bucket=bucket, Key="uploads/good.csv", Body=CLEAN)["ETag"]

    def message(message_id: str, body: str) -> dict[str, Any]:
        return {"eventSource": "aws:sqs", "messageId": message_id, "body": body}

    event = {
        "Records": [
            message("m-1", "{not json"),
            message("m-2", json.dumps(s3_notification(bucket, "uploads/good.csv", etag))),
            # announced, but the object is not there: the run completes as "missing"
            message("m-3", json.dumps(s3_notification(bucket, "uploads/gone.csv", "e"))),
        ]
    }
    response = handler(event, None)
    states = [(r.get("message_id"), r["state"]) for r in response["records"]]
    assert states == [("m-1", "malformed"), ("m-2", "Completed"), ("m-3", "Completed")]
    assert response["records"][1]["result"]["status"] == "success"
    assert response["records"][2]["result"]["status"] == "missing"
    assert response["batchItemFailures"] == []  # a malformed message is not worth a retry


@pytest.mark.usefixtures("prefect_harness")
def test_the_flow_times_out_before_the_function_does(
    stack: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.common import aws
    from tasks.common.settings import get_settings

    bucket = get_settings().csv_bucket
    monkeypatch.setattr(lambda_handler, "_flush_logs", lambda: None)
    etag = aws.s3().put_object(Bucket=bucket, Key="uploads/slow.csv", Body=CLEAN)["ETag"]
    real_run = lambda_handler._run
    seen: list[float | None] = []

    def record_timeout(route: Any, obj: Any, timeout: float | None) -> dict[str, Any]:
        seen.append(timeout)
        return real_run(route, obj, timeout)

    monkeypatch.setattr(lambda_handler, "_run", record_timeout)

    class Context:  # what Lambda passes: 300 s function, 100 s left
        def get_remaining_time_in_millis(self) -> int:
            return 100_000

    handler(eventbridge(bucket, "uploads/slow.csv", etag), Context())
    assert seen == [100 - lambda_handler.TIMEOUT_MARGIN]


@pytest.mark.usefixtures("prefect_harness")
def test_a_flow_longer_than_its_timeout_ends_timed_out_not_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        registry, "REGISTERED", (*registry.REGISTERED, "tests.deployments.dummy_pipeline")
    )
    route = S3Route(flow="dummy-sleep", bucket_setting="csv_bucket", prefix="", suffix="")
    row = lambda_handler._run(route, S3Object("b", "dummy/30"), timeout=1.0)
    assert row["state"] == "TimedOut"
    assert "exceeded timeout of 1.0 second(s)" in row["message"]
