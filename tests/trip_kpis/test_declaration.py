"""The trip KPIs declaration: the backfill fans out to a deployment that exists, schedules."""

from __future__ import annotations

from deployments.pipelines.trip_kpis import PIPELINE
from flows import trip_kpis


def test_the_backfill_deployment_fans_out_to_the_declared_day_deployment() -> None:
    backfill = next(d for d in PIPELINE.deployments if d.name == "trip-kpis-backfill")
    target = backfill.parameters["day_deployment"]
    assert target == trip_kpis.DAY_DEPLOYMENT
    flow_name, deployment_name = target.split("/")
    day = next(d for d in PIPELINE.deployments if d.name == deployment_name)
    assert PIPELINE.flow(day.flow).flow_name == flow_name == trip_kpis.trip_kpis_day.name
    assert not day.schedules
    assert day.concurrency_limit == 8


def test_the_daily_deployment_computes_yesterday_and_the_day_before_in_utc() -> None:
    daily = next(d for d in PIPELINE.deployments if d.name == "trip-kpis-daily")
    assert [(s.cron, s.timezone, dict(s.parameters)) for s in daily.schedules] == [
        ("0 3 * * *", "UTC", {}),
        ("30 3 * * *", "UTC", {"days_ago": 2}),
    ]
    assert PIPELINE.settings_prefixes == ("trips_", "kpi_")
    assert PIPELINE.role == "TripKpisRole"
