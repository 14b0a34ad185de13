"""Expected summaries of the bundled samples, written by reading the files (not by running them).

Each dict is the summary document minus the per-run fields (`file_name`, `summary_key`,
`source`, timestamps, `profile_options`), which `strip()` removes from an actual summary.
"""

from __future__ import annotations

from typing import Any

PER_RUN = (
    "file_name",
    "summary_key",
    "source",
    "upload_timestamp",
    "processed_timestamp",
    "profile_options",
)


def strip(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without its per-run fields."""
    return {k: v for k, v in summary.items() if k not in PER_RUN}


def no_issues(rows: int) -> dict[str, Any]:
    return {
        "total_rows": rows,
        "has_issues": False,
        "missing_values": {},
        "invalid_values": {},
        "ragged_rows": {"count": 0, "too_many_fields": 0, "too_few_fields": 0, "first_rows": []},
        "header": {"blank_names": [], "duplicate_names": {}},
        "empty_columns": [],
        "no_data_rows": False,
    }


def col(
    position: int, kind: str, non_missing: int, distinct: int, header: str = "", **classes: int
) -> dict[str, Any]:
    return {
        "position": position,
        "header": header,
        "type": kind,
        "non_missing": non_missing,
        "distinct": distinct,
        "distinct_exact": True,
        "value_classes": classes,
    }


UTF8_COMMA = {
    "encoding": "utf-8",
    "delimiter": ",",
    "decimal_mark": ".",
    "has_header": True,
    "notes": [],
}

# clean.csv: 5 people; zip has two leading-zero codes (02134, 02139) among 5 digit strings, so it
# is a code column (string); salary mixes 85000/78000 (ints) with decimals, so it is float:
# (72000.50 + 85000 + 64000.25 + 91000.75 + 78000) / 5 = 390001.5 / 5 = 78000.3.
CLEAN = {
    "status": "success",
    "row_count": 5,
    "schema": {
        "id": "int",
        "name": "string",
        "age": "int",
        "salary": "float",
        "join_date": "date",
        "zip": "string",
        "active": "bool",
    },
    "statistics": {
        "id": {"min": 1, "max": 5, "avg": 3.0, "count": 5},
        "age": {"min": 29, "max": 52, "avg": 39.6, "count": 5},  # 198 / 5
        "salary": {"min": 64000.25, "max": 91000.75, "avg": 78000.3, "count": 5},
        "join_date": {"min": "2018-01-09", "max": "2022-11-30", "count": 5},
    },
    "quality_issues": no_issues(5),
    "columns": {
        "id": col(1, "int", 5, 5, "id", int=5),
        "name": col(2, "string", 5, 5, "name", text=5),
        "age": col(3, "int", 5, 5, "age", int=5),
        "salary": col(4, "float", 5, 5, "salary", int=2, float=3),
        "join_date": col(5, "date", 5, 5, "join_date", date=5),
        "zip": col(6, "string", 5, 5, "zip", int=3, code=2),
        "active": col(7, "bool", 5, 2, "active", bool=5),
    },
    "file": UTF8_COMMA,
}

# dirty.csv: 40 rows; header `id,name,age,salary,join_date,,name` (blank 6th, repeated name).
# age = 20 + i except row 2 `NA` (missing) and row 3 `abc` (invalid); row 8 is ` 28 ` (trimmed):
#   valid ints 38 of 39 present → int; sum(21..60) - 22 - 23 = 1575; 1575 / 38 = 41.4473684…
# salary = 1000 i + 0.5 except row 3 `` and row 5 `N/A` (missing), row 6 `1.5e4` (= 15000),
#   row 7 `"12,000"` (invalid: `,` is no decimal mark in a `,` file): 37 valid of 38 → float;
#   820020 - (3000.5 + 5000.5 + 6000.5 + 7000.5) + 15000 = 814018; / 37 = 22000.4864864…
# join_date 2021-01-01 … 2021-02-09 except row 3 `not a date`, row 4 `2021-02-30` (no such day)
#   and row 10 `03/15/2021` (US format, valid, the maximum): 38 of 40 → date.
# column 6 (blank header → column_6): only row 1 has a value (`x`): 39 missing.
# column 7 (`name` again → name_2): yes/no alternating, row 40 `maybe`: 39 of 40 → bool.
DIRTY = {
    "status": "success",
    "row_count": 40,
    "schema": {
        "id": "int",
        "name": "string",
        "age": "int",
        "salary": "float",
        "join_date": "date",
        "column_6": "string",
        "name_2": "bool",
    },
    "statistics": {
        "id": {"min": 1, "max": 40, "avg": 20.5, "count": 40},
        "age": {"min": 21, "max": 60, "avg": 41.447368, "count": 38},
        "salary": {"min": 1000.5, "max": 40000.5, "avg": 22000.486486, "count": 37},
        "join_date": {"min": "2021-01-01", "max": "2021-03-15", "count": 38},
    },
    "quality_issues": {
        "total_rows": 40,
        "has_issues": True,
        "missing_values": {
            "name": {"count": 1, "percentage": 2.5},
            "age": {"count": 1, "percentage": 2.5},
            "salary": {"count": 2, "percentage": 5.0},
            "column_6": {"count": 39, "percentage": 97.5},
        },
        "invalid_values": {
            "age": {"count": 1, "percentage": 2.5, "expected": "int", "examples": ["abc"]},
            "salary": {"count": 1, "percentage": 2.5, "expected": "float", "examples": ["12,000"]},
            "join_date": {
                "count": 2,
                "percentage": 5.0,
                "expected": "date",
                "examples": ["not a date", "2021-02-30"],
            },
            "name_2": {"count": 1, "percentage": 2.5, "expected": "bool", "examples": ["maybe"]},
        },
        "ragged_rows": {"count": 0, "too_many_fields": 0, "too_few_fields": 0, "first_rows": []},
        "header": {"blank_names": [6], "duplicate_names": {"name": [2, 7]}},
        "empty_columns": [],
        "no_data_rows": False,
    },
    "columns": {
        "id": col(1, "int", 40, 40, "id", int=40),
        "name": col(2, "string", 39, 39, "name", text=39),
        "age": col(3, "int", 39, 39, "age", int=38, text=1),
        "salary": col(4, "float", 38, 38, "salary", float=37, text=1),
        "join_date": col(5, "date", 40, 40, "join_date", date=38, text=2),
        "column_6": col(6, "string", 1, 1, "", text=1),
        "name_2": col(7, "bool", 40, 3, "name", bool=39, text=1),
    },
    "file": UTF8_COMMA,
}

# semicolon_latin1.csv: cp1252 bytes (é = 0xe9 first at offset 26, in `quantité`), `;` delimiter,
# CRLF, decimal commas. prix: 3.5 4.2 6.0 12.75 5.5 10.0 → 41.95 / 6 = 6.9916666…;
# quantité: 2 1 3 1 6 4 → 17 / 6 = 2.8333333…
SEMICOLON_LATIN1 = {
    "status": "success",
    "row_count": 6,
    "schema": {
        "produit": "string",
        "ville": "string",
        "prix": "float",
        "quantité": "int",
        "livraison": "date",
    },
    "statistics": {
        "prix": {"min": 3.5, "max": 12.75, "avg": 6.991667, "count": 6},
        "quantité": {"min": 1, "max": 6, "avg": 2.833333, "count": 6},
        "livraison": {"min": "2024-01-05", "max": "2024-01-10", "count": 6},
    },
    "quality_issues": no_issues(6),
    "columns": {
        "produit": col(1, "string", 6, 6, "produit", text=6),
        "ville": col(2, "string", 6, 4, "ville", text=6),
        "prix": col(3, "float", 6, 6, "prix", float=6),
        "quantité": col(4, "int", 6, 5, "quantité", int=6),
        "livraison": col(5, "date", 6, 6, "livraison", date=6),
    },
    "file": {
        "encoding": "cp1252",
        "delimiter": ";",
        "decimal_mark": ",",
        "has_header": True,
        "notes": ["not valid UTF-8 (byte 0xe9 at offset 26): decoded as cp1252 (Windows Latin-1)"],
    },
}

# ragged.csv: records 2 (`1,plain,10`), 3 (a quoted field spanning two lines), 6 (quotes and a
# comma) and 8 (after a blank line, skipped) are good; record 4 has 4 fields, record 5 has 2.
# row_count and total_rows: all 6 data records; the column counts: the 4 well-formed ones.
RAGGED = {
    "status": "success",
    "row_count": 6,
    "schema": {"id": "int", "comment": "string", "score": "int"},
    "statistics": {
        "id": {"min": 1, "max": 6, "avg": 3.5, "count": 4},  # 1 2 5 6
        "score": {"min": 10, "max": 60, "avg": 35.0, "count": 4},  # 10 20 50 60
    },
    "quality_issues": {
        **no_issues(6),
        "has_issues": True,
        "ragged_rows": {
            "count": 2,
            "too_many_fields": 1,
            "too_few_fields": 1,
            "first_rows": [
                {"row": 4, "fields": 4, "text": "3,too,many,fields"},
                {"row": 5, "fields": 2, "text": "4,short"},
            ],
        },
    },
    "columns": {
        "id": col(1, "int", 4, 4, "id", int=4),
        "comment": col(2, "string", 4, 4, "comment", text=4),
        "score": col(3, "int", 4, 4, "score", int=4),
    },
    "file": UTF8_COMMA,
}

# bom.csv: UTF-8 BOM (the first header is `id`, not `\ufeffid`), CRLF, quoted commas; datetimes
# with zones → UTC: 10:00Z, 11:30+01:00 = 10:30Z, 09:15:30.250-03:00 = 12:15:30.25Z.
BOM = {
    "status": "success",
    "row_count": 3,
    "schema": {"id": "int", "city": "string", "temperature": "float", "measured_at": "datetime"},
    "statistics": {
        "id": {"min": 1, "max": 3, "avg": 2.0, "count": 3},
        "temperature": {"min": -1.25, "max": 23.5, "avg": 8.75, "count": 3},  # 26.25 / 3
        "measured_at": {
            "min": "2024-03-01T10:00:00Z",
            "max": "2024-03-01T12:15:30.250000Z",
            "count": 3,
        },
    },
    "quality_issues": no_issues(3),
    "columns": {
        "id": col(1, "int", 3, 3, "id", int=3),
        "city": col(2, "string", 3, 3, "city", text=3),
        "temperature": col(3, "float", 3, 3, "temperature", float=2, int=1),
        "measured_at": col(4, "datetime", 3, 3, "measured_at", datetime=3),
    },
    "file": {**UTF8_COMMA, "encoding": "utf-8-sig"},
}

HEADER_ONLY = {
    "status": "success",
    "row_count": 0,
    "schema": {"id": "string", "name": "string", "amount": "string"},
    "statistics": {},
    "quality_issues": {**no_issues(0), "has_issues": True, "no_data_rows": True},
    "columns": {
        "id": col(1, "string", 0, 0, "id"),
        "name": col(2, "string", 0, 0, "name"),
        "amount": col(3, "string", 0, 0, "amount"),
    },
    "file": UTF8_COMMA,
}


def error(message: str, encoding: str | None = None) -> dict[str, Any]:
    """The summary of an unreadable file (seed: row_count 0, empty schema and statistics)."""
    return {
        "status": "error",
        "row_count": 0,
        "schema": {},
        "statistics": {},
        "quality_issues": {**no_issues(0), "has_issues": True, "no_data_rows": True},
        "columns": {},
        "file": {
            "encoding": encoding,
            "delimiter": None,
            "decimal_mark": None,
            "has_header": None,
            "notes": [],
        },
        "error_message": message,
    }


EMPTY = error("empty file: 0 bytes", encoding="utf-8")  # no bytes are valid UTF-8
BINARY = error("binary content, not CSV text: starts like a gzip file (1f 8b 08 00 …)")
