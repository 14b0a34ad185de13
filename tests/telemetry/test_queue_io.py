"""SQS sends: 10 per SendMessageBatch, `Failed` entries resent, refused messages permanent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tasks.common import aws
from tasks.common.errors import is_permanent
from tasks.common.settings import get_settings
from tasks.telemetry import queue_io
from tasks.telemetry.messages_core import Message


@pytest.fixture
def queues(aws: None) -> Iterator[dict[str, str]]:
    """High, low and dead-letter queues as the template makes them (redrive after 3)."""
    from tasks.common import aws as factory

    s = get_settings()
    queue_io.clear_urls()
    sqs = factory.sqs()
    dlq = sqs.create_queue(QueueName=s.telemetry_dlq)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
    urls = {"dlq": dlq}
    for priority, name in (("high", s.telemetry_high_queue), ("low", s.telemetry_low_queue)):
        urls[priority] = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": redrive})[
            "QueueUrl"
        ]
    yield urls
    queue_io.clear_urls()


def messages(n: int, priority: str = "high", size: int = 100) -> list[Message]:
    return [
        Message(f"f-00000-{priority[0]}{i:05d}", priority, f'{{"i":{i}}}'.ljust(size), 3)
        for i in range(n)
    ]


def fail_entries(count: int, sender: bool = False, times: int = 1) -> Any:
    """An after-call hook that reports the first `count` entries of a batch as Failed."""
    left = [times]

    def hook(parsed: dict[str, Any], **_: Any) -> None:
        if left[0] <= 0:
            return
        left[0] -= 1
        moved = parsed.get("Successful", [])[:count]
        parsed["Successful"] = parsed.get("Successful", [])[count:]
        parsed["Failed"] = [
            {
                "Id": e["Id"],
                "SenderFault": sender,
                "Code": "InvalidMessageContents" if sender else "InternalError",
                "Message": "injected",
            }
            for e in moved
        ]

    return hook


def depth(url: str) -> int:
    attributes = aws.sqs().get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_messages_go_to_their_queue_ten_per_request(queues: dict[str, str]) -> None:
    sent = queue_io.send_messages(messages(23, "high") + messages(4, "low"), queues)
    assert (sent.messages, sent.requests, sent.resent) == (27, 4, 0)
    assert sent.events == 81
    assert (depth(queues["high"]), depth(queues["low"])) == (23, 4)


def test_failed_entries_are_resent(queues: dict[str, str]) -> None:
    aws.sqs().meta.events.register("after-call.sqs.SendMessageBatch", fail_entries(3))
    stats = queue_io.send_group(queues["high"], messages(10), sleep=lambda _s: None)
    assert (stats.requests, stats.resent) == (2, 3)
    # SQS reported 3 entries failed although it had queued them: at-least-once delivery
    assert depth(queues["high"]) == 13


def test_entries_failing_every_attempt_are_a_transient_error(queues: dict[str, str]) -> None:
    aws.sqs().meta.events.register("after-call.sqs.SendMessageBatch", fail_entries(2, times=99))
    with pytest.raises(queue_io.SendError, match=r"2 message\(s\) .* still failing after 6"):
        queue_io.send_group(queues["high"], messages(5), sleep=lambda _s: None)
    assert not is_permanent(queue_io.SendError("x"))


def test_a_refused_message_is_a_permanent_error(queues: dict[str, str]) -> None:
    aws.sqs().meta.events.register("after-call.sqs.SendMessageBatch", fail_entries(1, True))
    with pytest.raises(queue_io.MessageRefusedError, match="InvalidMessageContents") as caught:
        queue_io.send_group(queues["high"], messages(2), sleep=lambda _s: None)
    assert is_permanent(caught.value)


def test_a_batch_never_exceeds_the_request_byte_limit(
    queues: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINES_TELEMETRY_BATCH_BYTES", "250000")
    sent = queue_io.send_messages(messages(10, size=100_000), queues)
    assert sent.requests == 5  # two 100 kB messages per request
    assert depth(queues["high"]) == 10
