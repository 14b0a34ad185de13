"""DynamoDB for every pipeline: exact numbers, batch writes that lose nothing, paginated reads.

- Numbers are `Decimal` (DynamoDB rejects floats): a float becomes the Decimal of its shortest
  repr (`0.1` → `Decimal("0.1")`, not the binary expansion); NaN and ±Inf cannot be stored and
  raise `NonFiniteNumberError` naming the attribute.
- `batch_write` sends ≤25 items per `BatchWriteItem`, removes duplicate keys inside a batch
  (DynamoDB rejects the whole batch otherwise; the last one wins, as sequential puts would) and
  resends `UnprocessedItems` with exponential backoff and full jitter until none remain or
  `max_attempts` is spent (`BatchWriteError`, transient).
- `put_item` with a condition raises `ConflictError` when the condition fails; so does
  `update_item` (a conditional in-place update, e.g. adding an attribute only where it is absent).
- `query` and `scan_segment` page through results and count what they read (`ReadStats`:
  items, items scanned, pages, consumed read capacity); each scan segment gets its own client,
  so the segments of a parallel scan share no connection pool. `scan_pages` yields the same
  scan page by page with each page's `LastEvaluatedKey`, and starts after a given key: a scan
  that stores the key after each page's work can resume where it stopped.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from tasks.common import aws
from tasks.common.errors import ConflictError, PermanentError
from tasks.common.settings import Settings

MAX_BATCH_WRITE = 25  # DynamoDB's limit per BatchWriteItem
MAX_BATCH_GET = 100  # and per BatchGetItem
AttributeValues = dict[str, Any]

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class NonFiniteNumberError(PermanentError, ValueError):
    """NaN or ±Infinity cannot be stored in DynamoDB."""


class BatchWriteError(RuntimeError):
    """Items were still unprocessed after every attempt (throttling): retry the task later."""


def to_dynamo(value: Any, path: str = "value") -> Any:
    """`value` with every float as an exact Decimal (shortest repr); NaN/Inf rejected."""
    if isinstance(value, bool) or value is None or isinstance(value, str | bytes | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NonFiniteNumberError(f"{path}: {value!r} is not a finite number")
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise NonFiniteNumberError(f"{path}: {value!r} is not a finite number")
        return value
    if isinstance(value, Mapping):
        return {str(k): to_dynamo(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamo(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        return {to_dynamo(v, path) for v in value}
    raise TypeError(f"{path}: cannot store a {type(value).__name__} in DynamoDB")


def serialize(item: Mapping[str, Any]) -> AttributeValues:
    """A plain item → DynamoDB attribute values (numbers exact, NaN/Inf rejected)."""
    return {name: _serializer.serialize(to_dynamo(v, name)) for name, v in item.items()}


MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's limit on one item


def item_size(item: Mapping[str, Any]) -> int:
    """An upper estimate of a plain item's size as DynamoDB counts it (names + values): strings
    and binaries by their bytes, a number 1 byte per two significant digits + 1, a boolean or
    null 1 byte, a list or map 3 bytes + 1 byte per element + the elements (map keys by their
    UTF-8 bytes). Compare with `MAX_ITEM_BYTES` before a put that could be refused."""
    return sum(len(str(name).encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, int | float | Decimal):
        digits = len(str(value).lstrip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if isinstance(value, Mapping):
        return 3 + sum(1 + len(str(k).encode()) + _value_size(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return 3 + sum(1 + _value_size(v) for v in value)
    raise TypeError(f"cannot size a {type(value).__name__} for DynamoDB")


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values → a plain item (numbers as Decimal)."""
    return {name: _deserializer.deserialize(v) for name, v in item.items()}


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter for resending what DynamoDB left unprocessed."""

    max_attempts: int = 8
    base: float = 0.05  # seconds before the first resend (at most); doubles per attempt
    cap: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random

    def wait(self, attempt: int) -> None:
        """Sleep before attempt `attempt` (1, 2, ...): uniform in [0, min(cap, base * 2**n))."""
        self.sleep(float(self.rng() * min(self.cap, self.base * 2**attempt)))


DEFAULT_BACKOFF = Backoff()


def _projection(projection: Sequence[str] | None) -> dict[str, Any]:
    """`ProjectionExpression` with `#pN` placeholders (any name may be a reserved word)."""
    if not projection:
        return {}
    return {
        "ProjectionExpression": ", ".join(f"#p{i}" for i in range(len(projection))),
        "ExpressionAttributeNames": {f"#p{i}": n for i, n in enumerate(projection)},
    }


@dataclass(frozen=True)
class BatchWriteReport:
    """What `batch_write` did: `items = written + duplicates`."""

    items: int = 0
    written: int = 0
    duplicates: int = 0
    requests: int = 0
    resent: int = 0


def _key_of(item: AttributeValues, key_names: Sequence[str]) -> tuple[str, ...]:
    try:
        return tuple(repr(item[k]) for k in key_names)
    except KeyError as exc:
        raise PermanentError(f"item lacks key attribute {exc.args[0]!r}") from exc


def batch_write(
    table: str,
    items: Iterable[Mapping[str, Any]],
    key_names: Sequence[str],
    *,
    serialized: bool = False,
    settings: Settings | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> BatchWriteReport:
    """Put every item, 25 per request; duplicate keys within a batch are removed (last wins).

    Args:
        table: table name.
        items: plain items (or attribute values with `serialized=True`).
        key_names: the table's key attributes (partition, and sort key if any).
        backoff: how often and how long to wait before resending unprocessed items;
            `BatchWriteError` when `backoff.max_attempts` requests of a batch did not do it.
    """
    client = aws.dynamodb(settings)
    total = written = duplicates = requests = resent = 0
    batch: dict[tuple[str, ...], AttributeValues] = {}

    def flush() -> None:
        nonlocal written, requests, resent
        pending: list[Any] = [{"PutRequest": {"Item": item}} for item in batch.values()]
        for attempt in range(backoff.max_attempts):
            if attempt:
                backoff.wait(attempt)
                resent += len(pending)
            requests += 1
            response = client.batch_write_item(RequestItems={table: pending})
            left = list(response.get("UnprocessedItems", {}).get(table, []))
            written += len(pending) - len(left)
            pending = left
            if not pending:
                batch.clear()
                return
        raise BatchWriteError(
            f"{table}: {len(pending)} item(s) still unprocessed after {backoff.max_attempts} "
            "attempts"
        )

    for raw in items:
        item = dict(raw) if serialized else serialize(raw)
        total += 1
        key = _key_of(item, key_names)
        if key in batch:
            duplicates += 1
        batch[key] = item
        if len(batch) == MAX_BATCH_WRITE:
            flush()
    if batch:
        flush()
    return BatchWriteReport(total, written, duplicates, requests, resent)


def batch_get(
    table: str,
    keys: Iterable[Mapping[str, Any]],
    *,
    projection: Sequence[str] | None = None,
    consistent: bool = False,
    settings: Settings | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> list[dict[str, Any]]:
    """The items that exist among `keys` (plain key dicts), 100 per request, in no order.

    `UnprocessedKeys` are asked again with backoff; duplicate keys are asked once.
    """
    client = aws.dynamodb(settings)
    unique = {_key_of(serialize(k), sorted(k)): serialize(k) for k in keys}
    found: list[dict[str, Any]] = []
    spec: dict[str, Any] = {"ConsistentRead": consistent, **_projection(projection)}
    chunk = list(unique.values())
    for start in range(0, len(chunk), MAX_BATCH_GET):
        pending = chunk[start : start + MAX_BATCH_GET]
        for attempt in range(backoff.max_attempts):
            if attempt:
                backoff.wait(attempt)
            request: Any = {table: {"Keys": pending, **spec}}
            response: Any = client.batch_get_item(RequestItems=request)
            found += [deserialize(i) for i in response.get("Responses", {}).get(table, [])]
            pending = list(response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", []))
            if not pending:
                break
        else:
            raise BatchWriteError(
                f"{table}: {len(pending)} key(s) unread after {backoff.max_attempts} attempts"
            )
    return found


def put_item(
    table: str,
    item: Mapping[str, Any],
    *,
    condition: str | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> None:
    """Put one item; with `condition`, `ConflictError` when DynamoDB's check fails."""
    request = _expressions(condition, names, values)
    _conditional(
        table,
        condition,
        lambda: aws.dynamodb(settings).put_item(TableName=table, Item=serialize(item), **request),
    )


def update_item(
    table: str,
    key: Mapping[str, Any],
    *,
    update: str,
    condition: str | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> None:
    """Update one item in place (`UpdateExpression`); `ConflictError` when `condition` fails.

    Without a condition DynamoDB creates the item if it is absent; pass e.g.
    `attribute_exists(<partition key>)` to update existing items only.
    """
    request = {"UpdateExpression": update, **_expressions(condition, names, values)}
    _conditional(
        table,
        condition,
        lambda: aws.dynamodb(settings).update_item(TableName=table, Key=serialize(key), **request),
    )


def _expressions(
    condition: str | None, names: Mapping[str, str] | None, values: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The condition and expression parameters of a write (only those given)."""
    request: dict[str, Any] = {}
    if condition:
        request["ConditionExpression"] = condition
    if names:
        request["ExpressionAttributeNames"] = dict(names)
    if values:
        request["ExpressionAttributeValues"] = serialize(values)
    return request


def _conditional(table: str, condition: str | None, write: Callable[[], object]) -> None:
    """Run a write; a failed condition becomes `ConflictError`."""
    try:
        write()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise ConflictError(f"{table}: condition failed ({condition})") from exc
        raise


def get_item(
    table: str,
    key: Mapping[str, Any],
    *,
    projection: Sequence[str] | None = None,
    consistent: bool = True,
    settings: Settings | None = None,
) -> dict[str, Any] | None:
    """One item by key (plain values), None if absent."""
    extra: dict[str, Any] = {"ConsistentRead": consistent, **_projection(projection)}
    response = aws.dynamodb(settings).get_item(TableName=table, Key=serialize(key), **extra)
    item = response.get("Item")
    return deserialize(item) if item else None


@dataclass
class ReadStats:
    """What a query or scan read: DynamoDB charges for `scanned`, not for `items`."""

    items: int = 0
    scanned: int = 0
    pages: int = 0
    capacity_units: float = 0.0

    def add(self, page: Mapping[str, Any]) -> None:
        self.items += int(page.get("Count", 0))
        self.scanned += int(page.get("ScannedCount", 0))
        self.pages += 1
        self.capacity_units += float(page.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0))

    def merge(self, other: ReadStats) -> ReadStats:
        self.items += other.items
        self.scanned += other.scanned
        self.pages += other.pages
        self.capacity_units += other.capacity_units
        return self


def _read_args(
    projection: Sequence[str] | None,
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
    filter_expression: str | None,
    page_size: int | None,
) -> dict[str, Any]:
    args: dict[str, Any] = {"ReturnConsumedCapacity": "TOTAL", **_projection(projection)}
    all_names = {**dict(names or {}), **args.get("ExpressionAttributeNames", {})}
    if all_names:
        args["ExpressionAttributeNames"] = all_names
    if values:
        args["ExpressionAttributeValues"] = serialize(values)
    if filter_expression:
        args["FilterExpression"] = filter_expression
    if page_size:
        args["PaginationConfig"] = {"PageSize": page_size}
    return args


def _items(pages: Iterable[Mapping[str, Any]], stats: ReadStats | None) -> Iterator[dict[str, Any]]:
    for page in pages:
        if stats is not None:
            stats.add(page)
        for item in page.get("Items", []):
            yield deserialize(item)


def query(
    table: str,
    *,
    key_condition: str,
    values: Mapping[str, Any],
    names: Mapping[str, str] | None = None,
    index: str | None = None,
    projection: Sequence[str] | None = None,
    filter_expression: str | None = None,
    page_size: int | None = None,
    stats: ReadStats | None = None,
    settings: Settings | None = None,
) -> Iterator[dict[str, Any]]:
    """Every item a `Query` returns, page by page (1 MB each), as plain items."""
    args = _read_args(projection, names, values, filter_expression, page_size)
    if index:
        args["IndexName"] = index
    paginator = aws.dynamodb(settings).get_paginator("query")
    pages = paginator.paginate(TableName=table, KeyConditionExpression=key_condition, **args)
    return _items(pages, stats)


def scan_segment(
    table: str,
    segment: int,
    total_segments: int,
    *,
    projection: Sequence[str] | None = None,
    filter_expression: str | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    page_size: int | None = None,
    stats: ReadStats | None = None,
    settings: Settings | None = None,
) -> Iterator[dict[str, Any]]:
    """Every item of one segment of a parallel `Scan`, with a client of its own."""
    if not 0 <= segment < total_segments:
        raise ValueError(f"segment {segment} is not in 0..{total_segments - 1}")
    args = _read_args(projection, names, values, filter_expression, page_size)
    client = aws.client("dynamodb", settings, scope=f"scan-segment-{segment}")
    pages = client.get_paginator("scan").paginate(
        TableName=table, Segment=segment, TotalSegments=total_segments, **args
    )
    return _items(pages, stats)


@dataclass(frozen=True)
class Page:
    """One page of a scan: its items (plain) and the key to start the next page after (None:
    the segment is done)."""

    items: list[dict[str, Any]]
    last_key: dict[str, Any] | None


def scan_pages(
    table: str,
    segment: int,
    total_segments: int,
    *,
    start_key: Mapping[str, Any] | None = None,
    projection: Sequence[str] | None = None,
    filter_expression: str | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    page_size: int | None = None,
    stats: ReadStats | None = None,
    settings: Settings | None = None,
) -> Iterator[Page]:
    """The pages of one segment of a parallel `Scan`, from after `start_key` (plain key values,
    as a previous page's `last_key` gave them), each with its `last_key`; a client per segment."""
    if not 0 <= segment < total_segments:
        raise ValueError(f"segment {segment} is not in 0..{total_segments - 1}")
    args = _read_args(projection, names, values, filter_expression, None)
    if page_size:
        args["Limit"] = page_size
    client = aws.client("dynamodb", settings, scope=f"scan-segment-{segment}")
    start = serialize(start_key) if start_key else None
    while True:
        extra = {"ExclusiveStartKey": start} if start else {}
        page = client.scan(
            TableName=table, Segment=segment, TotalSegments=total_segments, **args, **extra
        )
        if stats is not None:
            stats.add(page)
        start = page.get("LastEvaluatedKey")
        yield Page(
            [deserialize(i) for i in page.get("Items", [])], deserialize(start) if start else None
        )
        if not start:
            return


def count_items(table: str, settings: Settings | None = None) -> int:
    """Items in `table`, by a paginated `Scan` with `Select=COUNT` (reads the whole table)."""
    pages = aws.dynamodb(settings).get_paginator("scan").paginate(TableName=table, Select="COUNT")
    return sum(int(page.get("Count", 0)) for page in pages)
