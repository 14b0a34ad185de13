"""Trip KPIs: exact daily fare KPIs from the DynamoDB trips table to JSON files in S3."""
