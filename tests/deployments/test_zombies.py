"""A flow run whose process is killed ends Crashed (heartbeats + the zombie automation)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import requests

from deployments.deploy import ensure_zombie_automation
from deployments.local_stack import free_port, prefect_server


def _flow_runs(api: str) -> list[dict[str, Any]]:
    return list(requests.post(f"{api}/flow_runs/filter", json={}, timeout=10).json())


def _wait_for(api: str, state: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in _flow_runs(api) if r["state_type"] == state]
        if runs:
            return runs[0]
        time.sleep(1)
    raise AssertionError(f"no flow run reached {state} in {timeout:.0f}s: {_flow_runs(api)}")


def test_a_killed_flow_run_is_marked_crashed(tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    home = tmp_path / "server"
    with prefect_server(free_port(), home, home / "server.log") as api:
        with temporary_settings({PREFECT_API_URL: api}):
            # the local stack's server starts with the automation (90 s); for the test, 30 s
            # heartbeats (Prefect's minimum) and a shorter window
            assert ensure_zombie_automation(within_seconds=40) == "updated"
        script = tmp_path / "long_run.py"
        script.write_text(
            textwrap.dedent(
                """
                import time
                from prefect import flow

                @flow(name="long-run", flow_run_name="long-run sleeping")
                def long_run() -> None:
                    time.sleep(600)

                long_run()
                """
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(
            PREFECT_API_URL=api,
            PREFECT_HOME=str(tmp_path / "client"),
            PREFECT_FLOWS_HEARTBEAT_FREQUENCY="30",
        )
        proc = subprocess.Popen([sys.executable, str(script)], env=env)
        try:
            _wait_for(api, "RUNNING", 90)
            time.sleep(5)  # the first heartbeat is sent as the run starts
        finally:
            proc.kill()
            proc.wait(timeout=30)
        crashed = _wait_for(api, "CRASHED", 150)
    assert crashed["name"] == "long-run sleeping"
    assert "No heartbeat for 40 s" in crashed["state"]["message"]
