"""Fleet telemetry: declaration and demo scenario.

Demo, on the local stack (vehicle metadata and files from `tasks.telemetry.synthetic_core`):
1. file A (two minutes of a 300-vehicle fleet, with bad rows of every reject code and
   duplicates) is uploaded to `incoming/` and its S3 event goes to the Lambda handler;
2. file B repeats A's events and adds later ones: A's events are confirmed duplicates of A;
3. A's event is delivered again: the processed marker makes it a no-op;
4. file C is uploaded without an event (a missed notification): the sweep processes it;
5. a broken producer puts a malformed message on the high queue; the consumer drains the high
   queue, then the low one, into DynamoDB — the malformed message fails three times and the
   redrive policy moves it to the DLQ;
6. the DLQ command lists it with its recorded error, then deletes it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from deployments.registry import Deployment, FlowSpec, Pipeline, S3Route, Schedule

if TYPE_CHECKING:
    from deployments.demo import DemoRow
    from deployments.local_stack import LocalStack

FLEET = 300
DAY = "2024/05/01"
# The consumer retries a failed message at once here (30 s in production), so the demo's
# malformed message reaches the DLQ within one consumer run.
DEMO_ENV = {
    "PIPELINES_TELEMETRY_FAILED_VISIBILITY_SECONDS": "0",
    "PIPELINES_TELEMETRY_RECEIVE_WAIT_SECONDS": "0",
}
POISON = '{"v":1,"batch":"demo-broken-producer","priority":"high","events":"oops"}'


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update({k: v for k, v in values.items() if k not in os.environ})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _file_row(label: str, record: dict[str, Any]) -> DemoRow:
    from deployments.demo import DemoRow

    result = record.get("result") or {}
    messages = result.get("messages") or {}
    return DemoRow(
        "telemetry",
        f"{label}: {result.get('status', '-')} "
        f"({result.get('stored', 0):,} stored, {result.get('duplicates', 0):,} duplicates)",
        record.get("state", "-"),
        objects=int(result.get("archive_objects", 0)) + (1 if result.get("rejects_uri") else 0),
        messages=sum(messages.values()),
        rejects=int(result.get("rejected", 0)),
        where=str(result.get("rejects_uri") or result.get("marker_uri") or "-"),
    )


def demo(stack: LocalStack) -> list[DemoRow]:
    """Files through the Lambda route and the sweep, the consumer, the DLQ (see module doc)."""
    from deployments.demo import DemoRow
    from deployments.lambda_handler import handler
    from deployments.pipelines.csv_profile import s3_event
    from flows.telemetry import telemetry_consume, telemetry_dlq, telemetry_sweep
    from tasks.common import aws, s3
    from tasks.common.settings import get_settings
    from tasks.telemetry import queue_io
    from tasks.telemetry.synthetic_core import generate_bytes, make_fleet

    rows: list[DemoRow] = []
    with _env(DEMO_ENV):
        s = get_settings()
        bucket = s.telemetry_raw_bucket
        fleet = make_fleet(FLEET, seed=3)
        s3.put_bytes(
            bucket,
            s.telemetry_metadata_location,
            json.dumps(fleet.document).encode(),
            content_type=s3.JSON,
        )
        a, _ = generate_bytes(fleet, 4, seed=5, block_steps=2)
        b, _ = generate_bytes(fleet, 6, seed=5, block_steps=2)  # A's blocks, then more
        c, _ = generate_bytes(fleet, 2, seed=9, start_ms=1_714_608_000_000)  # the next day

        def upload(name: str, body: bytes) -> tuple[str, str]:
            key = f"incoming/{DAY}/{name}"
            s3.put_bytes(bucket, key, body, content_type=s3.CSV)
            return key, s3.md5_hex(body)

        for label, name, body in (("file A", "fleet-a.csv", a), ("file B", "fleet-b.csv", b)):
            key, etag = upload(name, body)
            records = handler(s3_event(bucket, key, etag, len(body)))["records"]
            rows.extend(_file_row(f"{label} via Lambda", record) for record in records)
        key_a = f"incoming/{DAY}/fleet-a.csv"
        records = handler(s3_event(bucket, key_a, s3.md5_hex(a), len(a)))["records"]
        rows.extend(_file_row("file A event again", record) for record in records)

        upload("fleet-c-missed-event.csv", c)
        state = telemetry_sweep(return_state=True)
        sweep: dict[str, Any] = dict(state.result()) if state.is_completed() else {}
        rows.append(
            DemoRow(
                "telemetry",
                f"sweep: {sweep.get('by_status', {})} "
                f"({sweep.get('already_processed', 0)} already processed)",
                state.name or "-",
                where=f"s3://{bucket}/incoming/",
            )
        )

        high = queue_io.queue_url(s.telemetry_high_queue)
        aws.sqs().send_message(QueueUrl=high, MessageBody=POISON)
        consume_state = telemetry_consume(return_state=True)
        consumed: dict[str, Any] = (
            dict(consume_state.result()) if consume_state.is_completed() else {}
        )
        rows.append(
            DemoRow(
                "telemetry",
                f"consume: received {consumed.get('received')}, "
                f"{consumed.get('failed', 0)} failed receive(s) → DLQ depth "
                f"{(consumed.get('queue_depth') or {}).get('dlq')}",
                consume_state.name or "-",
                items=int(consumed.get("items_written", 0)),
                messages=int(consumed.get("deleted", 0)),
                where=s.telemetry_table,
            )
        )
        for action, batches in (("list", None), ("delete", ["demo-broken-producer"])):
            dlq_state = telemetry_dlq(action=action, batches=batches, return_state=True)
            result: dict[str, Any] = dict(dlq_state.result()) if dlq_state.is_completed() else {}
            listed = result.get("messages") or []
            errors = {m.get("batch"): m.get("error") for m in listed}
            rows.append(
                DemoRow(
                    "telemetry",
                    f"dlq {action}: {errors}"[:110],
                    dlq_state.name or "-",
                    messages=len(listed),
                    where=s.telemetry_dlq,
                )
            )
    return rows


PIPELINE = Pipeline(
    name="telemetry",
    title="Fleet telemetry",
    summary="GPS CSV `incoming/*.csv` + vehicle metadata (cache-aside, Redis) → validated, "
    "deduplicated events → SQS high/low → DynamoDB `fleet-telemetry-events`; Parquet archive "
    "`events/date=…/`; rejects with reasons",
    flows=(
        FlowSpec(
            "telemetry-file",
            "flows/telemetry.py:telemetry_file",
            "one uploaded GPS CSV (incoming/*.csv) → queues, Parquet archive, rejects, marker",
        ),
        FlowSpec(
            "telemetry-sweep",
            "flows/telemetry.py:telemetry_sweep",
            "every incoming/*.csv whose current version has no processed marker",
        ),
        FlowSpec(
            "telemetry-consume",
            "flows/telemetry.py:telemetry_consume",
            "drain the high queue, then the low one, into DynamoDB",
        ),
        FlowSpec(
            "telemetry-dlq",
            "flows/telemetry.py:telemetry_dlq",
            "list, redrive or delete dead-lettered telemetry messages",
        ),
    ),
    deployments=(
        Deployment(
            "telemetry-consume",
            "telemetry-consume",
            "Every minute: drain the high queue before the low one into DynamoDB for up to 50 s "
            "(a run that finds both queues empty ends at once).",
            parameters={"max_messages": 20000, "max_seconds": 50.0},
            schedules=(Schedule("* * * * *", "UTC"),),
            concurrency_limit=1,
            tags=("telemetry", "consume"),
        ),
        Deployment(
            "telemetry-sweep",
            "telemetry-sweep",
            "Hourly safety net: process every incoming/*.csv whose current version has no "
            "processed marker (missed S3 events, failed Lambda retries). Reprocess a file or a "
            "day with prefix=incoming/2024/05/01/ force=true (idempotent).",
            parameters={"prefix": "incoming/", "max_files": 500, "force": False},
            schedules=(Schedule("20 * * * *", "UTC"),),
            concurrency_limit=1,
            tags=("telemetry", "sweep"),
        ),
        Deployment(
            "telemetry-dlq",
            "telemetry-dlq",
            "On demand: list the DLQ with each message's recorded error; redrive or delete.",
            parameters={"action": "list", "max_messages": 100},
            concurrency_limit=1,
            tags=("telemetry", "dlq"),
        ),
    ),
    routes=(
        S3Route(
            flow="telemetry-file",
            bucket_setting="telemetry_raw_bucket",
            prefix="incoming/",
            suffix=".csv",
            # 4 MiB chunks (~90k rows) keep the in-process flow well under the 512 MB function
            env=(("PIPELINES_TELEMETRY_CHUNK_BYTES", str(4 << 20)),),
        ),
    ),
    role="TelemetryRole",
    settings_prefixes=("telemetry_", "redis_"),
    demo=demo,
    docs="docs/telemetry.md",
)
