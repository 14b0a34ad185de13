"""Historic backfills: ArcGIS rapid transit, bus and ferry exports → monthly gzip CSVs in S3."""
