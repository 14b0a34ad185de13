"""Screenshots of the Prefect UI after a demo run (`pipelines screenshots`, `make screenshots`).

Runs `pipelines demo --keep` in a child process, waits until the stack is kept up, finds a LAMP
day run and its report artifact through the API, and has headless Chromium (the Debian package;
`make screenshots` installs it) save the flow-runs page and that report as PNGs. Then the demo
is stopped with SIGTERM (which stops every child it started).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs" / "img"
# As this machine's probe runs it: no sandbox as root, no background network (it is closed).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1440,900",
    "--virtual-time-budget=20000",  # let the UI's scripts fetch and render before the shot
)


class ScreenshotError(RuntimeError):
    """The screenshots could not be taken (no browser, the demo failed...)."""


def chromium() -> str:
    """The Chromium binary, or a clear error saying how to get it."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise ScreenshotError(
        "chromium not found: `make screenshots` installs the Debian package "
        "(apt-get install chromium)"
    )


def take(out: Path = DEFAULT_OUT, timeout: float = 900.0) -> list[Path]:
    """Run the demo, save `flow-runs.png` and `lamp-run-report.png` under `out`."""
    browser = chromium()
    out.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AWS_"))}
    with tempfile.TemporaryDirectory(prefix="pipelines-screens-") as tmp:
        demo = subprocess.Popen(
            [str(Path(sys.executable).parent / "pipelines"), "demo", "--keep", "--workdir", tmp],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(demo.stdout or []), daemon=True).start()
        try:
            ui = _wait_for_ui(demo, lines, timeout)
            pages = {
                "flow-runs.png": f"{ui}/runs",
                "lamp-run-report.png": f"{ui}/artifacts/artifact/{_lamp_report(ui)}",
            }
            saved = [_shoot(browser, url, out / name, Path(tmp)) for name, url in pages.items()]
        finally:
            demo.send_signal(signal.SIGTERM)
            demo.wait(timeout=120)
    return saved


def _wait_for_ui(demo: subprocess.Popen[str], lines: list[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while not any("The stack keeps running" in line for line in lines):
        if demo.poll() is not None:
            raise ScreenshotError("the demo exited early:\n" + "".join(lines[-40:]))
        if time.monotonic() > deadline:
            raise ScreenshotError(f"the demo did not finish within {timeout:.0f} s")
        time.sleep(1)
    found = re.search(r"Prefect UI:\s+(http://\S+)", "".join(lines))
    if found is None:
        raise ScreenshotError("the demo did not print its Prefect UI address")
    return found.group(1)


def _post(url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = requests.post(url, json=body, timeout=30)
    response.raise_for_status()
    return list(response.json())


def _lamp_report(ui: str) -> str:
    """The id of the report (table artifact) of the first LAMP day run."""
    runs = _post(f"{ui}/api/flow_runs/filter", {"flow_runs": {"name": {"like_": "lamp 20"}}})
    if not runs:
        raise ScreenshotError("no LAMP day run in the demo's Prefect server")
    run_ids = [r["id"] for r in sorted(runs, key=lambda r: r["start_time"] or "")]
    artifacts = _post(
        f"{ui}/api/artifacts/filter",
        {"artifacts": {"flow_run_id": {"any_": run_ids}, "type": {"any_": ["table"]}}},
    )
    if not artifacts:
        raise ScreenshotError("the LAMP day runs published no report")
    return str(artifacts[0]["id"])


def _shoot(browser: str, url: str, path: Path, scratch: Path) -> Path:
    profile = scratch / f"chromium-{path.stem}"
    subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={path}", url],
        check=True,
        capture_output=True,
        timeout=180,
    )
    if not path.is_file() or path.stat().st_size < 10_000:
        raise ScreenshotError(f"{url}: chromium saved no usable screenshot at {path}")
    return path
