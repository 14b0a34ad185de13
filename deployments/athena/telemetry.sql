-- Fleet telemetry: the Parquet archive written by flows/telemetry.py (telemetry-file).
--
-- One object per file chunk and event date: events/date=YYYY-MM-DD/<file id>-<chunk>.parquet
-- (Snappy). Columns match tasks/telemetry/archive_core.py:SCHEMA exactly
-- (tests/telemetry/test_athena_ddl.py checks it). `timestamp` is the event instant,
-- Parquet TIMESTAMP(MILLIS, isAdjustedToUTC=true); `date` is its UTC date. Each event is stored
-- once (the file flow drops duplicates before archiving, and a rerun overwrites its own
-- objects), so no dedup view is needed. `source_key`/`source_line` lead back to the raw file.
--
-- Partition projection: no MSCK REPAIR / ADD PARTITION. The archive moves to Glacier after 7
-- days (lifecycle rule): restore objects before querying older dates. Replace the bucket name
-- if `PIPELINES_TELEMETRY_ARCHIVE_BUCKET` differs from the default of environment `dev`.
CREATE DATABASE IF NOT EXISTS fleet_telemetry;

CREATE EXTERNAL TABLE IF NOT EXISTS fleet_telemetry.events (
  `vehicle_id` string,
  `timestamp` timestamp,
  `lat` double,
  `lon` double,
  `speed` double,
  `engine_status` string,
  `distance_from_depot_km` double,
  `heading` double,
  `odometer` double,
  `source_key` string,
  `source_line` bigint
)
PARTITIONED BY (`date` string)
STORED AS PARQUET
LOCATION 's3://fleet-telemetry-archive-dev/events/'
TBLPROPERTIES (
  'parquet.compression' = 'SNAPPY',
  'projection.enabled' = 'true',
  'projection.date.type' = 'date',
  'projection.date.format' = 'yyyy-MM-dd',
  'projection.date.range' = '2020-01-01,NOW',
  'projection.date.interval' = '1',
  'projection.date.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://fleet-telemetry-archive-dev/events/date=${date}/'
);
