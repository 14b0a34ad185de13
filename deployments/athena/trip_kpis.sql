-- Trip KPIs: one JSON file per pickup date, written by flows/trip_kpis.py at
-- s3://<kpi bucket>/kpis/date=YYYY-MM-DD/kpi.json (docs/trip_kpis.md).
--
-- Columns match the KPI file's keys in order (tests/trip_kpis/test_athena_ddl.py checks it).
-- Money is written as exact JSON numbers (`10.70`, never `10.700000000000001`); decimal(38,6)
-- reads them exactly for amounts with up to 6 decimals (a fare stored with more keeps them in
-- the file). Money fields are null on a date without counted trips. `date` is the pickup
-- date in `timezone` (a column of every file); the partition column `pickup_date` is the same
-- date, taken from the key, so queries prune partitions with it.
--
-- Partition projection: no MSCK REPAIR / ADD PARTITION, Athena computes the date prefixes.
-- Replace the bucket name if `PIPELINES_KPI_BUCKET` differs from the default (trip-kpis-<env>).
CREATE DATABASE IF NOT EXISTS trip_kpis;

CREATE EXTERNAL TABLE IF NOT EXISTS trip_kpis.daily_kpis (
  `date` date,
  `timezone` string,
  `trip_count` bigint,
  `total_fare` decimal(38,6),
  `average_fare` decimal(38,6),
  `max_fare` decimal(38,6),
  `min_fare` decimal(38,6),
  `total_estimated_fare` decimal(38,6),
  `estimated_minus_actual` decimal(38,6),
  `mape_percent` decimal(38,6),
  `mape_trip_count` bigint,
  `trips_read` bigint,
  `skipped` struct<bad_pickup_datetime:bigint,missing_fare:bigint,missing_estimated_fare:bigint,invalid_fare:bigint,negative_fare:bigint>,
  `generated_at` string
)
PARTITIONED BY (`pickup_date` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://trip-kpis-dev/kpis/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.pickup_date.type' = 'date',
  'projection.pickup_date.format' = 'yyyy-MM-dd',
  'projection.pickup_date.range' = '2015-01-01,NOW',
  'projection.pickup_date.interval' = '1',
  'projection.pickup_date.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://trip-kpis-dev/kpis/date=${pickup_date}/'
);
