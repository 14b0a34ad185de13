"""Putting the flows on a Prefect server: work pools and `prefect deploy` with the right variables.

prefect.yaml reads a few `{{ $VAR }}` placeholders at deploy time: the work pool name, where the
code lives for the worker, and each pipeline's ECS task role (least privilege per pipeline; the
registry names the role of each pipeline). This module sets them — for a local process pool
(code = this checkout, no task roles) or for the ECS pool (code baked in the image at
/opt/pipelines, roles from the CloudFormation stack outputs).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deployments import registry

ROOT = Path(__file__).resolve().parents[1]
IMAGE_CODE_DIR = "/opt/pipelines"


def task_role_outputs() -> dict[str, str]:
    """Stack output → the prefect.yaml placeholder that carries it to the pipeline's runs."""
    return {p.role_output: p.role_variable for p in registry.pipelines()}


class DeployError(RuntimeError):
    """Deployment cannot proceed (no Prefect API, missing stack outputs...)."""


def prefect_api_url() -> str:
    """The Prefect API this process talks to; deployments need a real server, not ephemeral."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise DeployError(
            "PREFECT_API_URL is not set: deployments need a Prefect server "
            "(`pipelines local-stack --prefect` starts one and prints the variable)"
        )
    return str(url)


ZOMBIE_AUTOMATION = "crash-zombie-flow-runs"
# Flow runs emit a heartbeat event every PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds (30 in the
# ECS job template and the Lambda functions); three missed ones mean the process is gone.
ZOMBIE_AFTER_SECONDS = 90


def ensure_zombie_automation(within_seconds: int = ZOMBIE_AFTER_SECONDS) -> str:
    """Create (or update) the automation that marks a flow run Crashed when its heartbeats stop.

    Prefect's documented "detect zombie flows" recipe: a proactive trigger that expects, within
    `within_seconds` of each heartbeat, another heartbeat or a final state; if neither comes, the
    run's process died (killed task, evicted container, Lambda timeout) and the run is set to
    Crashed instead of staying Running forever. Returns "created" or "updated".
    """
    from datetime import timedelta

    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    automation = Automation(
        name=ZOMBIE_AUTOMATION,
        description="Mark flow runs whose heartbeats stopped as Crashed.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            },
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=within_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"No heartbeat for {within_seconds} s: the flow run's process is gone.",
            )
        ],
    )
    try:
        existing: Automation = Automation.read(name=ZOMBIE_AUTOMATION)  # type: ignore[assignment]
    except ValueError:
        automation.create()
        return "created"
    automation.id = existing.id
    automation.update()
    return "updated"


def stack_outputs(stack_name: str) -> dict[str, str]:
    """Outputs of a deployed CloudFormation stack (through the shared client factory)."""
    from tasks.common import aws

    stacks = aws.cloudformation().describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def ensure_process_pool(name: str) -> bool:
    """Create a `process` work pool called `name` if missing; True if it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
        except ObjectAlreadyExists:
            return False
    return True


def ecs_job_template(outputs: Mapping[str, str], image: str) -> dict[str, Any]:
    """prefect-aws's ECS base job template with our stack's defaults filled in."""
    from prefect_aws.workers.ecs_worker import ECSWorker

    template: dict[str, Any] = ECSWorker.get_default_base_job_template()
    properties = template["variables"]["properties"]
    defaults = {
        "image": image,
        "cluster": outputs["ClusterName"],
        "execution_role_arn": outputs["EcsTaskExecutionRoleArn"],
        "family": "prefect-pipelines",
        # one task definition per family, reused: avoids RegisterTaskDefinition rate limits
        "match_latest_revision_in_family": True,
        "configure_cloudwatch_logs": True,
        "cloudwatch_logs_options": {
            "awslogs-group": outputs["LogGroupName"],
            "awslogs-create-group": "false",  # the execution role may not create groups
        },
        "env": {
            "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
            # heartbeats feed the zombie automation (`ensure_zombie_automation`)
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
        },
        "cpu": 1024,
        "memory": 2048,
    }
    for name, value in defaults.items():
        properties[name]["default"] = value
    return template


def ensure_ecs_pool(name: str, outputs: Mapping[str, str], image: str) -> str:
    """Create or update the ECS work pool `name`; returns "created" or "updated"."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectAlreadyExists

    template = ecs_job_template(outputs, image)
    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(
                WorkPoolCreate(name=name, type="ecs", base_job_template=template)
            )
        except ObjectAlreadyExists:
            client.update_work_pool(name, WorkPoolUpdate(base_job_template=template))
            return "updated"
    return "created"


def deploy_env(pool: str, target: str, outputs: Mapping[str, str] | None = None) -> dict[str, str]:
    """The placeholder values prefect.yaml reads for `target` ("local" or "ecs")."""
    roles = task_role_outputs()
    if target == "local":
        return {
            "PIPELINES_WORK_POOL": pool,
            "PIPELINES_CODE_DIR": str(ROOT),
            **dict.fromkeys(roles.values(), ""),
        }
    if outputs is None:
        raise DeployError("the ECS target needs the CloudFormation stack outputs (--stack)")
    missing = [key for key in roles if key not in outputs]
    if missing:
        raise DeployError(f"stack outputs lack {', '.join(missing)}")
    return {
        "PIPELINES_WORK_POOL": pool,
        "PIPELINES_CODE_DIR": IMAGE_CODE_DIR,
        **{var: outputs[key] for key, var in roles.items()},
    }


def run_prefect_deploy(env: Mapping[str, str], names: list[str] | None = None) -> int:
    """`prefect --no-prompt deploy --all` (or `--name ...`) from the repository root."""
    api = prefect_api_url()
    argv = [sys.executable, "-m", "prefect", "--no-prompt", "deploy"]
    if names:
        for name in names:
            argv += ["--name", name]
    else:
        argv.append("--all")
    child_env = {**os.environ, **env, "PREFECT_API_URL": api}
    return subprocess.run(argv, cwd=ROOT, env=child_env, check=False).returncode
