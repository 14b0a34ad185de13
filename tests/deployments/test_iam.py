"""Least privilege proven by real calls: each pipeline's demo run against its role in the template.

Every registered pipeline's demo scenario runs on the local stack (moto server with the
template's resources, the sample sources, a Prefect server) while every AWS call its flows make
is recorded (`iam_check.CallRecorder`). Each call is mapped to the IAM requests AWS would make
and evaluated against the pipeline's role as the template defines it: every request must be
allowed, and every action a role allows must be needed by some request (or be listed below with
the reason it is there). moto does not enforce IAM, so without this test a missing permission
would only show in AWS.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from typing import Any

import pytest

from deployments import registry
from deployments.local_stack import LocalStack, deploy_template, reset_moto
from tests.deployments.cfn import Template, load_template
from tests.deployments.iam_check import CallRecorder, Request, RolePolicy, requests_for

# Allowed actions no pipeline code calls, with the reason they are granted.
DOCUMENTED_EXCEPTIONS: dict[str, str] = {
    # ECS (awslogs driver) and Lambda write the container's output to the project log group
    # with the task's role; the pipeline code itself never calls CloudWatch Logs.
    "PipelineLogsPolicy/WriteProjectLogGroup logs:CreateLogStream": "runtime log shipping",
    "PipelineLogsPolicy/WriteProjectLogGroup logs:PutLogEvents": "runtime log shipping",
    # Lambda itself sends an asynchronous event that failed every retry to the on-failure
    # destination queue, with the function's role.
    "LambdaFailureDestinationPolicy/SendFailedEvents sqs:SendMessage": "Lambda on-failure",
}


@pytest.fixture(scope="module")
def calls_by_role(
    moto_endpoint: str, sample_sources: str, prefect_harness: None
) -> Iterator[dict[str, list[Request]]]:
    """Run every pipeline's demo scenario; the IAM requests its flows made, by role."""
    from deployments.sample_server import LocalSources
    from tasks.common import aws

    saved = dict(os.environ)
    reset_moto(moto_endpoint)
    os.environ["AWS_ENDPOINT_URL"] = moto_endpoint
    os.environ.update(LocalSources(sample_sources, []).env())
    aws.clear_cache()
    try:
        resources = deploy_template(moto_endpoint)
        stack = LocalStack(moto_endpoint, None, None, resources)
        by_role: dict[str, list[Request]] = {}
        with CallRecorder() as recorder:
            for pipeline in registry.pipelines():
                if pipeline.demo is None:
                    continue
                aws.clear_cache()  # clients made from here on carry the recorder's hooks
                pipeline.demo(stack)
                requests = [r for call in recorder.take() for r in requests_for(call)]
                assert requests, f"{pipeline.name}: its demo made no AWS call"
                by_role.setdefault(pipeline.role, []).extend(requests)
        yield by_role
    finally:
        os.environ.clear()
        os.environ.update(saved)
        aws.clear_cache()
        reset_moto(moto_endpoint)


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


def test_every_call_each_pipeline_makes_is_allowed_by_its_role(
    calls_by_role: dict[str, list[Request]], template: Template
) -> None:
    denied = {
        role: sorted({str(r) for r in RolePolicy(template, role).denied(requests)})
        for role, requests in calls_by_role.items()
    }
    assert {role: found for role, found in denied.items() if found} == {}


def test_every_action_a_role_allows_is_needed_by_a_call(
    calls_by_role: dict[str, list[Request]], template: Template
) -> None:
    unused = {
        role: [
            u for u in RolePolicy(template, role).unused(requests) if u not in DOCUMENTED_EXCEPTIONS
        ]
        for role, requests in calls_by_role.items()
    }
    assert {role: found for role, found in unused.items() if found} == {}


def _without_action(template: Template, role: str, action: str) -> Template:
    mutated = copy.deepcopy(template)
    for policy in mutated["Resources"][role]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            statement["Action"] = [a for a in actions if a != action] or ["none:Nothing"]
    return mutated


@pytest.mark.parametrize(
    ("pipeline", "action"),
    [
        ("nyc311", "s3:PutObject"),
        ("lamp", "s3:GetObject"),
        ("csv_profile", "dynamodb:GetItem"),
        ("trip_kpis", "dynamodb:Query"),
    ],
)
def test_removing_a_needed_action_from_a_role_fails_the_check(
    calls_by_role: dict[str, list[Request]], template: Template, pipeline: str, action: str
) -> None:
    role = next(p.role for p in registry.pipelines() if p.name == pipeline)
    requests = calls_by_role[role]
    assert RolePolicy(template, role).denied(requests) == []
    denied = RolePolicy(_without_action(template, role, action), role).denied(requests)
    assert denied
    assert {r.action for r in denied} == {action}


def test_conditions_and_missing_keys_are_evaluated(template: Template) -> None:
    policy = RolePolicy(template, "Nyc311Role")
    bucket = "arn:aws:s3:::311-processed-data"
    assert policy.allows(Request("s3:ListBucket", bucket, (("s3:prefix", "processed/year=2024/"),)))
    assert not policy.allows(Request("s3:ListBucket", bucket, (("s3:prefix", "secrets/"),)))
    # S3's own ListBucket check for a GET of a missing key carries no prefix: IfExists passes
    assert policy.allows(Request("s3:ListBucket", bucket))
    assert not policy.allows(Request("s3:GetObject", "arn:aws:s3:::311-raw-data/other/x.json"))
    assert not policy.allows(Request("dynamodb:Scan", "arn:aws:dynamodb:us-east-1:1:table/x"))


def test_the_recorder_keeps_pipeline_calls_only(aws: Any) -> None:
    from prefect import flow

    from tasks.common import aws as factory
    from tasks.common import s3

    @flow
    def put() -> None:
        s3.put_bytes("bucket-b", "in-flow.txt", b"x", content_type="text/plain")

    with CallRecorder() as recorder:
        factory.clear_cache()
        factory.s3().create_bucket(Bucket="bucket-b")  # set-up: main thread, no flow run
        put()
    calls = recorder.take()
    assert [(c.service, c.operation, c.params.get("Key"), c.status) for c in calls] == [
        ("s3", "PutObject", "in-flow.txt", 200)
    ]
    assert [str(r) for c in calls for r in requests_for(c)] == [
        "s3:PutObject on arn:aws:s3:::bucket-b/in-flow.txt [from s3:PutObject bucket-b/in-flow.txt]"
    ]
