"""Fleet telemetry: GPS CSV files → validation, enrichment, dedup → SQS → DynamoDB; Parquet archive."""
