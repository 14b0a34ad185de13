"""The Athena DDL in the repo declares exactly the columns and types of the Parquet files."""

from __future__ import annotations

import re
from pathlib import Path

from tasks.nyc311.records_core import SCHEMA

DDL = Path(__file__).resolve().parents[2] / "deployments" / "athena" / "nyc311.sql"
HIVE_TYPES = {"string": "string", "timestamp[ms]": "timestamp", "double": "double"}


def _table_statement() -> str:
    text = DDL.read_text()
    return text[text.index("CREATE EXTERNAL TABLE") :]


def test_ddl_columns_match_the_parquet_schema_in_order() -> None:
    body = _table_statement().split("(", 1)[1].split("\n)\nPARTITIONED BY", 1)[0]
    declared = re.findall(r"^\s*`(\w+)` (\w+),?$", body, flags=re.MULTILINE)
    assert declared == [(f.name, HIVE_TYPES[str(f.type)]) for f in SCHEMA]


def test_ddl_projects_year_and_month_partitions_of_the_seed_layout() -> None:
    statement = _table_statement()
    assert "PARTITIONED BY (`year` int, `month` int)" in statement
    assert "'projection.enabled' = 'true'" in statement
    assert "'projection.month.digits' = '2'" in statement
    assert (
        "'storage.location.template' = "
        "'s3://311-processed-data/processed/year=${year}/month=${month}/'"
    ) in statement
