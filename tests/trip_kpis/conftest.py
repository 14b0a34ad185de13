"""Fixtures: the template's trips table and KPI bucket in in-process moto, with the sample."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tasks.common import aws, s3
from tasks.common.settings import get_settings
from tasks.trip_kpis import kpi_core
from tasks.trip_kpis.sample_core import ANCHOR_TRIPS, sample_trips
from tasks.trip_kpis.sample_io import load_trips
from tests.deployments.cfn import load_template


def create_trips_table(name: str) -> None:
    """The trips table exactly as the CloudFormation template declares it (keys, index)."""
    props = load_template()["Resources"]["TripsTable"]["Properties"]
    aws.dynamodb().create_table(
        TableName=name,
        BillingMode=props["BillingMode"],
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
    )


@dataclass(frozen=True)
class Store:
    """The trips table and the KPI bucket."""

    table: str
    bucket: str

    def load(self, items: Any) -> int:
        return load_trips(self.table, items).written

    def kpi(self, day: str) -> bytes | None:
        return s3.get_bytes(self.bucket, kpi_core.kpi_key(day))

    def keys(self, prefix: str = "kpis/") -> list[str]:
        return [o.key for o in s3.list_objects(self.bucket, prefix)]


@pytest.fixture
def store(aws: None) -> Store:
    """An empty trips table and KPI bucket (the settings' default names)."""
    settings = get_settings()
    create_trips_table(settings.trips_table)
    aws_s3 = aws_module_s3()
    aws_s3.create_bucket(Bucket=settings.kpi_bucket)
    return Store(settings.trips_table, settings.kpi_bucket)


def aws_module_s3() -> Any:
    return aws.s3()


@pytest.fixture
def anchor(store: Store) -> Store:
    """The store with the hand-checked anchor days only."""
    store.load(ANCHOR_TRIPS)
    return store


@pytest.fixture
def sample(store: Store) -> Store:
    """The store with the whole sample (anchor days + three generated days)."""
    store.load(sample_trips())
    return store


@pytest.fixture
def no_heartbeat() -> Iterator[None]:
    """Flow runs without the heartbeat thread (saves ~1 s per run in tests)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
