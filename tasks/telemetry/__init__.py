"""Fleet telemetry: GPS CSVs → validation, enrichment, dedup → SQS → DynamoDB; Parquet archive."""
