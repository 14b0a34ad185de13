"""Settings: defaults from the seeds, `{env}` expansion, aliases, secrets kept secret."""

from __future__ import annotations

import pytest

from tasks.common.settings import Settings


def test_defaults_are_the_seed_names() -> None:
    s = Settings()
    assert s.lamp_bucket == "tm-mbta-performance"
    assert s.gtfs_bucket == "tm-gtfs"
    assert s.nyc311_raw_bucket == "311-raw-data"
    assert s.nyc311_processed_bucket == "311-processed-data"
    assert s.csv_metadata_table == "data-ingestion-pipeline-file-metadata-dev"


def test_env_fills_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINES_ENV", "prod")
    s = Settings()
    assert s.csv_metadata_table == "data-ingestion-pipeline-file-metadata-prod"
    assert s.csv_bucket == "data-ingestion-pipeline-prod"


def test_seed_variable_names_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMODB_TABLE", "metadata-x")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    s = Settings()
    assert s.csv_metadata_table == "metadata-x"
    assert s.aws_endpoint_url == "http://127.0.0.1:1"


def test_secret_is_not_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINES_SOCRATA_APP_TOKEN", "tok-123-secret")
    s = Settings()
    assert s.socrata_app_token is not None
    assert s.socrata_app_token.get_secret_value() == "tok-123-secret"
    assert "tok-123-secret" not in repr(s)
    assert "tok-123-secret" not in str(s.model_dump())


def test_every_field_is_described() -> None:
    missing = [n for n, f in Settings.model_fields.items() if not f.description]
    assert missing == []


def test_trip_kpi_settings_accept_the_seed_names_and_default_to_utc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = Settings()
    assert (s.trips_table, s.kpi_bucket, s.kpi_timezone) == (
        "completed-trips-dev",
        "trip-kpis-dev",
        "UTC",
    )
    monkeypatch.setenv("DYNAMODB_TABLE_NAME", "trips-x")
    monkeypatch.setenv("ATHENA_BUCKET_NAME", "kpis-x")
    monkeypatch.setenv("PIPELINES_KPI_TIMEZONE", "America/New_York")
    s = Settings()
    assert (s.trips_table, s.kpi_bucket, s.kpi_timezone) == (
        "trips-x",
        "kpis-x",
        "America/New_York",
    )


def test_an_unknown_kpi_time_zone_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("PIPELINES_KPI_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        Settings()
