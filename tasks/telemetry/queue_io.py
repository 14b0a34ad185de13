"""SQS for telemetry: queue URLs, batched sends that resend `Failed` entries, receives, deletes.

- `send_messages`: one `SendMessageBatch` per ≤10 messages of one queue and ≤ the batch byte
  limit, a bounded pool of parallel requests; entries that come back in `Failed` (HTTP 200 with
  partial failure) are resent with backoff; a sender fault (the message itself is refused) is a
  permanent error, anything still failing after the attempts is transient (the task retries;
  consumers are idempotent, so a message sent twice stores the same items).
- Receives ask for `ApproximateReceiveCount` (the redrive policy dead-letters a message after
  its 3rd receive) and message attributes; deletes are batched and report what failed.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tasks.common import aws
from tasks.common.errors import PermanentError
from tasks.common.settings import Settings, get_settings
from tasks.telemetry.messages_core import Message, send_groups

SEND_ATTEMPTS = 6
_urls: dict[tuple[Any, ...], str] = {}
_lock = threading.Lock()


class SendError(RuntimeError):
    """Messages still refused after every attempt (throttling, a service error): retry later."""


class MessageRefusedError(PermanentError):
    """SQS refused a message itself (sender fault: too large, invalid characters)."""


def queue_url(name: str, settings: Settings | None = None) -> str:
    """The URL of queue `name` (looked up once per process and endpoint)."""
    s = settings or get_settings()
    key = (s.aws_endpoint_url, s.aws_region, name)
    with _lock:
        if key in _urls:
            return _urls[key]
    url = str(aws.sqs(s).get_queue_url(QueueName=name)["QueueUrl"])
    with _lock:
        _urls[key] = url
    return url


def clear_urls() -> None:
    """Forget cached queue URLs (tests that recreate queues)."""
    with _lock:
        _urls.clear()


@dataclass
class SendStats:
    """What a send did."""

    messages: int = 0
    events: int = 0
    requests: int = 0
    resent: int = 0
    bytes: int = 0

    def __add__(self, other: SendStats) -> SendStats:
        return SendStats(
            self.messages + other.messages,
            self.events + other.events,
            self.requests + other.requests,
            self.resent + other.resent,
            self.bytes + other.bytes,
        )


def _entry(index: int, message: Message) -> dict[str, Any]:
    return {
        "Id": f"m{index}",
        "MessageBody": message.body,
        "MessageAttributes": {
            "batch": {"DataType": "String", "StringValue": message.batch},
            "events": {"DataType": "Number", "StringValue": str(message.events)},
        },
    }


def send_group(
    url: str,
    group: Sequence[Message],
    settings: Settings | None = None,
    *,
    attempts: int = SEND_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> SendStats:
    """One `SendMessageBatch` of ≤10 messages, resending `Failed` entries with backoff."""
    client = aws.sqs(settings)
    pending = {f"m{i}": m for i, m in enumerate(group)}
    stats = SendStats(
        len(group), sum(m.events for m in group), 0, 0, sum(len(m.body) for m in group)
    )
    for attempt in range(attempts):
        if attempt:
            sleep(random.uniform(0, min(5.0, 0.1 * 2**attempt)))  # noqa: S311 - jitter
            stats.resent += len(pending)
        entries = [_entry(int(i[1:]), m) for i, m in pending.items()]
        response = client.send_message_batch(QueueUrl=url, Entries=entries)  # type: ignore[arg-type]
        stats.requests += 1
        failed = response.get("Failed", [])
        if not failed:
            return stats
        refused = [f for f in failed if f.get("SenderFault")]
        if refused:
            first = refused[0]
            raise MessageRefusedError(
                f"SQS refused {len(refused)} message(s) of {url.rsplit('/', 1)[-1]}: "
                f"{first.get('Code')} {first.get('Message', '')} "
                f"(batch {pending[first['Id']].batch})"
            )
        pending = {f["Id"]: pending[f["Id"]] for f in failed}
    raise SendError(
        f"{len(pending)} message(s) to {url.rsplit('/', 1)[-1]} still failing after "
        f"{attempts} attempts: {sorted(m.batch for m in pending.values())[:3]}"
    )


def send_messages(
    messages: Sequence[Message], urls: dict[str, str], settings: Settings | None = None
) -> SendStats:
    """Send messages to the queue of their priority, ≤10 per request, requests in parallel."""
    s = settings or get_settings()
    groups = [
        (urls[priority], group)
        for priority in sorted({m.priority for m in messages})
        for group in send_groups(
            [m for m in messages if m.priority == priority], s.telemetry_batch_bytes
        )
    ]
    if not groups:
        return SendStats()
    workers = min(s.telemetry_send_workers, len(groups))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda g: send_group(g[0], g[1], s), groups))
    total = SendStats()
    for result in results:
        total = total + result
    return total


# --- receiving --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One received message."""

    message_id: str
    receipt: str
    body: str
    receive_count: int
    batch: str | None


def receive(
    url: str,
    *,
    wait_seconds: int = 0,
    visibility_timeout: int | None = None,
    settings: Settings | None = None,
) -> list[Received]:
    """Up to 10 messages from `url`."""
    extra: dict[str, Any] = {}
    if visibility_timeout is not None:
        extra["VisibilityTimeout"] = visibility_timeout
    response = aws.sqs(settings).receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=wait_seconds,
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
        MessageAttributeNames=["All"],
        **extra,
    )
    found = []
    for m in response.get("Messages", []):
        attributes: dict[str, Any] = dict(m.get("MessageAttributes") or {})
        batch = attributes.get("batch", {}).get("StringValue")
        found.append(
            Received(
                message_id=m["MessageId"],
                receipt=m["ReceiptHandle"],
                body=m["Body"],
                receive_count=int((m.get("Attributes") or {}).get("ApproximateReceiveCount", 1)),
                batch=batch,
            )
        )
    return found


def delete(url: str, messages: Sequence[Received], settings: Settings | None = None) -> int:
    """Delete messages (≤10 per request); returns how many SQS did not delete."""
    failed = 0
    client = aws.sqs(settings)
    for start in range(0, len(messages), 10):
        group = messages[start : start + 10]
        response = client.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": f"d{i}", "ReceiptHandle": m.receipt} for i, m in enumerate(group)],
        )
        failed += len(response.get("Failed", []))
    return failed


def set_visibility(
    url: str, messages: Sequence[Received], seconds: int, settings: Settings | None = None
) -> None:
    """Make messages visible again after `seconds` (0: at once)."""
    client = aws.sqs(settings)
    for start in range(0, len(messages), 10):
        group = messages[start : start + 10]
        client.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": f"v{i}", "ReceiptHandle": m.receipt, "VisibilityTimeout": seconds}
                for i, m in enumerate(group)
            ],
        )


def depth(url: str, settings: Settings | None = None) -> int:
    """Messages waiting in a queue (visible + in flight, approximate)."""
    attributes = aws.sqs(settings).get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
        attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
    )


def send_body(
    url: str, body: str, batch: str | None, events: int | None, settings: Settings | None = None
) -> None:
    """Send one message (the DLQ redrive), with the attributes the producer gives them."""
    attributes: dict[str, Any] = {}
    if batch:
        attributes["batch"] = {"DataType": "String", "StringValue": batch}
    if events is not None:
        attributes["events"] = {"DataType": "Number", "StringValue": str(events)}
    aws.sqs(settings).send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": "r0", "MessageBody": body, "MessageAttributes": attributes}],
    )
