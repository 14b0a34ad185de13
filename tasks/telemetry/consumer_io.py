"""The consumer: queue messages → DynamoDB items, high queue first; and the DLQ operations.

A round receives up to 10 messages at a time, always from the high queue while it has any, and
from the low queue only when the high one comes back empty. Each message's items go through the
shared batch writer (`dynamo.batch_write`: ≤25 per request, exact Decimals, duplicate keys
removed, unprocessed items resent with backoff); a message is deleted only after all its items
are written. A message that cannot be stored (malformed, an event DynamoDB refuses, a write that
keeps failing) is not deleted: the rest of its events are written, the error is recorded in
`state/dlq/<batch>.json`, and the message becomes visible again after
`telemetry_failed_visibility_seconds`; at its 3rd receive the redrive policy moves it to the
DLQ. Writes are idempotent (same key, same item), so redelivered messages store nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prefect import get_run_logger

from tasks.common import dynamo, s3
from tasks.common.errors import is_permanent
from tasks.common.runs import io_task, run_parameter
from tasks.common.settings import Settings, get_settings
from tasks.telemetry import plan_core, queue_io
from tasks.telemetry.contract_core import HIGH, LOW, TABLE_KEYS
from tasks.telemetry.messages_core import PoisonMessageError, parse_message
from tasks.telemetry.queue_io import Received


@dataclass
class DrainStats:
    """What consuming did."""

    received: dict[str, int] = field(default_factory=lambda: {HIGH: 0, LOW: 0})
    deleted: int = 0
    failed: int = 0
    items_written: int = 0
    write_requests: int = 0
    unprocessed_resent: int = 0
    order: list[str] = field(default_factory=list)  # queue of each receive, in order
    empty: bool = False
    errors: list[str] = field(default_factory=list)

    def merge(self, other: DrainStats) -> None:
        for queue, n in other.received.items():
            self.received[queue] += n
        self.deleted += other.deleted
        self.failed += other.failed
        self.items_written += other.items_written
        self.write_requests += other.write_requests
        self.unprocessed_resent += other.unprocessed_resent
        self.order += other.order
        self.empty = other.empty
        self.errors += other.errors


def _urls(s: Settings) -> dict[str, str]:
    return {
        HIGH: queue_io.queue_url(s.telemetry_high_queue, s),
        LOW: queue_io.queue_url(s.telemetry_low_queue, s),
    }


@io_task("drain-queues", run_name="drain-queues round {round_no}", timeout=900)
def drain_round(round_no: int, max_receives: int, wait_seconds: int) -> DrainStats:
    """Up to `max_receives` receives, high queue first; stops early when both are empty."""
    s = get_settings()
    urls = _urls(s)
    stats = DrainStats()
    for _ in range(max_receives):
        queue, messages = HIGH, queue_io.receive(urls[HIGH], settings=s)
        if not messages:
            queue, messages = (
                LOW,
                queue_io.receive(urls[LOW], wait_seconds=wait_seconds, settings=s),
            )
        if not messages:
            stats.empty = True
            break
        stats.received[queue] += len(messages)
        stats.order.append(queue)
        handle(urls[queue], queue, messages, stats, s)
    get_run_logger().info(
        "round %d: received %s, deleted %d, failed %d, items %d",
        round_no,
        stats.received,
        stats.deleted,
        stats.failed,
        stats.items_written,
    )
    return stats


def handle(
    url: str, queue: str, messages: Sequence[Received], stats: DrainStats, s: Settings
) -> None:
    """Store each message's items; delete the stored ones; record and delay the others."""
    done: list[Received] = []
    for message in messages:
        error = store(message, stats, s)
        if error is None:
            done.append(message)
            continue
        stats.failed += 1
        stats.errors.append(f"{message.batch or message.message_id}: {error}")
        record_failure(message, queue, error, s)
        queue_io.set_visibility(url, [message], s.telemetry_failed_visibility_seconds, s)
    if done:
        stats.deleted += len(done) - queue_io.delete(url, done, s)


def store(message: Received, stats: DrainStats, s: Settings) -> str | None:
    """Write a message's items; the reason it cannot be deleted yet, or None."""
    try:
        parsed = parse_message(message.body)
    except PoisonMessageError as exc:
        return f"malformed message: {exc}"
    problems = list(parsed.errors)
    try:
        report = dynamo.batch_write(s.telemetry_table, parsed.items, TABLE_KEYS, settings=s)
        stats.items_written += report.written
        stats.write_requests += report.requests
        stats.unprocessed_resent += report.resent
    except Exception as exc:  # one message's failure must not stop the others
        if not is_permanent(exc):
            return f"DynamoDB write failed (will retry): {exc}"
        # DynamoDB refused the request (an item it cannot store): isolate the bad items
        try:
            problems += _store_one_by_one(parsed.items, stats, s)
        except Exception as retry_exc:  # transient while isolating: the whole message waits
            return f"DynamoDB write failed (will retry): {retry_exc}"
    if problems:
        return "; ".join(problems[:5]) + (
            f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        )
    return None


def _store_one_by_one(items: Sequence[dict[str, Any]], stats: DrainStats, s: Settings) -> list[str]:
    """After DynamoDB refused a batch: write item by item, so only the bad ones are left."""
    problems = []
    for item in items:
        try:
            report = dynamo.batch_write(s.telemetry_table, [item], TABLE_KEYS, settings=s)
        except Exception as exc:  # the item's own error, recorded with the message
            if not is_permanent(exc):
                raise
            problems.append(f"{item.get('vehicle_id')} {item.get('timestamp')}: {exc}")
            continue
        stats.items_written += report.written
        stats.write_requests += report.requests
    return problems


def record_name(message: Received) -> str:
    return message.batch or f"message-{message.message_id}"


def record_failure(message: Received, queue: str, error: str, s: Settings) -> None:
    """Why a message could not be stored: `state/dlq/<batch>.json` in the raw bucket."""
    doc = {
        "batch": message.batch,
        "message_id": message.message_id,
        "queue": queue,
        "receive_count": message.receive_count,
        "error": error,
        "failed_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "dead_lettered": message.receive_count >= 3,
    }
    s3.write_json(
        s.telemetry_raw_bucket, plan_core.dlq_record_key(record_name(message)), doc, settings=s
    )


@io_task("read-queue-depths", run_name="read-queue-depths", timeout=60)
def queue_depths() -> dict[str, int]:
    """Messages waiting in the high, low and dead-letter queues."""
    s = get_settings()
    names = {HIGH: s.telemetry_high_queue, LOW: s.telemetry_low_queue, "dlq": s.telemetry_dlq}
    return {q: queue_io.depth(queue_io.queue_url(name, s), s) for q, name in names.items()}


# --- the dead-letter queue --------------------------------------------------------------------


def describe(message: Received, s: Settings) -> dict[str, Any]:
    """What an operator needs to know about a dead-lettered message."""
    info: dict[str, Any] = {
        "message_id": message.message_id,
        "batch": message.batch,
        "receive_count": message.receive_count,
        "priority": None,
        "source_key": None,
        "events": None,
        "error": None,
    }
    try:
        doc = json.loads(message.body)
        if isinstance(doc, dict):
            info["batch"] = info["batch"] or doc.get("batch")
            info["priority"] = doc.get("priority")
            info["source_key"] = doc.get("source_key")
            events = doc.get("events")
            columns = list(events.values()) if isinstance(events, dict) else []
            info["events"] = len(columns[0]) if columns and isinstance(columns[0], list) else 0
    except ValueError:
        info["error"] = "body is not JSON"
    record = s3.read_json(s.telemetry_raw_bucket, plan_core.dlq_record_key(record_name(message)), s)
    if isinstance(record, dict):
        info["error"] = record.get("error")
        info["failed_at"] = record.get("failed_at")
    return info


def _dlq_run_name() -> str:
    return f"{run_parameter('action')}-dlq (up to {run_parameter('max_messages')} messages)"


@io_task("operate-dlq", run_name=_dlq_run_name, retries=0, timeout=900)
def operate_dlq(action: str, batches: list[str] | None, max_messages: int) -> list[dict[str, Any]]:
    """List, redrive or delete dead-lettered messages (`batches`: only these; list: all).

    Every message this reads becomes visible again at once unless it was redriven or deleted.
    Redrive sends the body back to the queue of its priority, then deletes it from the DLQ.
    """
    s = get_settings()
    dlq = queue_io.queue_url(s.telemetry_dlq, s)
    urls = _urls(s)
    seen: dict[str, Received] = {}
    while len(seen) < max_messages:
        got = queue_io.receive(dlq, visibility_timeout=60, settings=s)
        fresh = [m for m in got if m.message_id not in seen]
        if not fresh:
            break
        seen.update((m.message_id, m) for m in fresh)
    rows: list[dict[str, Any]] = []
    handled: list[Received] = []
    for message in seen.values():
        info = describe(message, s)
        wanted = batches is None or info["batch"] in batches or message.message_id in batches
        info["outcome"] = "listed"
        if action in {"redrive", "delete"} and wanted:
            if action == "redrive":
                if info["priority"] not in urls:
                    info["outcome"] = "kept: unknown priority, cannot redrive"
                    rows.append(info)
                    continue
                queue_io.send_body(
                    urls[info["priority"]], message.body, message.batch, info["events"], s
                )
            queue_io.delete(dlq, [message], s)
            handled.append(message)
            info["outcome"] = "redriven" if action == "redrive" else "deleted"
        rows.append(info)
    rest = [m for m in seen.values() if m not in handled]
    if rest:
        queue_io.set_visibility(dlq, rest, 0, s)
    return rows
