"""What a collector run reads, and the checkpoint it leaves behind (pure).

Modes:
- **initial** (no checkpoint, or `force_initial_load`): records with the initial statuses (the
  seed's Open / In Progress) created in `[midnight(as_of - lookback days), as_of)`. If it stops at
  `max_records`, the next run *continues the initial load* after its cursor with the same statuses
  and window start; once complete, the cursor moves to the window end, where incremental runs start.
- **incremental**: every record (all statuses) created after the cursor and before `as_of`, after
  re-reading the overlap window `[cursor - overlap, cursor]` to catch late-published records.
- **backfill** (`start` given): every record created in `[start, as_of)`, with its own checkpoint
  (`pipeline_state/backfills/<start>-<end>.json`), so re-running the same backfill continues it and
  the daily cursor is never moved.

All times are NYC local wall-clock times without zone, like Socrata's floating timestamps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, TypedDict

from tasks.common.time_core import EASTERN
from tasks.nyc311.soql_core import (
    Cursor,
    at_or_before,
    created_before,
    created_from,
    status_in,
    timestamp_text,
)

Mode = Literal["initial", "incremental", "backfill"]
SEED_STATUSES = ("Open", "In Progress")
# The seed's state file; the name is kept so its operators find it where they expect it.
STATE_KEY = "pipeline_state/last_run_timestamp.json"
BACKFILL_STATE_PREFIX = "pipeline_state/backfills"
CHECKPOINT_VERSION = 2
NO_NEW_DATA = "No new data available"
SUCCESS = "Data ingestion successful"


class CheckpointError(ValueError):
    """The stored checkpoint cannot be read (the run stops rather than guess a position)."""


@dataclass(frozen=True)
class Checkpoint:
    """The parsed state file."""

    cursor: Cursor | None
    mode: Mode = "incremental"
    backlog: bool = False
    window_start: datetime | None = None
    statuses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """What one run reads."""

    mode: Mode
    state_key: str
    window_end: datetime
    window_start: datetime | None = None
    statuses: tuple[str, ...] = ()
    cursor: Cursor | None = None
    overlap_from: datetime | None = None
    continues_backlog: bool = False

    def clauses(self) -> list[str]:
        """The filters of every page: statuses and window."""
        start = created_from(self.window_start) if self.window_start else ""
        return [status_in(self.statuses), start, created_before(self.window_end)]

    def overlap_clauses(self) -> list[str] | None:
        """Filters of the overlap re-read `[overlap_from, cursor]`, None when there is none."""
        if self.cursor is None or self.overlap_from is None:
            return None
        return [
            status_in(self.statuses),
            created_from(self.overlap_from),
            at_or_before(self.cursor),
            created_before(self.window_end),
        ]

    def date_range(self) -> str:
        """The queried window, as the seed reported it (`<from> to <to>`)."""
        if self.overlap_from is not None:
            low = timestamp_text(self.overlap_from)
        elif self.cursor is not None:
            low = self.cursor.created_date
        elif self.window_start is not None:
            low = timestamp_text(self.window_start)
        else:
            low = "the beginning"
        return f"{low} to {timestamp_text(self.window_end)}"

    def low(self) -> datetime:
        """Where this run starts reading (overlap, cursor or window start; None = no bound)."""
        if self.overlap_from is not None:
            return self.overlap_from
        if self.cursor is not None:
            return datetime.fromisoformat(self.cursor.created_date)
        return self.window_start or self.window_end - timedelta(days=365)

    def fraction_done(self, position: str | None) -> float:
        """How far a `created_date` position is through `[low, window_end)` (0..1)."""
        if position is None:
            return 0.0
        low, high = self.low(), self.window_end
        span = (high - low).total_seconds()
        if span <= 0:
            return 1.0
        return min(1.0, max(0.0, (datetime.fromisoformat(position) - low).total_seconds() / span))

    def start_label(self) -> str:
        """Where new records start, to the minute (`2024-02-29T22:44`), for the run's name."""
        if self.cursor is not None:
            return self.cursor.created_date[:16]
        if self.window_start is not None:
            return self.window_start.isoformat(timespec="minutes")
        return "the beginning"


# Socrata's floating timestamps have millisecond precision: an inclusive end date-time `t`
# is the exclusive bound `t + 1 ms`.
TIMESTAMP_RESOLUTION = timedelta(milliseconds=1)


def local_time(moment: datetime) -> datetime:
    """New York wall-clock time without zone (a naive input is New York time already)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(EASTERN).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def window_start(start: date | datetime) -> datetime:
    """The first instant of a window (inclusive): a date starts at its New York midnight."""
    if isinstance(start, datetime):
        return local_time(start)
    return datetime.combine(start, time())


def window_end(end: date | datetime) -> datetime:
    """The exclusive bound of a window whose `end` is inclusive: the day after a date, the
    next millisecond after a date-time (both New York time)."""
    if isinstance(end, datetime):
        return local_time(end) + TIMESTAMP_RESOLUTION
    return datetime.combine(end + timedelta(days=1), time())


def described(low: datetime, high: datetime) -> dict[str, str]:
    """`[low, high)` (New York wall-clock) in New York time and in UTC, for the report."""
    utc = [m.replace(tzinfo=EASTERN).astimezone(UTC) for m in (low, high)]
    return {
        "new_york": f"{low.isoformat()} → {high.isoformat()} (America/New_York)",
        "utc": f"{utc[0]:%Y-%m-%dT%H:%M:%S}Z → {utc[1]:%Y-%m-%dT%H:%M:%S}Z",
    }


def midnight(moment: datetime) -> datetime:
    """The start of `moment`'s day."""
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def compact(moment: datetime) -> str:
    """`20240101T000000` (a key-safe timestamp)."""
    return moment.strftime("%Y%m%dT%H%M%S")


def state_key(start: datetime | None, end: datetime) -> str:
    """Where the checkpoint of a run lives: the daily one, or one per backfill window."""
    if start is None:
        return STATE_KEY
    return f"{BACKFILL_STATE_PREFIX}/{compact(start)}-{compact(end)}.json"


def parse_checkpoint(doc: Mapping[str, Any]) -> Checkpoint:
    """Read a version-2 checkpoint, or the seed's `{last_run_timestamp, updated_at}` file."""
    try:
        if "version" not in doc:  # the seed's file: its run time is the only position it had
            seed_time = datetime.fromisoformat(str(doc["last_run_timestamp"]))
            return Checkpoint(Cursor(timestamp_text(seed_time.replace(tzinfo=None)), ""))
        if doc["version"] != CHECKPOINT_VERSION:
            raise CheckpointError(f"unsupported checkpoint version {doc['version']!r}")
        raw_cursor = doc.get("cursor")
        cursor = (
            Cursor(str(raw_cursor["created_date"]), str(raw_cursor["unique_key"]))
            if raw_cursor
            else None
        )
        start = doc.get("window_start")
        return Checkpoint(
            cursor=cursor,
            mode=doc["mode"],
            backlog=bool(doc["backlog"]),
            window_start=datetime.fromisoformat(start) if start else None,
            statuses=tuple(doc.get("statuses") or ()),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"unreadable checkpoint ({type(exc).__name__}: {exc})") from exc


def plan_run(
    checkpoint: Mapping[str, Any] | None,
    *,
    as_of: datetime,
    start: datetime | None = None,
    force_initial_load: bool = False,
    initial_lookback_days: int = 365,
    initial_statuses: Sequence[str] = SEED_STATUSES,
    overlap: timedelta = timedelta(hours=6),
) -> Plan:
    """Decide the mode and the window of a run from its checkpoint and parameters."""
    key = state_key(start, as_of)
    state = parse_checkpoint(checkpoint) if checkpoint is not None else None
    if start is not None:
        if start >= as_of:
            raise ValueError(f"backfill start {start} is not before its end {as_of}")
        cursor = None if force_initial_load or state is None else state.cursor
        return _with_overlap(Plan("backfill", key, as_of, start, (), cursor), overlap)
    if force_initial_load or state is None:
        window_start = midnight(as_of - timedelta(days=initial_lookback_days))
        return Plan("initial", key, as_of, window_start, tuple(initial_statuses))
    if state.mode == "initial" and state.backlog:
        plan = Plan(
            "initial",
            key,
            as_of,
            state.window_start,
            state.statuses,
            state.cursor,
            continues_backlog=True,
        )
        return _with_overlap(plan, overlap)
    if state.cursor is None:
        raise CheckpointError("the checkpoint has no cursor; run once with force_initial_load")
    plan = Plan("incremental", key, as_of, cursor=state.cursor, continues_backlog=state.backlog)
    return _with_overlap(plan, overlap)


def _with_overlap(plan: Plan, overlap: timedelta) -> Plan:
    if plan.cursor is None or overlap <= timedelta(0):
        return plan
    low = datetime.fromisoformat(plan.cursor.created_date) - overlap
    if plan.window_start is not None:
        low = max(low, plan.window_start)
    return replace(plan, overlap_from=low)


def next_cursor(plan: Plan, last_fetched: Cursor | None, backlog: bool) -> Cursor | None:
    """Where the next run continues.

    The last `(created_date, unique_key)` fetched by the main pass; a *completed* initial load
    moves to its window end instead (`(end, '')` = everything created before `end` is done), because
    incremental runs widen the filter to all statuses from there.
    """
    if plan.mode == "initial" and not backlog:
        return Cursor(timestamp_text(plan.window_end), "")
    return last_fetched or plan.cursor


class RunCounts(TypedDict):
    """Counts of one run (the checkpoint keeps them as run metadata)."""

    records: int
    overlap_rows: int
    fetched: int
    inserted: int
    replaced: int
    duplicates_in_batch: int
    rejected: int
    invalid_values: int
    requests: int


def checkpoint_doc(
    plan: Plan,
    cursor: Cursor | None,
    backlog: bool,
    counts: RunCounts,
    *,
    updated_at: datetime,
    flow_run_id: str | None,
) -> dict[str, Any]:
    """The state file (JSON) written after the data it covers."""
    return {
        "version": CHECKPOINT_VERSION,
        "cursor": cursor.as_dict() if cursor else None,
        "mode": plan.mode,
        "backlog": backlog,
        "window_start": plan.window_start.isoformat() if plan.window_start else None,
        "window_end": plan.window_end.isoformat(),
        "statuses": list(plan.statuses),
        # the seed's field: the as-of time (window end) of the last successful run
        "last_run_timestamp": plan.window_end.isoformat(),
        "updated_at": updated_at.isoformat(),
        "last_run": {**counts, "flow_run_id": flow_run_id},
    }


class Nyc311Summary(RunCounts):
    """What a run did (the flow's return value and its artifact): its counts, and these."""

    message: str
    mode: str
    date_range: str
    window_new_york: str
    window_utc: str
    first_created_date: str | None
    last_created_date: str | None
    backlog: bool
    cursor: dict[str, str] | None
    raw_uri: str | None
    partitions: list[str]
    checkpoint_uri: str


@dataclass(frozen=True)
class Outcome:
    """Facts a run gathered, from which its summary is made."""

    plan: Plan
    counts: RunCounts
    backlog: bool
    cursor: Cursor | None
    first_created_date: str | None
    last_created_date: str | None
    raw_uri: str | None
    checkpoint_uri: str
    partitions: list[str] = field(default_factory=list)


def summarise(outcome: Outcome, max_records: int) -> tuple[Nyc311Summary, list[str]]:
    """The run summary and its warnings (a backlog that remains, rejected rows)."""
    counts = outcome.counts
    notes: list[str] = []
    if outcome.backlog:
        cursor = outcome.cursor
        where = (
            f"created_date={cursor.created_date}, unique_key={cursor.unique_key}" if cursor else ""
        )
        notes.append(
            f"Backlog remains: max_records ({max_records:,}) was reached; "
            f"the next run continues exactly after {where}."
        )
    if counts["rejected"]:
        notes.append(f"{counts['rejected']:,} record(s) rejected (see the rejects file).")
    if counts["invalid_values"]:
        notes.append(
            f"{counts['invalid_values']:,} unparseable value(s) kept as text in `invalid_values`."
        )
    if outcome.backlog:
        message = notes[0]
    elif counts["records"] == 0 and counts["inserted"] == 0:
        message = NO_NEW_DATA
    else:
        message = SUCCESS
    window = described(outcome.plan.low(), outcome.plan.window_end)
    summary = Nyc311Summary(
        message=message,
        mode=outcome.plan.mode,
        date_range=outcome.plan.date_range(),
        window_new_york=window["new_york"],
        window_utc=window["utc"],
        first_created_date=outcome.first_created_date,
        last_created_date=outcome.last_created_date,
        backlog=outcome.backlog,
        cursor=outcome.cursor.as_dict() if outcome.cursor else None,
        raw_uri=outcome.raw_uri,
        partitions=list(outcome.partitions),
        checkpoint_uri=outcome.checkpoint_uri,
        **counts,
    )
    return summary, notes
