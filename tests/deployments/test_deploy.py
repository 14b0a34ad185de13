"""Deploying: work pools, ECS job template from stack outputs, `prefect deploy` of prefect.yaml."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from prefect.client.orchestration import get_client

from deployments import deploy
from deployments.local_stack import STACK_NAME


def test_local_target_points_at_this_checkout_without_roles() -> None:
    env = deploy.deploy_env("local", "local")
    assert env["PIPELINES_WORK_POOL"] == "local"
    assert env["PIPELINES_CODE_DIR"] == str(deploy.ROOT)
    assert env["PIPELINES_TASK_ROLE_LAMP"] == ""


def test_ecs_target_needs_every_role_output() -> None:
    with pytest.raises(deploy.DeployError, match="stack outputs"):
        deploy.deploy_env("ecs", "ecs", None)
    with pytest.raises(deploy.DeployError, match="lack LampRoleArn"):
        deploy.deploy_env("ecs", "ecs", {"TelemetryRoleArn": "x"})


def test_every_role_placeholder_in_prefect_yaml_is_set_by_deploy() -> None:
    text = (deploy.ROOT / "prefect.yaml").read_text()
    placeholders = {
        part.split("}}")[0].strip().lstrip("$")
        for part in text.split("{{")[1:]
        if part.strip().startswith("$")
    }
    assert placeholders <= set(deploy.deploy_env("local", "local"))


@pytest.mark.usefixtures("stack")
def test_ecs_job_template_takes_the_stack_outputs() -> None:
    outputs = deploy.stack_outputs(STACK_NAME)
    env = deploy.deploy_env("ecs", "ecs", outputs)
    assert env["PIPELINES_CODE_DIR"] == "/opt/pipelines"
    assert env["PIPELINES_TASK_ROLE_NYC311"] == outputs["Nyc311RoleArn"]
    template = deploy.ecs_job_template(outputs, "123.dkr.ecr.us-east-1.amazonaws.com/p:1")
    props = template["variables"]["properties"]
    assert props["cluster"]["default"] == "prefect-pipelines-dev"
    assert props["execution_role_arn"]["default"] == outputs["EcsTaskExecutionRoleArn"]
    assert props["cloudwatch_logs_options"]["default"]["awslogs-group"] == "/prefect-pipelines/dev"
    assert props["image"]["default"].endswith("/p:1")


@pytest.mark.usefixtures("prefect_harness")
def test_pools_are_created_once_then_updated(aws_server: str) -> None:
    assert deploy.ensure_process_pool("test-local") is True
    assert deploy.ensure_process_pool("test-local") is False
    outputs = {
        "ClusterName": "c", "EcsTaskExecutionRoleArn": "arn:aws:iam::1:role/x",
        "LogGroupName": "/g",
    }  # fmt: skip
    assert deploy.ensure_ecs_pool("test-ecs", outputs, "img:1") == "created"
    assert deploy.ensure_ecs_pool("test-ecs", outputs, "img:2") == "updated"
    with get_client(sync_client=True) as client:
        pool = client.read_work_pool("test-ecs")
    assert pool.type == "ecs"
    assert pool.base_job_template["variables"]["properties"]["image"]["default"] == "img:2"


ROLE_OUTPUT_OF_FLOW_FILE = {
    "flows/lamp.py": "LampRoleArn",
    "flows/nyc311.py": "Nyc311RoleArn",
    "flows/csv_profile.py": "CsvProfileRoleArn",
    "flows/trip_kpis.py": "TripKpisRoleArn",
    "flows/historic.py": "HistoricRoleArn",
    "flows/telemetry.py": "TelemetryRoleArn",
}


@pytest.mark.usefixtures("prefect_harness", "stack")
def test_prefect_deploy_creates_every_deployment_on_ecs_with_its_role() -> None:
    config: dict[str, Any] = yaml.safe_load((deploy.ROOT / "prefect.yaml").read_text())
    expected = config["deployments"]
    outputs = deploy.stack_outputs(STACK_NAME)
    deploy.ensure_ecs_pool("ecs-test", outputs, "img:1")
    assert deploy.run_prefect_deploy(deploy.deploy_env("ecs-test", "ecs", outputs)) == 0
    with get_client(sync_client=True) as client:
        deployed = {d.name: d for d in client.read_deployments()}
    for spec in expected:
        made = deployed[spec["name"]]
        assert made.work_pool_name == "ecs-test"
        assert made.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": "/opt/pipelines"}}
        ]
        role = outputs[ROLE_OUTPUT_OF_FLOW_FILE[spec["entrypoint"].split(":")[0]]]
        assert made.job_variables == {"task_role_arn": role}, spec["name"]
        crons = sorted(s.schedule.cron for s in made.schedules)  # type: ignore[union-attr]
        assert crons == sorted(s["cron"] for s in spec.get("schedules") or [])
        tzs = {s.schedule.timezone for s in made.schedules}  # type: ignore[union-attr]
        assert tzs == {s["timezone"] for s in spec.get("schedules") or []}
