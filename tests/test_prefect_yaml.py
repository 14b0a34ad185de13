"""prefect.yaml: every entrypoint loads, its parameters validate, schedules are well formed."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def deployments() -> list[dict[str, Any]]:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    return list(config.get("deployments") or [])


def test_prefect_yaml_has_no_secrets() -> None:
    text = (ROOT / "prefect.yaml").read_text().lower()
    for word in ("token:", "password", "secret_key", "api_key"):
        assert word not in text


def test_deployment_names_are_unique_per_flow() -> None:
    pairs = [(d["entrypoint"], d["name"]) for d in deployments()]
    assert len(pairs) == len(set(pairs))


def test_prefect_yaml_is_what_the_registry_renders() -> None:
    from deployments import docs, registry

    assert (ROOT / "prefect.yaml").read_text() == docs.prefect_yaml(registry.pipelines())


@pytest.mark.parametrize(
    "deployment", deployments(), ids=lambda d: f"{d['name']}" if isinstance(d, dict) else ""
)
def test_entrypoint_loads_and_parameters_validate(deployment: dict[str, Any]) -> None:
    from prefect.flows import load_flow_from_entrypoint

    flow: Any = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
    params = deployment.get("parameters") or {}
    flow.validate_parameters(params)  # raises on unknown, missing or ill-typed parameters
    for schedule in deployment.get("schedules") or []:
        assert set(schedule) <= {"cron", "timezone", "active", "parameters", "day_or"}
        ZoneInfo(schedule["timezone"])  # every schedule names its zone explicitly
        assert len(schedule["cron"].split()) == 5
        flow.validate_parameters({**params, **(schedule.get("parameters") or {})})
    assert deployment["work_pool"]["name"] == "{{ $PIPELINES_WORK_POOL }}"
    assert deployment.get("description") or flow.description
