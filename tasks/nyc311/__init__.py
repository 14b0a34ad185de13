"""NYC 311 collector: Socrata client, keyset paging, typed Parquet partitions, checkpoint."""
