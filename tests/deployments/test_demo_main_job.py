"""The main job, as a user runs it: `pipelines demo --keep` in a fresh process, every pipeline.

Slow (~2 min: it starts moto, the sample sources and a real Prefect server on a free port, and
runs every pipeline's scenario), and the only test that proves the README's first command works
as a whole. While the stack is kept up it checks what the user would open: the UI on its
non-default port finds its own API (`/ui-settings`), and every flow run and task run in it has a
meaningful name. Then SIGTERM stops the demo and every child it started.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from deployments.demo import plan


def test_pipelines_demo_runs_every_pipeline_then_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PIPELINES_", "AWS_"))
    }
    argv = [str(Path(sys.executable).parent / "pipelines"), "demo", "--keep", "--workdir"]
    proc = subprocess.Popen(
        [*argv, str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        _wait_for(lambda: any("The stack keeps running" in line for line in lines), proc, 900)
        out = "".join(lines)
        ui = re.search(r"Prefect UI:\s+(http://127\.0\.0\.1:(\d+))", out)
        assert ui is not None, out[-3000:]
        assert ui[2] != "4200"
        _check_the_ui_finds_its_api(ui[1])
        _check_run_names(ui[1] + "/api")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
        reader.join(timeout=10)
    out = "".join(lines)
    assert code == 0, _what_failed(out)
    assert "stopping" in out
    with pytest.raises(requests.ConnectionError):  # the Prefect server went with it
        requests.get(ui[1] + "/api/health", timeout=5)
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
    assert "Traceback" not in out
    assert "No Moto CloudFormation support" not in out  # one summary line instead
    assert re.search(r"moto does not model \d+ resource\(s\) of the template", out)


def _wait_for(ready: Any, proc: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"the demo exited early with {proc.returncode}"
        assert time.monotonic() < deadline, "the demo did not finish in time"
        time.sleep(1)


def _check_the_ui_finds_its_api(ui: str) -> None:
    """The page people open asks `/ui-settings` for its API: it must be this server's."""
    settings = requests.get(f"{ui}/ui-settings", timeout=10).json()
    assert settings["api_url"] == f"{ui}/api"
    assert requests.get(f"{settings['api_url']}/health", timeout=10).json() is True


def _check_run_names(api: str) -> None:
    """Every run the demo made says what it was about."""
    flow_runs = _all(api, "flow_runs")
    task_runs = _all(api, "task_runs")
    assert len(flow_runs) >= 20
    generated = re.compile(r"^[a-z]+-[a-z]+$")  # Prefect's adjective-animal default
    for run in flow_runs:
        assert " " in run["name"], run["name"]
        assert not generated.match(run["name"]), run["name"]
    # a subflow's placeholder task run is shown as the subflow (named above), not as a task
    placeholders = {run["parent_task_run_id"] for run in flow_runs}
    default_task_name = re.compile(r"^[\w-]+-([0-9]+|[0-9a-f]{3})$")  # `<task>-<key>`
    names_per_flow_run: dict[str, list[str]] = {}
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


def _what_failed(out: str) -> str:
    """The demo's lines that say what failed (rows not Completed, errors), then its tail."""
    table = out.split("What each run produced", 1)[-1].split("What the local AWS holds", 1)[0]
    rows = [line for line in table.splitlines()[3:] if line.strip() and "Completed" not in line]
    errors = [line for line in out.splitlines() if "Error" in line or "Traceback" in line]
    return "\n".join(["rows not Completed:", *rows, "errors:", *errors[-20:], "tail:", out[-1500:]])
