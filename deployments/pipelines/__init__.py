"""One module per pipeline declaring its `PIPELINE` (see `deployments.registry`).

Each module also holds the pipeline's demo scenario (what `pipelines demo` runs) and its
offline sample sources (what the local sample-source server serves in place of public hosts).
Heavy imports (Prefect, boto3, pyarrow) happen inside functions: declaring is free.
"""
