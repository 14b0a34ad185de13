"""The summary document (S3 JSON and DynamoDB item) built from a `FileProfile`, and its keys (pure).

One dict is built here and both outputs are derived from it: the JSON bytes in S3 and the
metadata item (the same dict with DynamoDB numbers), so they cannot disagree. The shape keeps
every field of the seed with its meaning and adds detail; docs/csv_profile.md has the schema.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal, Required, TypedDict

from tasks.common import keys_core
from tasks.csv_profile.profile_core import FileProfile, ProfileOptions
from tasks.csv_profile.values_core import DATE_LAYOUTS

UPLOADS_PREFIX = "uploads/"
PROCESSED_PREFIX = "processed/"
SUFFIX = ".csv"
SUMMARY_VERSION = 1


def file_name_for(key: str) -> str:
    """The metadata table key of an upload: its object key relative to `uploads/`.

    Raises `ValueError` for keys outside `uploads/` or not ending in `.csv` (any case).
    """
    if not key.startswith(UPLOADS_PREFIX) or not key.lower().endswith(SUFFIX):
        raise ValueError(f"not a CSV upload: {key!r} (expected uploads/<name>.csv)")
    name = key[len(UPLOADS_PREFIX) :]
    if name.lower() == SUFFIX:
        raise ValueError(f"not a CSV upload: {key!r} (the file name is empty)")
    return name


def summary_key_for(file_name: str) -> str:
    """`processed/<name>_summary.json`, folders kept: `sales/2025.csv` → `processed/sales/
    2025_summary.json`. Every part is escaped with `tasks.common.keys_core`, so a hostile name
    (`../x.csv`, `a/./b.csv`) cannot leave `processed/`; an empty folder (`a//b.csv`) raises
    `keys_core.UnsafeKeyError`.

    Only a lower-case `.csv` is replaced (the seed's `x.csv` → `x_summary.json`); any other
    spelling stays in the name (`x.CSV` → `x.CSV_summary.json`), and so does `.csv` after a
    name that itself ends in a `.csv` of any case (`x.CSV.csv` → `x.CSV.csv_summary.json`):
    two uploads never share a summary key.
    """
    *folders, last = file_name.split("/")
    stem = last[: -len(SUFFIX)] if last.endswith(SUFFIX) else last
    if stem != last and stem.lower().endswith(SUFFIX):
        stem = last
    parts = [keys_core.segment(folder) for folder in folders]
    return keys_core.join(PROCESSED_PREFIX, *parts, keys_core.segment(f"{stem}_summary.json"))


def summary_json(summary: dict[str, Any]) -> bytes:
    """The summary's stored bytes: UTF-8 JSON, indented, with a trailing newline.

    Keys keep the order the document was built in (not sorted): every per-column map follows
    the file's column order. `build_summary` builds in one fixed order, so the same summary
    always gives the same bytes.
    """
    return (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode()


def iso_utc(moment: datetime) -> str:
    """`2025-11-29T10:30:00Z` (UTC, whole seconds) as in the seed."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def prior_state(
    record: dict[str, Any] | None, etag: str, last_modified: str, options: ProfileOptions
) -> tuple[str, str | None]:
    """What the stored item says about this object version, and its first processing time.

    Returns ("newer", None) when a later upload of the same file is recorded (do nothing),
    ("done", ts) when this version is recorded with the same rules, ("redo", ts) when it is
    recorded with other rules, ("new", None) otherwise. `ts` is kept as `processed_timestamp`
    so that re-processing a version gives identical bytes.
    """
    if record is None:
        return "new", None
    if record.get("source", {}).get("etag") != etag:
        newer = str(record.get("upload_timestamp", "")) > last_modified
        return ("newer" if newer else "new"), None
    first = record.get("processed_timestamp")
    same_rules = record.get("profile_options") == options_doc(options)
    return ("done" if same_rules else "redo"), first


def _percent(count: int, total: int) -> float:
    return round(100.0 * count / total, 2) if total else 0.0


def options_doc(options: ProfileOptions) -> dict[str, Any]:
    """The rules a summary was made with (so a changed rule explains a changed summary)."""
    return {
        "version": SUMMARY_VERSION,
        "type_threshold": options.type_threshold,
        "null_tokens": list(options.null_tokens),
        "date_formats": list(DATE_LAYOUTS),
        "max_examples": options.max_examples,
    }


def _quality(profile: FileProfile) -> dict[str, Any]:
    """Quality issues. `total_rows` counts every data record; a ragged record (more or fewer
    fields than the header) cannot be split into columns, so the per-column counts and their
    percentages are over the well-formed records (`total_rows - ragged_rows.count`)."""
    rows = profile.row_count
    ragged = profile.ragged
    profiled = rows - ragged.count
    cols = profile.columns
    missing = {
        c.name: {"count": c.missing, "percentage": _percent(c.missing, profiled)}
        for c in cols
        if c.missing
    }
    invalid = {
        c.name: {
            "count": c.invalid,
            "percentage": _percent(c.invalid, profiled),
            "expected": c.type,
            "examples": list(c.invalid_examples),
        }
        for c in cols
        if c.invalid
    }
    header = {
        "blank_names": list(profile.blank_names),
        "duplicate_names": {name: list(pos) for name, pos in profile.duplicate_names.items()},
    }
    empty = [c.name for c in cols if profiled and not c.non_missing]
    has_issues = bool(
        missing
        or invalid
        or ragged.count
        or profile.blank_names
        or profile.duplicate_names
        or empty
        or not rows
    )
    return {
        "total_rows": rows,
        "has_issues": has_issues,
        "missing_values": missing,
        "invalid_values": invalid,
        "ragged_rows": {
            "count": ragged.count,
            "too_many_fields": ragged.too_many_fields,
            "too_few_fields": ragged.too_few_fields,
            "first_rows": [
                {"row": row, "fields": fields, "text": text}
                for row, fields, text in ragged.first_rows
            ],
        },
        "header": header,
        "empty_columns": empty,
        "no_data_rows": not rows,
    }


def _columns(profile: FileProfile) -> dict[str, Any]:
    return {
        c.name: {
            "position": c.position,
            "header": c.header,
            "type": c.type,
            "non_missing": c.non_missing,
            "distinct": c.distinct,
            "distinct_exact": c.distinct_exact,
            "value_classes": {k: n for k, n in c.class_counts.items() if n},
        }
        for c in profile.columns
    }


def build_summary(
    profile: FileProfile,
    *,
    file_name: str,
    summary_key: str | None,
    source: dict[str, Any],
    upload_timestamp: str,
    processed_timestamp: str,
    options: ProfileOptions,
) -> dict[str, Any]:
    """The summary document (see docs/csv_profile.md for every field).

    Args:
        profile: what the profiler found (or its error).
        file_name: the metadata key (object key relative to `uploads/`).
        summary_key: where the JSON is stored (`processed/..._summary.json`).
        source: `{"bucket", "key", "etag", "size_bytes"}` of the profiled object.
        upload_timestamp: the object's LastModified, `iso_utc` format.
        processed_timestamp: when this object version was first profiled, `iso_utc` format.
        options: the rules used.
    """
    error = profile.error
    doc: dict[str, Any] = {
        "file_name": file_name,
        "summary_key": summary_key,
        "source": source,
        "upload_timestamp": upload_timestamp,
        "processed_timestamp": processed_timestamp,
        "status": "error" if error else "success",
        "row_count": 0 if error else profile.row_count,
        "schema": {} if error else {c.name: c.type for c in profile.columns},
        "statistics": {}
        if error
        else {c.name: c.stats for c in profile.columns if c.stats is not None},
        "quality_issues": _quality(FileProfile() if error else profile),
        "columns": {} if error else _columns(profile),
        "file": {
            "encoding": profile.encoding,
            "delimiter": profile.delimiter,
            "decimal_mark": profile.decimal_mark,
            "has_header": profile.has_header,
            "notes": list(profile.notes),
        },
        "profile_options": options_doc(options),
    }
    if error:
        doc["quality_issues"]["has_issues"] = True
        doc["error_message"] = error
    return doc


class ProfileResult(TypedDict, total=False):
    """What a `csv-profile` run did (its return value)."""

    file_name: Required[str]
    status: Required[Literal["success", "error", "missing", "superseded", "unchanged"]]
    etag: str
    row_count: int
    columns: int
    ragged_rows: int
    has_issues: bool
    summary_uri: str | None
    error_message: str | None


class SweepSummary(TypedDict):
    """What a sweep did: objects seen under the prefix, by the status of their run."""

    bucket: str
    prefix: str
    objects: int
    by_status: dict[str, int]
