"""The README's command lines run as written against the local stack.

Every `pipelines run ...` line of the README's shell blocks is executed (in-process, through the
CLI's own `main`) against moto with the template's resources, the sample sources and a Prefect
server; every `prefect deployment run 'FLOW/DEPLOYMENT' --param k=v ...` line must name a
registered deployment and parameters its flow accepts.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from deployments import cli, registry

README = Path(__file__).resolve().parents[2] / "README.md"


def shell_lines() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]


PIPELINE_RUNS = [line for line in shell_lines() if line.startswith(".venv/bin/pipelines run ")]
DEPLOYMENT_RUNS = [line for line in shell_lines() if line.startswith("prefect deployment run ")]


def test_the_readme_has_examples_of_both_kinds() -> None:
    assert len(PIPELINE_RUNS) >= 5
    assert any("dry_run=false" in line for line in DEPLOYMENT_RUNS)


@pytest.fixture
def local_stack_env(
    stack: list[dict[str, str]], sample_sources: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deployments.sample_server import LocalSources

    for name, value in LocalSources(sample_sources, []).env().items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("prefect_harness", "local_stack_env")
@pytest.mark.parametrize("line", PIPELINE_RUNS)
def test_a_readme_pipeline_run_line_runs(line: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = shlex.split(line)[1:]
    if argv[1] == "csv-profile-sweep":  # something to sweep
        from tasks.common import s3
        from tasks.common.settings import get_settings

        s3.put_bytes(get_settings().csv_bucket, "uploads/a.csv", b"x\n1\n", content_type=s3.CSV)
    code = cli.main(argv)
    assert code == 0, capsys.readouterr().err[-2000:]


@pytest.mark.parametrize("line", DEPLOYMENT_RUNS)
def test_a_readme_deployment_run_line_names_a_real_deployment(line: str) -> None:
    words = shlex.split(line)
    flow_name, deployment_name = words[3].split("/")
    params = dict(cli.parse_param(words[i + 1]) for i, w in enumerate(words) if w == "--param")
    matches = [
        (p, d)
        for p in registry.pipelines()
        for d in p.deployments
        if d.name == deployment_name and p.flow(d.flow).flow_name == flow_name
    ]
    assert len(matches) == 1, f"no deployment {flow_name}/{deployment_name}"
    pipeline, deployment = matches[0]
    flow = pipeline.flow(deployment.flow).load()
    flow.validate_parameters({**deployment.parameters, **params})
