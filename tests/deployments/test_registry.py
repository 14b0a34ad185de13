"""The registry: one declaration per pipeline is all the CLI, demo, Lambda and deploy need."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from deployments import cli, demo, deploy, docs, registry, sample_server
from deployments.registry import Deployment, Pipeline

DUMMY = "tests.deployments.dummy_pipeline"


@pytest.fixture
def with_dummy(monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """The dummy pipeline registered: the one line a new pipeline adds."""
    monkeypatch.setattr(registry, "REGISTERED", (*registry.REGISTERED, DUMMY))
    return registry.pipelines()[-1]


def test_a_registered_pipeline_is_listed_by_the_cli(
    with_dummy: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "dummy-echo" in out
    assert "--param key  (str) = 'x'" in out


def test_a_registered_pipeline_is_in_the_demo_plan(with_dummy: Pipeline) -> None:
    assert [name for name, _scenario in demo.plan()] == [
        "lamp",
        "csv_profile",
        "nyc311",
        "trip_kpis",
        "historic",
        "telemetry",
        "dummy",
    ]


def test_the_demo_runs_just_the_pipelines_asked_for(
    with_dummy: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    assert [name for name, _scenario in demo.plan(["dummy", "lamp"])] == ["lamp", "dummy"]
    # An unknown name stops the command before any stack starts, naming the known ones.
    assert cli.main(["demo", "--only", "lamb"]) == 2
    assert capsys.readouterr().err == (
        "pipelines demo: no demo scenario for lamb (known: lamp, csv_profile, nyc311,"
        " trip_kpis, historic, telemetry, dummy)\n"
    )


def test_a_registered_pipeline_gets_its_lambda_route_and_sample_sources(
    with_dummy: Pipeline,
) -> None:
    (route,) = [r for r in registry.routes() if r.flow == "dummy-echo"]

    class Settings:
        csv_bucket = "data"

    assert route.matches("data", "dummy/a.X", Settings())
    assert [r.pattern.pattern for r in sample_server.default_routes()][-1] == "/dummy"
    with sample_server.serve() as sources:
        assert sources.env()["PIPELINES_DUMMY_URL"] == sources.base_url + "/dummy"


def test_a_registered_pipeline_is_deployed_with_its_role(with_dummy: Pipeline) -> None:
    rendered = yaml.safe_load(docs.prefect_yaml(registry.pipelines()))
    (entry,) = [d for d in rendered["deployments"] if d["name"] == "dummy-hourly"]
    assert entry["entrypoint"] == "tests/deployments/dummy_pipeline.py:echo"
    assert entry["schedules"] == [{"cron": "0 * * * *", "timezone": "UTC"}]
    assert entry["work_pool"]["job_variables"] == {
        "task_role_arn": "{{ $PIPELINES_TASK_ROLE_DUMMY }}"
    }
    assert deploy.task_role_outputs()["DummyRoleArn"] == "PIPELINES_TASK_ROLE_DUMMY"
    # the committed prefect.yaml does not have it yet: the generated-files check catches that
    assert docs.generated()[docs.PREFECT_YAML] != docs.PREFECT_YAML.read_text()


def test_every_deployment_and_route_names_a_flow_of_its_pipeline(with_dummy: Pipeline) -> None:
    broken = dataclasses.replace(
        with_dummy, deployments=(Deployment("d", "no-such-flow", "broken"),)
    )
    with pytest.raises(KeyError, match="pipeline 'dummy' has no flow 'no-such-flow'"):
        registry.check([broken])
    with pytest.raises(
        ValueError, match=r"duplicate pipeline name\(s\) in the registry: \['dummy'\]"
    ):
        registry.check([with_dummy, with_dummy])


def test_every_setting_belongs_to_at_most_one_pipeline_group() -> None:
    from tasks.common.settings import Settings

    pipelines = registry.pipelines()
    for name in Settings.model_fields:
        owners = [p.name for p in pipelines if name.startswith(p.settings_prefixes)]
        assert len(owners) <= 1, (name, owners)


def test_every_flow_reference_in_deployment_parameters_is_deployed() -> None:
    declared = {
        f"{p.flow(d.flow).flow_name}/{d.name}" for p in registry.pipelines() for d in p.deployments
    }
    referenced = {
        value
        for p in registry.pipelines()
        for d in p.deployments
        for key, value in d.parameters.items()
        if key.endswith("deployment") and value
    }
    assert referenced
    assert referenced <= declared
