"""The main job, as a user runs it: `pipelines demo` in a fresh process, every pipeline end to end.

Slow (~90 s: it starts moto, the sample sources and a real Prefect server), and the only test that
proves the README's first command works as a whole. Afterwards the demo's Prefect server is
started again on its database to check that every flow run and task run has a meaningful name.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from deployments.demo import plan


def test_pipelines_demo_runs_every_pipeline_and_exits_cleanly(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PIPELINES_", "AWS_"))
    }
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "pipelines"), "demo", "--workdir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    table = out.split("What each run produced", 1)[1].split("What the local AWS holds now")[0]
    pipelines = {line.split()[0] for line in table.splitlines()[3:] if line.strip()}
    assert pipelines == {name for name, _scenario in plan()}
    assert "FAILED" not in table
    # the real LAMP sample: the rerun rewrites nothing; the 311 mirror holds each record once
    assert "rerun: 0 stop files written, 261 unchanged" in table
    dataset = re.search(r"processed dataset: ([\d,]+) rows, ([\d,]+) unique keys", out)
    assert dataset is not None
    assert dataset[1] == dataset[2]
    # telemetry: a file through the Lambda route, its duplicate event skipped, the consumer, the DLQ
    assert re.search(r"file A via Lambda: processed \([\d,]+ stored", table)
    assert "file A event again: already_processed" in table
    assert re.search(r"consume: received \{'high': \d+, 'low': \d+\}, 3 failed", table)
    assert "dlq list: {'demo-broken-producer': \"malformed message" in table
    assert "Traceback" not in out + proc.stderr
    _check_run_names(tmp_path / "prefect")


def _check_run_names(home: Path) -> None:
    """Every run the demo made, read back from its Prefect server, says what it was about."""
    from deployments.local_stack import free_port, prefect_server

    with prefect_server(free_port(), home, home / "names-check.log") as api:
        flow_runs = _all(api, "flow_runs")
        task_runs = _all(api, "task_runs")
    assert len(flow_runs) >= 20
    generated = re.compile(r"^[a-z]+-[a-z]+$")  # Prefect's adjective-animal default
    for run in flow_runs:
        assert " " in run["name"], run["name"]
        assert not generated.match(run["name"]), run["name"]
    # a subflow's placeholder task run is shown as the subflow (named above), not as a task
    placeholders = {run["parent_task_run_id"] for run in flow_runs}
    names_per_flow_run: dict[str, list[str]] = {}
    default_task_name = re.compile(r"^[\w-]+-([0-9]+|[0-9a-f]{3})$")  # `<task>-<key>`
    for run in (r for r in task_runs if r["id"] not in placeholders):
        assert not generated.match(run["name"]), run["name"]
        assert not default_task_name.match(run["name"]), run["name"]
        names_per_flow_run.setdefault(run["flow_run_id"], []).append(run["name"])
    for names in names_per_flow_run.values():
        repeated = sorted({n for n in names if names.count(n) > 1})
        assert repeated == [], repeated  # no two task runs of one flow run share a name


def _all(api: str, kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = requests.post(
            f"{api}/{kind}/filter", json={"limit": 200, "offset": len(found)}, timeout=30
        ).json()
        found += page
        if len(page) < 200:
            return found
