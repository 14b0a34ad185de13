"""The main job, as a user runs it: `pipelines demo` in a fresh process, every pipeline end to end.

Slow (~80 s: it starts moto, the sample sources and a real Prefect server), and the only test that
proves the README's first command works as a whole.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from deployments.demo import SCENARIOS


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
    assert pipelines == {name.split(":")[0].rsplit(".", 1)[-1] for name in SCENARIOS}
    assert "FAILED" not in table
    # the real LAMP sample: the rerun rewrites nothing; the 311 mirror holds each record once
    assert "rerun: 0 stop files written, 261 unchanged" in table
    dataset = re.search(r"processed dataset: ([\d,]+) rows, ([\d,]+) unique keys", out)
    assert dataset is not None
    assert dataset[1] == dataset[2]
    assert "Traceback" not in out + proc.stderr
