"""The benchmark harness measures the child alone: its time, its result, its own peak RSS."""

from __future__ import annotations

import pytest

from bench.common import Target, check, measure


def allocate(mb: int) -> int:
    block = bytearray(mb * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])  # touch every page so it is resident
    return len(block)


def fail() -> None:
    raise SystemExit(3)


def test_peak_rss_is_the_childs_own_not_the_parents() -> None:
    allocate(400)  # the parent's peak must not leak into the child's figure
    small = measure("small", allocate, 10)
    big = measure("big", allocate, 200)
    assert small.result == 10 * 1024 * 1024
    assert small.peak_rss_mb < 200
    assert big.peak_rss_mb - small.peak_rss_mb == pytest.approx(190, abs=40)


def test_a_dead_child_is_reported_with_its_exit_code() -> None:
    with pytest.raises(RuntimeError, match=r"'boom' died \(exit code 3\)"):
        measure("boom", fail)


def test_missed_targets_fail_the_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    assert check([Target("t < 1", 0.5, 1.0), Target("rate >= 2", 3.0, 2.0, True)]) == 0
    assert check([Target("t < 1", 1.5, 1.0)]) == 1
    assert "FAIL  t < 1: 1.500 (target <= 1.0)" in capsys.readouterr().out
