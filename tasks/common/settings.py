"""Settings: every name, URL and knob the pipelines read, from `PIPELINES_*` environment variables.

Resource names default to the names in the original systems' design documents; a name may contain
`{env}`, which is replaced by the `env` setting (the CSV-profiling table is
`data-ingestion-pipeline-file-metadata-{env}` in its seed). Secrets are `SecretStr` and are never
logged or passed as flow parameters.
"""

from __future__ import annotations

from datetime import date
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PIPELINES_"


class Settings(BaseSettings):
    """Configuration of all pipelines; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, populate_by_name=True
    )

    # --- general ---------------------------------------------------------------------------
    env: str = Field("dev", description="Deployment environment; fills `{env}` in names.")

    # --- AWS -------------------------------------------------------------------------------
    aws_region: str = Field(
        "us-east-1",
        description="AWS region for every client.",
        validation_alias=AliasChoices("PIPELINES_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    )
    aws_endpoint_url: str | None = Field(
        None,
        description="Endpoint override for every AWS client (moto, LocalStack); empty = real AWS.",
        validation_alias=AliasChoices("PIPELINES_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL"),
    )
    aws_retry_mode: Literal["standard", "adaptive", "legacy"] = Field(
        "standard", description="botocore retry mode (`adaptive` adds client-side rate limiting)."
    )
    aws_max_attempts: int = Field(5, ge=1, description="botocore attempts per AWS call.")
    aws_connect_timeout: float = Field(
        10.0, gt=0, description="Seconds to open a connection to an AWS endpoint."
    )
    aws_read_timeout: float = Field(
        60.0, gt=0, description="Seconds to wait for an AWS response before a retry."
    )
    aws_max_pool_connections: int = Field(
        32, ge=1, description="HTTP connections per AWS client (bounded upload pools share it)."
    )
    s3_sse: Literal["AES256", "aws:kms"] = Field(
        "AES256", description="Server-side encryption requested on every S3 put."
    )
    s3_kms_key_id: str | None = Field(
        None, description="KMS key id/ARN when `s3_sse` is `aws:kms` (default key if empty)."
    )
    s3_upload_workers: int = Field(16, ge=1, description="Parallel S3 puts per batch upload.")

    # --- HTTP sources ----------------------------------------------------------------------
    http_connect_timeout: float = Field(10.0, gt=0, description="Seconds to open a connection.")
    http_read_timeout: float = Field(120.0, gt=0, description="Seconds to wait for response bytes.")
    http_retries: int = Field(
        5, ge=0, description="Retries on 429/5xx/connection errors per HTTP request."
    )
    http_backoff_factor: float = Field(
        1.0, ge=0, description="Exponential backoff base in seconds (1, 2, 4, ...)."
    )
    http_backoff_max: float = Field(
        60.0, ge=0, description="Cap in seconds for one backoff sleep and for `Retry-After`."
    )
    http_backoff_jitter: float = Field(
        0.5, ge=0, description="Random seconds (0..jitter) added to each backoff sleep."
    )
    http_download_deadline: float = Field(
        900.0,
        gt=0,
        description="Seconds one response may take from request to last byte (a trickling "
        "source fails then).",
    )
    http_max_download_bytes: int = Field(
        4 << 30, ge=1, description="Largest response body accepted, in bytes."
    )

    # --- Prefect tasks ---------------------------------------------------------------------
    task_retry_delay_scale: float = Field(
        1.0,
        ge=0,
        description="Multiplies the task retry delays (5, 30, 120 s); read when flows are "
        "imported. The tests set 0.",
    )

    # --- transit performance (LAMP) ---------------------------------------------------------
    lamp_bucket: str = Field(
        "tm-mbta-performance", description="Output bucket of the per-stop event CSVs."
    )
    gtfs_bucket: str = Field("tm-gtfs", description="Cache bucket of compact GTFS extracts.")
    lamp_base_url: str = Field(
        "https://performancedata.mbta.com/lamp/subway-on-time-performance-v1",
        description="Folder URL of the LAMP daily parquet files and their index.csv.",
    )
    gtfs_archive_index_url: str = Field(
        "https://cdn.mbta.com/archive/archived_feeds.txt",
        description="MBTA GTFS archive index (archived_feeds.txt).",
    )
    lamp_non_revenue_cutover: date = Field(
        date(2023, 11, 30),
        description="`NONREV-` trips are dropped for service dates before this day and kept "
        "from it on (spec step 4).",
    )

    # --- historic backfills (ArcGIS rapid transit, bus, ferry) ----------------------------------
    historic_arcgis_base_url: str = Field(
        "https://www.arcgis.com/sharing/rest/content/items",
        description="ArcGIS Online items: `{url}/{item_id}?f=json` (metadata, `modified`) and "
        "`{url}/{item_id}/data` (the rapid transit and bus ZIPs).",
    )
    historic_arcgis_hub_url: str = Field(
        "https://hub.arcgis.com",
        description="ArcGIS Hub root of the ferry export (refresh, then CSV download).",
    )
    historic_gtfs_archive_index_url: str = Field(
        "",
        description="GTFS archive index of the backfills' enrichment; empty: the LAMP one "
        "(`gtfs_archive_index_url`).",
    )
    historic_download_max_bytes: int = Field(
        20 << 30,
        ge=1,
        description="Largest archive a backfill downloads, in bytes (checked while streaming).",
    )
    historic_download_deadline_seconds: float = Field(
        3600.0, gt=0, description="Wall-clock limit of one archive download, retries excluded."
    )
    historic_unzip_command: str = Field(
        "7z",
        description="7-Zip executable for ZIP members Python cannot read (Deflate64); "
        "`make venv` and the Dockerfile install it.",
    )
    historic_unzip_timeout_seconds: float = Field(
        1800.0, gt=0, description="Limit for the unzip tool to extract one archive member."
    )
    historic_work_dir: str = Field(
        "",
        description="Directory for downloads and per-month spill files; empty = the temp dir.",
    )
    historic_ferry_export_wait_seconds: float = Field(
        300.0,
        ge=0,
        description="How long to wait for ArcGIS Hub to refresh the ferry export before "
        "downloading it anyway (with a warning).",
    )
    historic_ferry_export_poll_seconds: float = Field(
        10.0, gt=0, description="Seconds between checks of the ferry export's refresh status."
    )

    # --- NYC 311 ---------------------------------------------------------------------------
    nyc311_raw_bucket: str = Field("311-raw-data", description="Raw JSON per run.")
    nyc311_processed_bucket: str = Field(
        "311-processed-data", description="Partitioned Parquet and the checkpoint."
    )
    socrata_base_url: str = Field(
        "https://data.cityofnewyork.us", description="Socrata (SODA) server root."
    )
    socrata_dataset_id: str = Field("erm2-nwe9", description="311 Service Requests (2020-now).")
    socrata_app_token: SecretStr | None = Field(
        None,
        description="Socrata app token (X-App-Token); else the `socrata-app-token` Secret block.",
        validation_alias=AliasChoices("PIPELINES_SOCRATA_APP_TOKEN", "SOCRATA_APP_TOKEN"),
    )
    socrata_token_block: str = Field(
        "socrata-app-token",
        description="Prefect Secret block read when `socrata_app_token` is unset (may be absent).",
    )
    nyc311_overlap_hours: float = Field(
        6.0,
        ge=0,
        description="Hours before the cursor re-read by each run to catch late-published records.",
    )

    # --- CSV profiling ---------------------------------------------------------------------
    csv_bucket: str = Field(
        "data-ingestion-pipeline-{env}",
        description="Data bucket: CSVs land under uploads/, summaries go to processed/.",
        validation_alias=AliasChoices("PIPELINES_CSV_BUCKET", "S3_BUCKET"),
    )
    csv_metadata_table: str = Field(
        "data-ingestion-pipeline-file-metadata-{env}",
        description="DynamoDB table of file metadata (partition key file_name).",
        validation_alias=AliasChoices("PIPELINES_CSV_METADATA_TABLE", "DYNAMODB_TABLE"),
    )
    csv_type_threshold: float = Field(
        0.95,
        gt=0.5,
        le=1.0,
        description="Share of a column's non-missing values that must parse as a type to get it.",
    )
    csv_null_tokens: tuple[str, ...] = Field(
        ("", "NA", "N/A", "null", "NULL", "None", "nan", "NaN", "-"),
        description='Values counted as missing after trimming (JSON list, e.g. ["", "NA"]).',
    )
    csv_block_bytes: int = Field(
        2 << 20,
        ge=1 << 16,
        description="CSV bytes parsed per block: bounds memory; also the longest possible row.",
    )

    # --- trip KPIs -------------------------------------------------------------------------
    trips_table: str = Field(
        "completed-trips-{env}",
        description="DynamoDB table of completed trips (key trip_id, GSI pickup_date-index).",
        validation_alias=AliasChoices("PIPELINES_TRIPS_TABLE", "DYNAMODB_TABLE_NAME"),
    )
    kpi_bucket: str = Field(
        "trip-kpis-{env}",
        description="Bucket of the daily KPI files (kpis/date=YYYY-MM-DD/kpi.json).",
        validation_alias=AliasChoices("PIPELINES_KPI_BUCKET", "ATHENA_BUCKET_NAME"),
    )
    kpi_timezone: str = Field(
        "UTC",
        description="IANA time zone whose calendar date is a trip's pickup date; stated in "
        "every KPI file. Producers write `pickup_date` in this zone: change both together.",
    )

    @field_validator("kpi_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (KeyError, ValueError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"unknown time zone {value!r} (an IANA name, e.g. UTC)") from exc
        return value

    # --- fleet telemetry -------------------------------------------------------------------
    telemetry_raw_bucket: str = Field(
        "fleet-telemetry-raw-{env}",
        description="Landing bucket: GPS CSVs under incoming/, rejects/ and the pipeline's state/.",
    )
    telemetry_archive_bucket: str = Field(
        "fleet-telemetry-archive-{env}",
        description="Parquet archive of stored events (events/date=YYYY-MM-DD/).",
    )
    telemetry_table: str = Field(
        "fleet-telemetry-events-{env}",
        description="DynamoDB table of events (vehicle_id + timestamp, TTL expires_at).",
    )
    telemetry_high_queue: str = Field(
        "fleet-telemetry-high-{env}", description="SQS queue of `moving` events (drained first)."
    )
    telemetry_low_queue: str = Field(
        "fleet-telemetry-low-{env}", description="SQS queue of `idle`/`off` events."
    )
    telemetry_dlq: str = Field(
        "fleet-telemetry-dlq-{env}", description="Dead-letter queue of both telemetry queues."
    )
    telemetry_metadata_location: str = Field(
        "metadata/metadata_api.json",
        description="Vehicle metadata JSON: a key in the raw bucket, an s3:// URI or an "
        "http(s):// URL.",
    )
    telemetry_metadata_ttl_seconds: int = Field(
        3600, ge=1, description="Time to live of a cached vehicle record (Redis or in-process)."
    )
    telemetry_retention_days: int | None = Field(
        None,
        ge=1,
        description="Days after the event when DynamoDB expires it (`expires_at`); empty = never.",
    )
    telemetry_chunk_bytes: int = Field(
        8 << 20,
        ge=1 << 16,
        description="CSV bytes processed per chunk: bounds memory (~40 B/row, 8 MiB ≈ 200k rows).",
    )
    telemetry_message_bytes: int = Field(
        100_000,
        ge=4_096,
        le=262_144,
        description="Most bytes of one SQS message body (a batch of events).",
    )
    telemetry_batch_bytes: int = Field(
        1_000_000,
        ge=4_096,
        le=1_048_576,
        description="Most body bytes of one SendMessageBatch (SQS: 1 MiB; 256 KiB on old queues).",
    )
    telemetry_send_workers: int = Field(
        4, ge=1, description="Parallel SendMessageBatch calls while sending a chunk."
    )
    telemetry_bloom_capacity: int = Field(
        2_000_000,
        ge=1_000,
        description="Keys per day the first Bloom filter segment is sized for (grows when full).",
    )
    telemetry_receive_wait_seconds: int = Field(
        2, ge=0, le=20, description="SQS long-poll wait of the consumer when a queue looks empty."
    )
    telemetry_failed_visibility_seconds: int = Field(
        30,
        ge=0,
        le=43_200,
        description="Seconds before a message that failed is received again (3rd failure: DLQ).",
    )
    redis_url: SecretStr | None = Field(
        None,
        description="Redis URL of the vehicle metadata cache (redis://…); empty: in-process.",
    )

    @model_validator(mode="after")
    def _fill_env(self) -> Settings:
        for name, value in self:
            if isinstance(value, str) and "{env}" in value:
                object.__setattr__(self, name, value.replace("{env}", self.env))
        return self


def get_settings() -> Settings:
    """Read the settings from the environment now (cheap; not cached, so tests can change env)."""
    return Settings()
