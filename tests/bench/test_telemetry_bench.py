"""The telemetry benchmark on a tiny file: every engine runs and agrees with the expectation."""

from __future__ import annotations

from pathlib import Path

from bench import telemetry as bench_telemetry


def test_every_engine_counts_the_tiny_file_like_the_generator(tmp_path: Path) -> None:
    path, metadata, expected = bench_telemetry.ensure_file(tmp_path, 4_000)
    assert expected["rows"] > 4_000  # 20 vehicles x 200 steps, plus the duplicates
    assert set(expected["rejected_by_code"]) >= {"missing_field", "over_max_speed"}
    want = {k: expected[k] for k in ("rows", "stored", "duplicates", "rejected")}
    for engine in (bench_telemetry.run_ours, bench_telemetry.run_duckdb):
        result = engine(str(path), str(metadata))
        assert {k: result[k] for k in want} == want, engine.__name__
        assert result["peak_mb"] > 0
    rowwise = bench_telemetry.run_rowwise(str(path), str(metadata))
    # the seed's Bloom filter may drop a real event as a "duplicate"; it never invents one
    assert rowwise["rows"] == want["rows"]
    assert rowwise["rejected"] == want["rejected"]
    assert rowwise["stored"] + rowwise["duplicates"] == want["stored"] + want["duplicates"]
    assert rowwise["stored"] <= want["stored"]


def test_the_file_is_reused_when_it_is_already_there(tmp_path: Path) -> None:
    first = bench_telemetry.ensure_file(tmp_path, 2_000)
    stamp = first[0].stat().st_mtime_ns
    assert bench_telemetry.ensure_file(tmp_path, 2_000) == first
    assert first[0].stat().st_mtime_ns == stamp
