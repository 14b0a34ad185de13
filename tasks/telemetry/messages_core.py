"""Queue messages (pure): stored events → JSON batches under a byte limit, and back to items.

A message carries a batch of events of one priority, sorted by vehicle and time, and the metadata
record of each vehicle it mentions, so it is self-contained (a redriven or replayed message
needs nothing else). Events are columns (one JSON array per field, same length):

```
{"v":1,"batch":"<file id>-<chunk>-<h|l><n>","source_key":"incoming/...","priority":"high",
 "vehicles":{"V00042":{"depot_lat":40.7,...}},
 "events":{"vehicle_id":["V00042","V00042",...],"timestamp":["2024-05-01T08:15:30.000Z",...],
           "lat":["40.7128",...],"lon":[...],"speed":[...],"engine_status":["moving",...],
           "distance_from_depot_km":["3.271",...],"heading":["90",""...],"odometer":[...]
           (,"expires_at":["1717143330",...])}}
```

Every value is a string: numbers as decimal text (the text of the file, or the float's shortest
repr), so DynamoDB stores exactly that decimal; `heading`/`odometer` are `""` when absent;
`expires_at` (epoch seconds) is a field only when a retention is configured. Messages are built
with Arrow string kernels (each column of every message is one `binary_join` over list
slices), so building them costs no per-event Python.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.telemetry.contract_core import (
    ENGINE_STATUSES,
    EVENT_ATTRIBUTES,
    HIGH,
    PRIORITY_OF_STATUS,
)
from tasks.telemetry.values_core import format_instants, format_milli

VERSION = 1
# the per-event columns of a message: the stored attributes before `source_key` (one per message)
BASE_FIELDS = EVENT_ATTRIBUTES[: EVENT_ATTRIBUTES.index("source_key")]
_STATUS_JSON = pa.array(list(ENGINE_STATUSES), pa.string())

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")

IntArray = np.ndarray[Any, np.dtype[np.int64]]


class PoisonMessageError(ValueError):
    """A message that can never be stored as it is (malformed body or events)."""


@dataclass(frozen=True)
class Events:
    """Stored events of one chunk and priority, in message order (vehicle code, instant)."""

    codes: IntArray
    ms: IntArray
    lat: pa.Array[Any]  # decimal text
    lon: pa.Array[Any]
    speed: pa.Array[Any]
    status: np.ndarray[Any, np.dtype[np.int8]]  # index into ENGINE_STATUSES
    distance_milli: IntArray
    heading: pa.Array[Any]  # decimal text or null
    odometer: pa.Array[Any]
    expires_at: IntArray | None = None

    def __len__(self) -> int:
        return len(self.codes)


@dataclass(frozen=True)
class Message:
    """One queue message."""

    batch: str
    priority: str
    body: str
    events: int


def fields(with_expiry: bool) -> tuple[str, ...]:
    return BASE_FIELDS + (("expires_at",) if with_expiry else ())


def event_columns(events: Events, vehicle_json: pa.Array[Any]) -> list[pa.Array[Any]]:
    """The message fields of the events as string columns (JSON-safe text, in `fields` order).

    `vehicle_json` is each vehicle id JSON-escaped without its quotes, indexed by code.
    """
    columns = [
        pc.take(vehicle_json, pa.array(events.codes)),  # type: ignore[arg-type]
        format_instants(events.ms),
        events.lat,
        events.lon,
        events.speed,
        pc.take(_STATUS_JSON, pa.array(events.status.astype(np.int64))),
        format_milli(events.distance_milli),
        pc.fill_null(events.heading, ""),  # type: ignore[type-var]
        pc.fill_null(events.odometer, ""),  # type: ignore[type-var]
    ]
    if events.expires_at is not None:
        columns.append(pc.cast(pa.array(events.expires_at), pa.string()))
    return [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in columns]  # type: ignore[misc]


def _lengths(column: pa.Array[Any]) -> IntArray:
    offsets = np.frombuffer(column.buffers()[1], np.int32, len(column) + 1, column.offset * 4)  # type: ignore[call-overload]
    return np.diff(offsets).astype(np.int64)  # type: ignore[no-any-return]


def build_messages(
    events: Events,
    *,
    priority: str,
    batch_prefix: str,
    source_key: str,
    vehicle_json: pa.Array[Any],
    vehicle_entries: Sequence[str],
    entry_lengths: np.ndarray[Any, np.dtype[np.int64]] | Sequence[int],
    max_bytes: int,
    with_expiry: bool,
) -> list[Message]:
    """Pack events (already in message order) into messages of at most `max_bytes` bytes.

    `vehicle_json[code]` is a vehicle id JSON-escaped (without quotes), `vehicle_entries[code]`
    its `"<id>":<record>` member of the message's `vehicles` object. Each column of a message
    is one Arrow `binary_join` over list slices of that column: no per-event Python.
    """
    n = len(events)
    if not n:
        return []
    names = fields(with_expiry)
    columns = event_columns(events, vehicle_json)
    codes = events.codes
    entry = vehicle_entries
    entry_len = np.asarray(entry_lengths, np.int64) + 1  # with its separating comma
    starts_run = np.ones(n, dtype=bool)
    starts_run[1:] = codes[1:] != codes[:-1]
    cost = sum(_lengths(c) for c in columns) + 3 * len(names)  # `","` after each value
    cost = cost + np.where(starts_run, entry_len[codes], 0)
    cumulative = np.concatenate(([0], np.cumsum(cost)))
    head = _head(f"{batch_prefix}-{priority[0]}000000", source_key, priority)
    frame = len(head) + len(_events_json(names, [""] * len(names))) + 1
    budget = max_bytes - frame - int(entry_len[codes].max())
    if budget < int(cost.max()):
        raise PoisonMessageError(
            f"one event with its vehicle record needs {int(cost.max()) + frame} bytes, "
            f"more than the message limit of {max_bytes}"
        )
    bounds = [0]
    while bounds[-1] < n:
        start = bounds[-1]
        end = int(np.searchsorted(cumulative, cumulative[start] + budget, side="right")) - 1
        bounds.append(min(max(end, start + 1), n))
    offsets = pa.array(bounds, pa.int32())
    joined = [
        pc.binary_join(pa.ListArray.from_arrays(offsets, column), '","').to_pylist()  # type: ignore[union-attr]
        for column in columns
    ]
    messages: list[Message] = []
    tag = priority[0]
    for m, (start, end) in enumerate(itertools.pairwise(bounds)):
        batch = f"{batch_prefix}-{tag}{m:05d}"
        vehicles = ",".join(entry[c] for c in _distinct(codes[start:end]))
        values = [column[m] for column in joined]
        body = _head(batch, source_key, priority) + vehicles + _events_json(names, values)  # type: ignore[arg-type]
        messages.append(Message(batch, priority, body, end - start))
    return messages


def _events_json(names: Sequence[str], joined: Sequence[str]) -> str:
    """`},"events":{"<field>":["v1","v2",…],…}}` from each field's `","`-joined values."""
    columns = ",".join(f'"{name}":["{text}"]' for name, text in zip(names, joined, strict=True))
    return '},"events":{' + columns + "}}"


def _distinct(codes: IntArray) -> list[int]:
    keep = np.ones(len(codes), dtype=bool)
    keep[1:] = codes[1:] != codes[:-1]
    return [int(c) for c in codes[keep].tolist()]


def _head(batch: str, source_key: str, priority: str) -> str:
    return (
        f'{{"v":{VERSION},"batch":{json.dumps(batch)},"source_key":{json.dumps(source_key)},'
        f'"priority":{json.dumps(priority)},"vehicles":{{'
    )


# --- consumer side --------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedMessage:
    """A message's items ready for DynamoDB, and the events that cannot be stored."""

    batch: str
    priority: str
    source_key: str
    items: list[dict[str, Any]]
    errors: list[str]


def _decimal(text: Any, name: str) -> Decimal:
    if not isinstance(text, str):
        raise ValueError(f"{name} {text!r} is not a decimal string")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{name} {text!r} is not finite")
    return value


def parse_message(body: str) -> ParsedMessage:
    """Items of a message body; `PoisonMessageError` if the body itself is malformed.

    Events that cannot be stored are reported in `errors` (the others are still stored).
    """
    try:
        doc = json.loads(body, parse_float=Decimal)
    except ValueError as exc:
        raise PoisonMessageError(f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("v") != VERSION:
        raise PoisonMessageError(f"not a version-{VERSION} telemetry message")
    try:
        batch, priority, source_key = str(doc["batch"]), str(doc["priority"]), doc["source_key"]
        vehicles, columns = doc["vehicles"], doc["events"]
    except KeyError as exc:
        raise PoisonMessageError(f"message lacks {exc.args[0]!r}") from None
    if not (
        isinstance(vehicles, dict)
        and isinstance(columns, dict)
        and isinstance(source_key, str)
        and set(BASE_FIELDS) <= set(columns)
        and all(isinstance(c, list) for c in columns.values())
        and len({len(c) for c in columns.values()}) == 1
    ):
        raise PoisonMessageError("message vehicles or event columns are malformed")
    names = list(columns)
    items: list[dict[str, Any]] = []
    errors: list[str] = []
    for i, row in enumerate(zip(*columns.values(), strict=True)):
        try:
            items.append(_item(dict(zip(names, row, strict=True)), vehicles, source_key, priority))
        except ValueError as exc:
            errors.append(f"event {i}: {exc}")
    return ParsedMessage(batch, priority, source_key, items, errors)


def _item(
    event: dict[str, Any], vehicles: Mapping[str, Any], source_key: str, priority: str
) -> dict[str, Any]:
    vehicle_id, timestamp, status = event["vehicle_id"], event["timestamp"], event["engine_status"]
    if not isinstance(vehicle_id, str) or not vehicle_id:
        raise ValueError(f"vehicle_id {vehicle_id!r} is not a non-empty string")
    if not isinstance(timestamp, str) or not _TIMESTAMP.fullmatch(timestamp):
        raise ValueError(f"timestamp {timestamp!r} is not YYYY-MM-DDTHH:MM:SS.mmmZ")
    if status not in ENGINE_STATUSES or (PRIORITY_OF_STATUS[status] == HIGH) != (priority == HIGH):
        raise ValueError(f"engine_status {status!r} does not belong in the {priority} queue")
    record = vehicles.get(vehicle_id)
    if not isinstance(record, dict):
        raise ValueError(f"vehicle {vehicle_id!r} has no metadata record in the message")
    item: dict[str, Any] = {k: v for k, v in record.items() if k not in EVENT_ATTRIBUTES}
    item.update(
        vehicle_id=vehicle_id,
        timestamp=timestamp,
        lat=_decimal(event["lat"], "lat"),
        lon=_decimal(event["lon"], "lon"),
        speed=_decimal(event["speed"], "speed"),
        engine_status=status,
        distance_from_depot_km=_decimal(event["distance_from_depot_km"], "distance"),
        source_key=source_key,
    )
    for name in ("heading", "odometer"):
        if event[name] not in (None, ""):
            item[name] = _decimal(event[name], name)
    if event.get("expires_at") not in (None, ""):
        expires = event["expires_at"]
        if not isinstance(expires, str) or not expires.isdigit():
            raise ValueError(f"expires_at {expires!r} is not epoch seconds")
        item["expires_at"] = int(expires)
    return item


def send_groups(messages: Sequence[Message], max_batch_bytes: int) -> Iterator[list[Message]]:
    """Messages in groups for one `SendMessageBatch` each: at most 10 entries and
    `max_batch_bytes` of bodies (SQS limits the whole request, not just each message)."""
    group: list[Message] = []
    size = 0
    for message in messages:
        if group and (len(group) == 10 or size + len(message.body) > max_batch_bytes):
            yield group
            group, size = [], 0
        group.append(message)
        size += len(message.body)
    if group:
        yield group
