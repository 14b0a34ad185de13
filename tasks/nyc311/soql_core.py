"""SoQL built safely and keyset pagination over `(created_date, unique_key)` (pure).

Literals are always single-quoted with `'` doubled, so no value can change the query's shape.
Pages are ordered by `created_date, unique_key` and each page asks for the rows strictly after the
last `(created_date, unique_key)` seen; no `$offset`, so rows created or changed while we page can
neither shift a page (duplicates) nor be jumped over (losses) inside the range already passed.

`unique_key` is a text column on the server: `>` and the order compare it as text ('9999999' sorts
after '10000000'). The cursor is only ever compared by the server, with the server's order, so
text order is consistent by construction; nothing here compares keys numerically.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ORDER = "created_date,unique_key"
Record = dict[str, Any]
FetchPage = Callable[[str, int], list[Record]]


class PagingError(RuntimeError):
    """The server's answer breaks keyset paging (a row without key, or no progress)."""


@dataclass(frozen=True)
class Cursor:
    """A position in `(created_date, unique_key)` order; both as the server's text."""

    created_date: str
    unique_key: str

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> Cursor:
        """The position of a fetched record."""
        created, key = record.get("created_date"), record.get("unique_key")
        if not isinstance(created, str) or not isinstance(key, str) or not created or not key:
            raise PagingError(
                "a record without created_date/unique_key text cannot be paged past: "
                f"created_date={created!r}, unique_key={key!r}"
            )
        return cls(created, key)

    def as_dict(self) -> dict[str, str]:
        """JSON form stored in the checkpoint."""
        return {"created_date": self.created_date, "unique_key": self.unique_key}


def literal(value: str) -> str:
    """A SoQL string literal: single quotes, embedded quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def timestamp_text(moment: datetime) -> str:
    """Socrata's floating-timestamp text with milliseconds, e.g. `2024-03-15T14:23:00.000`."""
    if moment.tzinfo is not None:
        raise ValueError(f"floating timestamps have no zone: {moment.isoformat()}")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def created_from(moment: datetime) -> str:
    """`created_date >= 'moment'` (window start, inclusive)."""
    return f"created_date >= {literal(timestamp_text(moment))}"


def created_before(moment: datetime) -> str:
    """`created_date < 'moment'` (window end, exclusive)."""
    return f"created_date < {literal(timestamp_text(moment))}"


def after(cursor: Cursor) -> str:
    """Rows strictly after `cursor` in `(created_date, unique_key)` order."""
    t, k = literal(cursor.created_date), literal(cursor.unique_key)
    return f"(created_date > {t} OR (created_date = {t} AND unique_key > {k}))"


def at_or_before(cursor: Cursor) -> str:
    """Rows at or before `cursor` in `(created_date, unique_key)` order."""
    t, k = literal(cursor.created_date), literal(cursor.unique_key)
    return f"(created_date < {t} OR (created_date = {t} AND unique_key <= {k}))"


def status_in(statuses: Sequence[str]) -> str:
    """`(status = 'A' OR status = 'B')`; empty string (no filter) for no statuses."""
    if not statuses:
        return ""
    return "(" + " OR ".join(f"status = {literal(s)}" for s in statuses) + ")"


def conjunction(clauses: Sequence[str]) -> str:
    """The non-empty clauses joined with AND."""
    return " AND ".join(c for c in clauses if c)


def page_params(where: str, limit: int) -> dict[str, str]:
    """Query parameters of one page (no `$offset`, ever)."""
    params = {"$order": ORDER, "$limit": str(limit)}
    if where:
        params["$where"] = where
    return params


@dataclass(frozen=True)
class Page:
    """One fetched page and the position after it."""

    records: list[Record]
    cursor: Cursor | None


def keyset_pages(
    fetch: FetchPage,
    clauses: Sequence[str],
    *,
    start: Cursor | None,
    cap: int,
    page_size: int,
) -> Iterator[Page]:
    """Fetch pages of at most `page_size` rows after `start`, `cap` rows in all.

    Args:
        fetch: `(where, limit) -> records` (the HTTP call, injected).
        clauses: the fixed filters (window, statuses) ANDed with the keyset condition.
        start: the position to continue after (None: from the first row matching `clauses`).
        cap: the most rows to fetch in all; the last page asks for only what is left.
        page_size: `$limit` of a full page.
    """
    if cap < 0 or page_size < 1:
        raise ValueError(f"cap must be >= 0 and page_size >= 1 (got {cap}, {page_size})")
    position, fetched = start, 0
    while fetched < cap:
        limit = min(page_size, cap - fetched)
        where = conjunction([*clauses, after(position) if position else ""])
        records = fetch(where, limit)
        if len(records) > limit:
            raise PagingError(f"asked for {limit} rows, got {len(records)}")
        if records:
            last = Cursor.of(records[-1])
            if last == position:
                raise PagingError(f"no progress past {position}")
            position = last
        fetched += len(records)
        yield Page(records, position)
        if len(records) < limit:
            return


@dataclass(frozen=True)
class Batch:
    """What one run fetched: the overlap re-read first, then the new rows, in server order."""

    records: list[Record]
    overlap_rows: int
    new_rows: int
    requests: int
    last: Cursor | None  # last row of the main pass; None when it fetched nothing
    backlog: bool  # the main pass stopped at its cap: rows may remain after `last`
    overlap_truncated: bool

    @property
    def first_created_date(self) -> str | None:
        """created_date of the first new row."""
        return self.records[self.overlap_rows].get("created_date") if self.new_rows else None


def collect(
    fetch: FetchPage,
    clauses: Sequence[str],
    *,
    start: Cursor | None,
    overlap_clauses: Sequence[str] | None,
    max_records: int,
    page_size: int,
    on_page: Callable[[Page], object] | None = None,
) -> Batch:
    """Re-read the overlap window (if any), then up to `max_records` rows after `start`.

    Both passes page by keyset; the overlap pass is bounded by its time window and, as a safety
    net, by `max_records` too (`overlap_truncated` says it hit that bound).
    """
    records: list[Record] = []
    requests = overlap = 0
    if overlap_clauses is not None:
        for page in keyset_pages(
            fetch, overlap_clauses, start=None, cap=max_records, page_size=page_size
        ):
            records.extend(page.records)
            overlap += len(page.records)
            requests += 1
    position, new = start, 0
    for page in keyset_pages(fetch, clauses, start=start, cap=max_records, page_size=page_size):
        records.extend(page.records)
        new += len(page.records)
        position = page.cursor
        requests += 1
        if on_page is not None:
            on_page(page)
    return Batch(
        records=records,
        overlap_rows=overlap,
        new_rows=new,
        requests=requests,
        last=position if new else None,
        backlog=new >= max_records,
        overlap_truncated=overlap >= max_records,
    )
