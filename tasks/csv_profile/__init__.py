"""CSV profiling on upload: streamed schema, statistics and quality of `uploads/*.csv` (issue 4)."""
