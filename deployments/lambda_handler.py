"""AWS Lambda entry point: S3 "object created" events → the registered flow, run in-process.

Pattern (b) of PREFECT.md: the function runs the flow itself with `PREFECT_API_URL` pointing at
the Prefect server (so the run, its task runs, logs and artifacts appear there),
`PREFECT_HOME=/tmp/.prefect` (the only writable path) and
`PREFECT_SERVER_EPHEMERAL_ENABLED=false` (a missing API URL fails instead of starting SQLite),
and flushes the API log handler before returning, or the last logs are lost with the sandbox.

Accepted events: S3 notifications (`Records[].s3`, keys URL-encoded), EventBridge
"Object Created" events (`detail.bucket/object`, keys as stored) and SQS messages carrying
either (`Records[].body`). Each object is matched against the registry's S3 routes
(`Pipeline.routes`: bucket setting, key prefix, suffix case-insensitively) and the route's flow
runs once per object; unmatched objects are reported as `ignored`. If any flow run does not
complete, the handler raises after processing every record, so Lambda's retry re-delivers the
event (runs are idempotent per key and ETag).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from deployments import registry
from deployments.registry import S3Route


@dataclass(frozen=True)
class S3Object:
    """One created object named by an event."""

    bucket: str
    key: str
    etag: str | None = None


@dataclass(frozen=True)
class Record:
    """One record of an event: the object it names, or why it could not be read.

    `message_id` is the SQS message id when the record came from SQS (for a partial batch
    response: only failed messages are returned to the queue).
    """

    obj: S3Object | None = None
    error: str | None = None
    message_id: str | None = None


class FlowRunsFailed(RuntimeError):
    """At least one flow run of this invocation did not complete (Lambda will retry)."""


# Seconds kept back from the function's remaining time: the flow times out before Lambda
# kills the sandbox, so the run ends TimedOut (not Running forever) and logs are flushed.
TIMEOUT_MARGIN = 30.0


def _object_of(record: Mapping[str, Any]) -> S3Object | None:
    """The created object of an S3 notification record (None for other event names)."""
    if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
        return None
    s3 = record["s3"]
    return S3Object(
        s3["bucket"]["name"],
        unquote_plus(s3["object"]["key"]),  # S3 notifications URL-encode keys
        s3["object"].get("eTag"),
    )


def _eventbridge_object(event: Mapping[str, Any]) -> S3Object | None:
    if event.get("detail-type") != "Object Created":
        return None
    detail = event["detail"]
    obj = detail.get("object", {})
    return S3Object(detail["bucket"]["name"], obj["key"], obj.get("etag"))


def records(event: Mapping[str, Any], message_id: str | None = None) -> Iterator[Record]:
    """Every record of an event (S3 notification, EventBridge, SQS-wrapped), each read on its
    own: a malformed record becomes `Record(error=...)` and the others are still read."""
    try:
        if event.get("source") == "aws.s3" and "detail" in event:
            found = _eventbridge_object(event)
            if found is not None:
                yield Record(found, message_id=message_id)
            return
        items = event.get("Records") or []
    except (KeyError, TypeError, AttributeError) as exc:
        yield Record(error=f"malformed event: {type(exc).__name__}: {exc}", message_id=message_id)
        return
    for index, record in enumerate(items):
        where = f"record {index}"
        try:
            if record.get("eventSource") == "aws:sqs":
                body = json.loads(record.get("body") or "{}")
                if not isinstance(body, dict):
                    raise TypeError(f"the SQS body is a {type(body).__name__}, not an event")
                yield from records(body, record.get("messageId"))
            elif record.get("eventSource") == "aws:s3":
                found = _object_of(record)
                if found is not None:
                    yield Record(found, message_id=message_id)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            error = f"malformed {where}: {type(exc).__name__}: {exc}"
            yield Record(error=error, message_id=record.get("messageId") or message_id)


def s3_objects(event: Mapping[str, Any]) -> Iterator[S3Object]:
    """Every created object an event names (malformed records left out)."""
    return (r.obj for r in records(event) if r.obj is not None)


def _flush_logs() -> None:
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()


def _run(route: S3Route, obj: S3Object, timeout: float | None) -> dict[str, Any]:
    for name, value in route.env:
        os.environ.setdefault(name, value)
    flow = registry.get_flow(route.flow).load()
    if timeout is not None:
        flow = flow.with_options(timeout_seconds=max(timeout, 1.0))
    state = flow(**route.parameters(obj.bucket, obj.key, obj.etag), return_state=True)
    row: dict[str, Any] = {"bucket": obj.bucket, "key": obj.key, "flow": route.flow}
    if state.is_completed():
        return {**row, "state": state.name, "result": state.result()}
    return {**row, "state": state.name, "message": state.message}


def _remaining_seconds(context: Any) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return None if remaining is None else remaining() / 1000 - TIMEOUT_MARGIN


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Run the routed flow for each created object; return one summary row per record.

    Each record is handled on its own: a malformed one is reported (`state: malformed`) and
    skipped, a flow run that fails does not stop the next. Then, for an SQS batch, the
    messages whose flow run failed are returned in `batchItemFailures` (only they are retried);
    for a direct S3/EventBridge invocation `FlowRunsFailed` is raised so Lambda retries the
    event (runs are idempotent per key and ETag). Each flow gets a timeout below the
    function's remaining time.
    """
    os.environ.setdefault("PREFECT_HOME", "/tmp/.prefect")  # noqa: S108 - Lambda's only writable dir
    from tasks.common.settings import get_settings

    settings = get_settings()
    routes = registry.routes()
    rows: list[dict[str, Any]] = []
    retry_messages: list[str] = []
    try:
        for record in records(event):
            row = _handle(record, routes, settings, _remaining_seconds(context))
            rows.append(row)
            if row["state"] not in {"ignored", "malformed", "Completed"} and record.message_id:
                retry_messages.append(record.message_id)
    finally:
        if any(row["state"] not in {"ignored", "malformed"} for row in rows):
            _flush_logs()
    if any(r.get("message_id") for r in rows) or retry_messages:
        failures = [{"itemIdentifier": m} for m in dict.fromkeys(retry_messages)]
        return {"records": rows, "batchItemFailures": failures}
    failed = [row for row in rows if row["state"] not in {"ignored", "malformed", "Completed"}]
    if failed:
        raise FlowRunsFailed(
            f"{len(failed)} of {len(rows)} flow run(s) failed: "
            + "; ".join(f"s3://{r['bucket']}/{r['key']}: {r['state']}" for r in failed)
        )
    return {"records": rows}


def _handle(
    record: Record, routes: list[S3Route], settings: Any, timeout: float | None
) -> dict[str, Any]:
    """One record → its summary row (never raises)."""
    ids = {"message_id": record.message_id} if record.message_id else {}
    if record.obj is None:
        return {**ids, "state": "malformed", "error": record.error}
    obj = record.obj
    route = next((r for r in routes if r.matches(obj.bucket, obj.key, settings)), None)
    if route is None:
        return {**ids, "bucket": obj.bucket, "key": obj.key, "state": "ignored"}
    try:
        return {**ids, **_run(route, obj, timeout)}
    except Exception as exc:  # a crash of one record's run must not stop the others
        row = {"bucket": obj.bucket, "key": obj.key, "flow": route.flow}
        return {**ids, **row, "state": "Crashed", "message": f"{type(exc).__name__}: {exc}"}
