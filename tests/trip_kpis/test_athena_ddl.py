"""The Athena DDL in the repo declares exactly the keys and types of the KPI files."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from tasks.trip_kpis import kpi_core
from tasks.trip_kpis.sample_core import ANCHOR_TRIPS

DDL = Path(__file__).resolve().parents[2] / "deployments" / "athena" / "trip_kpis.sql"


def _table_statement() -> str:
    text = DDL.read_text()
    return text[text.index("CREATE EXTERNAL TABLE") :]


def _hive_type(name: str, value: object) -> str:
    if name == "date":
        return "date"
    if isinstance(value, Decimal) or name in {"total_fare", "average_fare"}:
        return "decimal(38,6)"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, dict):
        fields = ",".join(f"{k}:bigint" for k in value)
        return f"struct<{fields}>"
    return "string"


def test_ddl_columns_match_the_kpi_file_in_order() -> None:
    tally = kpi_core.Tally()
    tally.add(ANCHOR_TRIPS, ZoneInfo("UTC"))
    doc = kpi_core.kpi_document(tally.day("2024-03-01"), "UTC", datetime(2024, 3, 2, tzinfo=UTC))
    body = _table_statement().split("(", 1)[1].split("\n)\nPARTITIONED BY", 1)[0]
    declared = re.findall(r"^\s*`(\w+)` (.+?),?$", body, flags=re.MULTILINE)
    assert declared == [(name, _hive_type(name, value)) for name, value in doc.items()]
    assert list(kpi_core.REASONS) == list(doc["skipped"])


def test_ddl_projects_the_date_partitions_of_the_kpi_keys() -> None:
    statement = _table_statement()
    assert "PARTITIONED BY (`pickup_date` string)" in statement
    assert "'projection.pickup_date.format' = 'yyyy-MM-dd'" in statement
    template = "'storage.location.template' = 's3://trip-kpis-dev/kpis/date=${pickup_date}/'"
    assert template in statement
    assert kpi_core.kpi_key("2024-03-01") == "kpis/date=2024-03-01/kpi.json"
    assert "org.openx.data.jsonserde.JsonSerDe" in statement
