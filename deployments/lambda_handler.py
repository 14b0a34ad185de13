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


class FlowRunsFailed(RuntimeError):
    """At least one flow run of this invocation did not complete (Lambda will retry)."""


def s3_objects(event: Mapping[str, Any]) -> Iterator[S3Object]:
    """Every created object an event names (S3 notification, EventBridge, SQS-wrapped)."""
    if event.get("source") == "aws.s3" and "detail" in event:
        if event.get("detail-type") == "Object Created":
            detail = event["detail"]
            obj = detail.get("object", {})
            yield S3Object(detail["bucket"]["name"], obj["key"], obj.get("etag"))
        return
    for record in event.get("Records") or []:
        if record.get("eventSource") == "aws:sqs":
            yield from s3_objects(json.loads(record.get("body") or "{}"))
        elif record.get("eventSource") == "aws:s3" and str(record.get("eventName", "")).startswith(
            "ObjectCreated:"
        ):
            s3 = record["s3"]
            yield S3Object(
                s3["bucket"]["name"],
                unquote_plus(s3["object"]["key"]),  # S3 notifications URL-encode keys
                s3["object"].get("eTag"),
            )


def _flush_logs() -> None:
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()


def _run(route: S3Route, obj: S3Object) -> dict[str, Any]:
    for name, value in route.env:
        os.environ.setdefault(name, value)
    flow = registry.get_flow(route.flow).load()
    state = flow(**route.parameters(obj.bucket, obj.key, obj.etag), return_state=True)
    row: dict[str, Any] = {"bucket": obj.bucket, "key": obj.key, "flow": route.flow}
    if state.is_completed():
        return {**row, "state": state.name, "result": state.result()}
    return {**row, "state": state.name, "message": state.message}


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Run the routed flow for each created object; return one summary row per object.

    Raises `FlowRunsFailed` (after all records are processed) if any run did not complete.
    """
    os.environ.setdefault("PREFECT_HOME", "/tmp/.prefect")  # noqa: S108 - Lambda's only writable dir
    from tasks.common.settings import get_settings

    settings = get_settings()
    routes = registry.routes()
    rows: list[dict[str, Any]] = []
    try:
        for obj in s3_objects(event):
            route = next((r for r in routes if r.matches(obj.bucket, obj.key, settings)), None)
            if route is None:
                rows.append({"bucket": obj.bucket, "key": obj.key, "state": "ignored"})
                continue
            rows.append(_run(route, obj))
    finally:
        if any(row["state"] != "ignored" for row in rows):
            _flush_logs()
    failed = [row for row in rows if row["state"] not in {"ignored", "Completed"}]
    if failed:
        raise FlowRunsFailed(
            f"{len(failed)} of {len(rows)} flow run(s) failed: "
            + "; ".join(f"s3://{r['bucket']}/{r['key']}: {r['state']}" for r in failed)
        )
    return {"records": rows}
