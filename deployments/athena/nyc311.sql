-- NYC 311 service requests: the processed Parquet written by flows/nyc311.py (one file per month).
--
-- Columns match tasks/nyc311/transform.py:SCHEMA exactly (tests/nyc311/test_athena_ddl.py checks
-- it): timestamps are Parquet TIMESTAMP(MILLIS, isAdjustedToUTC=false), i.e. NYC local wall-clock
-- time without zone, as Socrata publishes them; `location`, `extra` and `invalid_values` are JSON
-- text (query them with json_extract_scalar). unique_key is unique across the whole table: the
-- collector merges each run into the month file instead of appending, so no dedup view is needed.
--
-- Partition projection: no MSCK REPAIR / ADD PARTITION, Athena computes the month prefixes.
-- Replace the bucket name if `PIPELINES_NYC311_PROCESSED_BUCKET` differs from the default.
CREATE DATABASE IF NOT EXISTS nyc_311;

CREATE EXTERNAL TABLE IF NOT EXISTS nyc_311.service_requests_311 (
  `unique_key` string,
  `created_date` timestamp,
  `closed_date` timestamp,
  `agency` string,
  `agency_name` string,
  `complaint_type` string,
  `descriptor` string,
  `descriptor_2` string,
  `location_type` string,
  `incident_zip` string,
  `incident_address` string,
  `street_name` string,
  `cross_street_1` string,
  `cross_street_2` string,
  `intersection_street_1` string,
  `intersection_street_2` string,
  `address_type` string,
  `city` string,
  `landmark` string,
  `facility_type` string,
  `status` string,
  `due_date` timestamp,
  `resolution_description` string,
  `resolution_action_updated_date` timestamp,
  `community_board` string,
  `council_district` string,
  `police_precinct` string,
  `bbl` string,
  `borough` string,
  `x_coordinate_state_plane` double,
  `y_coordinate_state_plane` double,
  `open_data_channel_type` string,
  `park_facility_name` string,
  `park_borough` string,
  `vehicle_type` string,
  `taxi_company_borough` string,
  `taxi_pick_up_location` string,
  `bridge_highway_name` string,
  `bridge_highway_direction` string,
  `road_ramp` string,
  `bridge_highway_segment` string,
  `latitude` double,
  `longitude` double,
  `location` string,
  `extra` string,
  `invalid_values` string
)
PARTITIONED BY (`year` int, `month` int)
STORED AS PARQUET
LOCATION 's3://311-processed-data/processed/'
TBLPROPERTIES (
  'parquet.compression' = 'ZSTD',
  'projection.enabled' = 'true',
  'projection.year.type' = 'integer',
  'projection.year.range' = '2010,2099',
  'projection.month.type' = 'integer',
  'projection.month.range' = '1,12',
  'projection.month.digits' = '2',
  'storage.location.template' = 's3://311-processed-data/processed/year=${year}/month=${month}/'
);
