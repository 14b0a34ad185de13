"""A small Socrata (SODA) look-alike: a generated 311 dataset and the SoQL subset our client sends.

Used by the sample-source server (`/resource/<dataset>.json`), the tests (behind pytest-httpserver)
and the benchmark. It understands exactly what `tasks/nyc311/soql_core.py` generates plus `$offset`
(the seed's paging, for the benchmark):

- `$where`: comparisons `column OP 'literal'` (OP one of `= != <> < <= > >=`), combined with `AND`,
  `OR` and parentheses; string literals are single-quoted with `''` for a quote.
- `$order`: `column [ASC|DESC]` separated by commas; `$limit`, `$offset`; `$select`: `*` or a list
  of columns.

Anything else answers HTTP 400 with a Socrata-style body `{"errorCode": ..., "message": ...}`.
Comparisons follow the column's type as the real server does: `floating_timestamp` columns compare
as timestamps, `number` columns as decimals and `text` columns (`unique_key` among them) as text,
so `unique_key > '9'` is true for `'95'` but false for `'10000000'`. A missing (null) value never
satisfies a comparison. Standard library only.
"""

from __future__ import annotations

import json
import operator
import random
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

TIMESTAMP = "floating_timestamp"
NUMBER = "number"
TEXT = "text"
LOCATION = "location"
TIMESTAMP_FIELDS = ("created_date", "closed_date", "due_date", "resolution_action_updated_date")
NUMBER_FIELDS = ("x_coordinate_state_plane", "y_coordinate_state_plane", "latitude", "longitude")
# Every column of the 311 dataset (erm2-nwe9) with its Socrata type; all others are text.
TEXT_FIELDS = (
    "unique_key", "agency", "agency_name", "complaint_type", "descriptor", "descriptor_2",
    "location_type", "incident_zip", "incident_address", "street_name", "cross_street_1",
    "cross_street_2", "intersection_street_1", "intersection_street_2", "address_type", "city",
    "landmark", "facility_type", "status", "resolution_description", "community_board",
    "council_district", "police_precinct", "bbl", "borough", "open_data_channel_type",
    "park_facility_name", "park_borough", "vehicle_type", "taxi_company_borough",
    "taxi_pick_up_location", "bridge_highway_name", "bridge_highway_direction", "road_ramp",
    "bridge_highway_segment",
)  # fmt: skip
# Every column of the 311 dataset (erm2-nwe9) with its Socrata type.
COLUMN_TYPES: dict[str, str] = {
    **dict.fromkeys(TEXT_FIELDS, TEXT),
    **dict.fromkeys(TIMESTAMP_FIELDS, TIMESTAMP),
    **dict.fromkeys(NUMBER_FIELDS, NUMBER),
    "location": LOCATION,
}
MAX_LIMIT = 50_000  # SODA 2.x caps $limit at 50,000
_TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d{1,9})?)?")


class SoqlError(ValueError):
    """A query this server does not accept: becomes HTTP 400 with `errorCode` and `message`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        """The JSON body Socrata answers with."""
        return {"errorCode": self.code, "message": self.message, "data": {}}


# --- values -------------------------------------------------------------------------------


def parse_timestamp(text: str) -> datetime:
    """A floating timestamp (`2024-03-15T14:23:00.000` or a date) as a naive datetime."""
    if not _TIMESTAMP_RE.fullmatch(text):
        raise ValueError(f"not a floating timestamp: {text!r}")
    return datetime.fromisoformat(text)


def typed(kind: str, value: Any) -> Any:
    """The comparable value of a stored field (None when missing or unparseable)."""
    if value is None or kind in (TEXT, LOCATION):
        return value
    try:
        return parse_timestamp(value) if kind == TIMESTAMP else Decimal(value)
    except (ValueError, InvalidOperation):
        return None


# --- SoQL parsing -------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op><=|>=|!=|<>|=|<|>)|(?P<paren>[()])"
    r"|(?P<comma>,)|(?P<num>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<star>\*))"
)
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
Predicate = Callable[[Mapping[str, Any]], bool]


def tokenize(text: str) -> list[tuple[str, str]]:
    """(kind, text) tokens; kinds: str, op, paren, comma, num, word, star."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise SoqlError(
                "query.compiler.malformed", f"Unexpected input at {pos}: {text[pos:]!r}"
            )
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over `expr := and (OR and)*; and := atom (AND atom)*`."""

    def __init__(self, text: str, types: Mapping[str, str]) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.types = types

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise SoqlError("query.compiler.malformed", "Unexpected end of $where")
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].upper() == word:
            self.pos += 1
            return True
        return False

    def parse(self) -> Predicate:
        predicate = self.expr()
        if self.peek() is not None:
            raise SoqlError("query.compiler.malformed", f"Unexpected token {self.peek()[1]!r}")  # type: ignore[index]
        return predicate

    def expr(self) -> Predicate:
        predicate = self.conjunction()
        while self.keyword("OR"):
            predicate = _either(predicate, self.conjunction())
        return predicate

    def conjunction(self) -> Predicate:
        predicate = self.atom()
        while self.keyword("AND"):
            predicate = _both(predicate, self.atom())
        return predicate

    def atom(self) -> Predicate:
        kind, text = self.take()
        if (kind, text) == ("paren", "("):
            inner = self.expr()
            if self.take() != ("paren", ")"):
                raise SoqlError("query.compiler.malformed", "Expected ')'")
            return inner
        if kind != "word" or text.upper() in {"AND", "OR", "NOT"}:
            raise SoqlError("query.compiler.malformed", f"Expected a column, got {text!r}")
        column = column_type(self.types, text)
        op_kind, op = self.take()
        if op_kind != "op":
            raise SoqlError("query.compiler.malformed", f"Expected a comparison after {text!r}")
        value = literal_value(column, *self.take())
        return _comparison(text, _OPS[op], value)


def _comparison(name: str, compare: Callable[[Any, Any], Any], value: Any) -> Predicate:
    def predicate(row: Mapping[str, Any]) -> bool:
        stored = row.get(name)
        return stored is not None and bool(compare(stored, value))

    return predicate


def _both(first: Predicate, second: Predicate) -> Predicate:
    return lambda row: first(row) and second(row)


def _either(first: Predicate, second: Predicate) -> Predicate:
    return lambda row: first(row) or second(row)


def column_type(types: Mapping[str, str], name: str) -> str:
    """The type of column `name`; unknown columns are Socrata's `no-such-column` error."""
    if name not in types:
        raise SoqlError("query.soql.no-such-column", f"No such column: {name}")
    kind = types[name]
    if kind == LOCATION:
        raise SoqlError("query.soql.type-mismatch", f"Cannot compare location column {name}")
    return kind


def literal_value(kind: str, lexeme_kind: str, text: str) -> Any:
    """A literal token converted to the column's type."""
    if lexeme_kind == "str":
        raw = text[1:-1].replace("''", "'")
    elif lexeme_kind == "num" and kind == NUMBER:
        raw = text
    else:
        raise SoqlError("query.compiler.malformed", f"Expected a literal, got {text!r}")
    if kind == TEXT:
        return raw
    value = typed(kind, raw)
    if value is None:
        raise SoqlError("query.soql.type-mismatch", f"Cannot read {raw!r} as {kind}")
    return value


def parse_where(text: str, types: Mapping[str, str] = COLUMN_TYPES) -> Predicate:
    """A predicate over typed rows from a `$where` clause."""
    return _Parser(text, types).parse()


def parse_order(text: str, types: Mapping[str, str] = COLUMN_TYPES) -> list[tuple[str, bool]]:
    """`[(column, descending)]` from an `$order` clause."""
    order: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if not words or len(words) > 2 or direction not in {"ASC", "DESC"}:
            raise SoqlError("query.compiler.malformed", f"Cannot order by {part.strip()!r}")
        column_type(types, words[0])
        order.append((words[0], direction == "DESC"))
    return order


def parse_select(text: str, types: Mapping[str, str] = COLUMN_TYPES) -> list[str] | None:
    """The selected columns, or None for `*`."""
    if text.strip() == "*":
        return None
    columns = [part.strip() for part in text.split(",")]
    for column in columns:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", column):
            raise SoqlError("query.compiler.malformed", f"Cannot select {column!r}")
        if column not in types:
            raise SoqlError("query.soql.no-such-column", f"No such column: {column}")
    return columns


def _int_param(name: str, text: str, high: int) -> int:
    if not text.isdigit() or int(text) > high:
        raise SoqlError("query.compiler.malformed", f"{name} must be an integer in 0..{high}")
    return int(text)


# --- the dataset --------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """An HTTP answer of the dataset endpoint."""

    status: int
    body: bytes


class SocrataDataset:
    """An in-memory dataset answering SoQL queries; thread-safe, records can be added mid-run."""

    def __init__(
        self, records: Iterable[Mapping[str, Any]] = (), types: Mapping[str, str] = COLUMN_TYPES
    ) -> None:
        self.types = dict(types)
        self._converted = frozenset(k for k, v in self.types.items() if v in (TIMESTAMP, NUMBER))
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._typed: list[dict[str, Any]] = []
        self.add(*records)

    def __len__(self) -> int:
        return len(self._records)

    def add(self, *records: Mapping[str, Any]) -> None:
        """Publish more records (in the order given)."""
        rows = [dict(r) for r in records]
        typed_rows = [self._typed_row(r) for r in rows]
        with self._lock:
            self._records.extend(rows)
            self._typed.extend(typed_rows)

    def _typed_row(self, record: Mapping[str, Any]) -> dict[str, Any]:
        row = dict(record)  # text values compare as they are; typed columns are converted
        for name in self._converted & row.keys():
            row[name] = typed(self.types[name], row[name])
        return row

    def update(self, unique_key: str, **fields: Any) -> None:
        """Change fields of a published record (e.g. its status)."""
        with self._lock:
            for record, typed_row in zip(self._records, self._typed, strict=True):
                if record.get("unique_key") == unique_key:
                    record.update(fields)
                    typed_row.update(self._typed_row(fields))

    def query(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """The records a SoQL query selects; raises `SoqlError` for anything unsupported."""
        unknown = sorted(set(params) - {"$where", "$order", "$limit", "$offset", "$select"})
        if unknown:
            raise SoqlError("query.compiler.malformed", f"Unsupported parameter {unknown[0]}")
        predicate = parse_where(params["$where"], self.types) if "$where" in params else None
        order = parse_order(params["$order"], self.types) if "$order" in params else []
        select = parse_select(params["$select"], self.types) if "$select" in params else None
        limit = _int_param("$limit", params.get("$limit", "1000"), MAX_LIMIT)
        offset = _int_param("$offset", params.get("$offset", "0"), 10**9)
        with self._lock:
            pairs = list(zip(self._typed, self._records, strict=True))
        if predicate is not None:
            pairs = [pair for pair in pairs if predicate(pair[0])]
        for column, descending in reversed(order):  # stable sorts, last key first
            present = [p for p in pairs if p[0].get(column) is not None]
            missing = [p for p in pairs if p[0].get(column) is None]
            present.sort(key=_by(column), reverse=descending)
            pairs = present + missing  # nulls last, as Socrata does for ASC
        chosen = [record for _, record in pairs[offset : offset + limit]]
        if select is not None:
            chosen = [{k: r[k] for k in select if k in r} for r in chosen]
        return chosen

    def answer(self, query: Mapping[str, Sequence[str]]) -> Answer:
        """HTTP status and JSON body for a parsed query string (values as lists)."""
        params: dict[str, str] = {}
        try:
            for name, values in query.items():
                if len(values) != 1:
                    raise SoqlError("query.compiler.malformed", f"{name} given more than once")
                params[name] = values[0]
            body: Any = self.query(params)
            status = 200
        except SoqlError as exc:
            body, status = exc.body(), 400
        return Answer(status, json.dumps(body).encode())


def _by(column: str) -> Callable[[tuple[dict[str, Any], dict[str, Any]]], Any]:
    return lambda pair: pair[0][column]


# --- generated 311 records ----------------------------------------------------------------

_COMPLAINTS = (
    ("NYPD", "New York City Police Department", "Noise - Residential", "Loud Music/Party"),
    ("NYPD", "New York City Police Department", "Illegal Parking", "Blocked Hydrant"),
    ("NYPD", "New York City Police Department", "Blocked Driveway", "No Access"),
    ("HPD", "Dept. of Housing Preservation and Development", "HEAT/HOT WATER", "ENTIRE BUILDING"),
    ("DSNY", "Department of Sanitation", "Dirty Condition", "Trash"),
    ("DOT", "Department of Transportation", "Street Condition", "Pothole"),
    ("DEP", "Department of Environmental Protection", "Water System", "Hydrant Running (WC3)"),
)  # fmt: skip
_BOROUGHS = (
    ("MANHATTAN", "NEW YORK", "10001"),
    ("BROOKLYN", "BROOKLYN", "11201"),
    ("QUEENS", "JAMAICA", "11432"),
    ("BRONX", "BRONX", "10451"),
    ("STATEN ISLAND", "STATEN ISLAND", "10301"),
    ("Unspecified", "JERSEY CITY", "07302"),  # out-of-city address: the zip keeps its leading zero
)
_STATUSES = ("Open", "In Progress", "Closed", "Closed", "Closed", "Pending", "Assigned")
_CHANNELS = ("PHONE", "ONLINE", "MOBILE", "UNKNOWN")
_LOCATION_TYPES = ("Street/Sidewalk", "Residential Building/House", "RESIDENTIAL BUILDING")
_STREETS = ("BROADWAY", "MAIN STREET", "AVENUE A")
SAMPLE_DATASET_ID = "erm2-nwe9"  # the 311 dataset id the settings default to
SAMPLE_START = datetime(2024, 1, 1)
SAMPLE_DAYS = 60
SAMPLE_RECORDS = 3_000
# The generated keys cross from 7 to 8 digits inside one burst of records sharing a created_date,
# so text order ('9999999' > '10000000') differs from numeric order exactly where ties are.
KEY_ROLLOVER = 10_000_000


def stamp(moment: datetime) -> str:
    """Socrata's floating-timestamp text, e.g. `2024-03-15T14:23:00.000`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def generate_records(
    n: int = SAMPLE_RECORDS,
    *,
    seed: int = 311,
    start: datetime = SAMPLE_START,
    days: int = SAMPLE_DAYS,
    burst: int = 60,
) -> list[dict[str, Any]]:
    """`n` deterministic 311-like records created in `[start, start + days)`.

    As on the real API: nulls are omitted, numbers are strings, `location` is an object; about a
    fifth of the records are stamped at midnight, and `burst` records share one created_date in
    the middle of the range (their keys straddle `KEY_ROLLOVER`).
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible sample data, not security
    seconds = days * 86_400
    moments: list[datetime] = []
    for _ in range(n - min(burst, n)):
        moment = start + timedelta(seconds=rng.randrange(seconds))
        if rng.random() < 0.2:
            moment = moment.replace(hour=0, minute=0, second=0)
        moments.append(moment)
    burst_at = start + timedelta(days=days // 2, hours=9, minutes=30)
    moments.extend([burst_at] * min(burst, n))
    moments.sort()
    first_burst = moments.index(burst_at) if burst else n // 2
    base = KEY_ROLLOVER - first_burst - min(burst, n) // 2
    return [_record(rng, str(base + i), moment) for i, moment in enumerate(moments)]


def _record(rng: random.Random, key: str, created: datetime) -> dict[str, Any]:
    agency, agency_name, complaint, descriptor = rng.choice(_COMPLAINTS)
    borough, city, zip_code = rng.choice(_BOROUGHS)
    status = rng.choice(_STATUSES)
    street = rng.choice(_STREETS)
    lat = 40.5 + rng.random() * 0.4
    lon = -74.25 + rng.random() * 0.55
    record: dict[str, Any] = {
        "unique_key": key,
        "created_date": stamp(created),
        "agency": agency,
        "agency_name": agency_name,
        "complaint_type": complaint,
        "descriptor": descriptor,
        "location_type": rng.choice(_LOCATION_TYPES),
        "incident_zip": zip_code,
        "incident_address": f"{rng.randrange(1, 999)} {street}",
        "street_name": street,
        "address_type": "ADDRESS",
        "city": city,
        "status": status,
        "community_board": f"{rng.randrange(1, 19):02d} {borough}",
        "council_district": str(rng.randrange(1, 52)),
        "police_precinct": f"Precinct {rng.randrange(1, 124)}",
        "bbl": f"{rng.randrange(1, 6)}{rng.randrange(0, 99999):05d}{rng.randrange(1, 9999):04d}",
        "borough": borough,
        "x_coordinate_state_plane": str(rng.randrange(913_000, 1_067_000)),
        "y_coordinate_state_plane": str(rng.randrange(121_000, 272_000)),
        "open_data_channel_type": rng.choice(_CHANNELS),
        "park_facility_name": "Unspecified",
        "park_borough": borough,
        "latitude": f"{lat:.15f}",
        "longitude": f"{lon:.15f}",
        "location": {
            "latitude": f"{lat:.15f}",
            "longitude": f"{lon:.15f}",
            "human_address": '{"address": "", "city": "", "state": "", "zip": ""}',
        },
    }
    if status == "Closed":
        closed = created + timedelta(minutes=rng.randrange(5, 5_000))
        record["closed_date"] = stamp(closed)
        record["resolution_action_updated_date"] = stamp(closed)
        record["resolution_description"] = "The Police Department responded to the complaint."
    elif rng.random() < 0.5:
        record["due_date"] = stamp(created + timedelta(days=rng.randrange(1, 30)))
    if rng.random() < 0.3:  # optional fields are simply absent, as Socrata omits nulls
        record.pop("bbl")
        record.pop("x_coordinate_state_plane")
        record.pop("y_coordinate_state_plane")
    if rng.random() < 0.1:
        record["descriptor_2"] = "Loud Talking"
    return record
