"""Prefect flows, one module per pipeline: orchestration only (tasks and transforms live below).

The pipelines that use these flows are declared in `deployments/pipelines/` and listed by the
registry (`deployments.registry`). Importing this package imports no flow module.
"""
