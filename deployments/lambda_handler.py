"""AWS Lambda entry point: S3 "object created" events → the registered flow, run in-process.

Pattern (b) of PREFECT.md: the function runs the flow itself with `PREFECT_API_URL` pointing at
the Prefect server (so the run, its task runs, logs and artifacts appear there),
`PREFECT_HOME=/tmp/.prefect` (the only writable path) and
`PREFECT_SERVER_EPHEMERAL_ENABLED=false` (a missing API URL fails instead of starting SQLite),
and flushes the API log handler before returning, or the last logs are lost with the sandbox.

Accepted events: S3 notifications (`Records[].s3`, keys URL-encoded), EventBridge
"Object Created" events (`detail.bucket/object`, keys as stored) and SQS messages carrying
either (`Records[].body`). Each object is matched against `ROUTES` — bucket (a settings field),
key prefix and suffix — and the route's flow runs once per object; unmatched objects are
reported as `ignored`. If any flow run does not complete, the handler raises after processing
every record, so Lambda's retry re-delivers the event (runs are idempotent per key and ETag).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import flows


@dataclass(frozen=True)
class S3Route:
    """Objects created in the bucket named by setting `bucket_setting`, whose key starts with
    `prefix` and ends with `suffix`, run flow `flow` (a `flows.FLOWS` name) with the object's
    key, bucket and ETag passed as the parameters named here (None: not passed)."""

    flow: str
    bucket_setting: str
    prefix: str
    suffix: str
    key_param: str = "key"
    bucket_param: str | None = "bucket"
    etag_param: str | None = "etag"
    # environment defaults for this flow under Lambda (a variable already set wins)
    env: tuple[tuple[str, str], ...] = ()

    def matches(self, obj: S3Object, settings: Any) -> bool:
        bucket = getattr(settings, self.bucket_setting)
        return (
            obj.bucket == bucket
            and obj.key.startswith(self.prefix)
            and obj.key.endswith(self.suffix)
        )

    def parameters(self, obj: S3Object) -> dict[str, Any]:
        params: dict[str, Any] = {self.key_param: obj.key}
        if self.bucket_param:
            params[self.bucket_param] = obj.bucket
        if self.etag_param and obj.etag:
            params[self.etag_param] = obj.etag
        return params


# Add a route per S3-triggered pipeline (the template's S3 notifications must match).
ROUTES: tuple[S3Route, ...] = (
    S3Route(
        flow="csv-profile",
        bucket_setting="csv_bucket",
        prefix="uploads/",
        suffix=".csv",
        # 1 MiB parse blocks: measured peak 405 MB in-process with Prefect (455 MB at 2 MiB),
        # leaving room under the function's 512 MB
        env=(("PIPELINES_CSV_BLOCK_BYTES", str(1 << 20)),),
    ),
)


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
    flow = flows.get(route.flow).load()
    state = flow(**route.parameters(obj), return_state=True)
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
    rows: list[dict[str, Any]] = []
    try:
        for obj in s3_objects(event):
            route = next((r for r in ROUTES if r.matches(obj, settings)), None)
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
