"""Tests of deployments/ (CLI, local stack, infra)."""
