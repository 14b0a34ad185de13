"""The trip KPIs benchmark on a tiny table: what it counts is right, and its targets can fail."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bench import trip_kpis as bench
from bench.common import Measurement
from tasks.common.settings import get_settings


def in_process(label: str, fn: Any, *args: Any) -> Measurement:
    """`bench.common.measure` without the fresh process (the harness has its own test)."""
    return Measurement(label, 0.0, 1.0, fn(*args))


def test_item_sizes_and_read_capacity_follow_dynamodbs_rule() -> None:
    assert bench.item_size({"trip_id": "t1"}) == 7 + 2
    assert bench.item_size({"f": Decimal("12.50")}) == 1 + 3  # 3 significant digits → 3 bytes
    assert bench.item_size({"f": Decimal("1E+5")}) == 1 + 2
    assert bench.item_size({"ok": True, "none": None}) == 2 + 1 + 4 + 1
    assert bench.read_capacity([4096, 4097, 1]) == 0.5 + 1.0 + 0.5


def test_the_daily_query_reads_one_date_and_the_seed_scan_reads_every_date(
    stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    table = get_settings().trips_table
    steps = bench.measure_steps(table, [2, 3], per_day=40, runner=in_process)
    assert [s.day for s in steps] == ["2024-04-02", "2024-04-03"]
    assert [s.daily.result["items_read"] for s in steps] == [40, 40]
    assert [s.seed.result["items_read"] for s in steps] == [80, 120]
    assert steps[-1].seed.result["seed_days"] == 3
    assert 0 < steps[-1].daily.result["rcu"] < steps[-1].seed.result["rcu"] / 3
    rebuilds = [in_process(str(n), bench.run_rebuild, table, n) for n in (1, 3)]
    assert [r.result["items_read"] for r in rebuilds] == [120, 120]
    assert rebuilds[0].result["files_digest"] == rebuilds[1].result["files_digest"]
    assert bench.report(steps, rebuilds, 40) == 0
    assert "PASS  daily items read = that date's trips" in capsys.readouterr().out
    # a daily run that read another date's trips too misses its target
    steps[-1].daily.result["items_read"] = 80
    assert bench.report(steps, rebuilds, 40) == 1
