"""The Athena DDL in the repo declares exactly the columns and types of the archive files."""

from __future__ import annotations

import re
from pathlib import Path

from tasks.common.settings import Settings
from tasks.telemetry.archive_core import SCHEMA, archive_key

DDL = Path(__file__).resolve().parents[2] / "deployments" / "athena" / "telemetry.sql"
HIVE_TYPES = {
    "string": "string",
    "timestamp[ms, tz=UTC]": "timestamp",
    "double": "double",
    "int64": "bigint",
}


def _table_statement() -> str:
    text = DDL.read_text()
    return text[text.index("CREATE EXTERNAL TABLE") :]


def test_ddl_columns_match_the_parquet_schema_in_order() -> None:
    body = _table_statement().split("(", 1)[1].split("\n)\nPARTITIONED BY", 1)[0]
    declared = re.findall(r"^\s*`(\w+)` (\w+),?$", body, flags=re.MULTILINE)
    assert declared == [(f.name, HIVE_TYPES[str(f.type)]) for f in SCHEMA]


def test_ddl_projects_the_date_partitions_of_the_archive_layout() -> None:
    statement = _table_statement()
    bucket = Settings.model_fields["telemetry_archive_bucket"].default.replace("{env}", "dev")
    assert "PARTITIONED BY (`date` string)" in statement
    assert "'projection.date.format' = 'yyyy-MM-dd'" in statement
    template = f"s3://{bucket}/events/date=${{date}}/"
    assert f"'storage.location.template' = '{template}'" in statement
    key = archive_key("2024-05-01", "abc", 3)
    assert f"s3://{bucket}/{key}".startswith(template.replace("${date}", "2024-05-01"))
