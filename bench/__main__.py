"""Run every benchmark module listed in BENCHMARKS (`make bench` / `python -m bench`)."""

from __future__ import annotations

import importlib
import sys

# module names under bench/, each with a `run(argv) -> int`
BENCHMARKS: tuple[str, ...] = (
    "lamp",
    "csv_profile",
    "nyc311",
    "trip_kpis",
    "historic",
    "telemetry",
)


def main() -> int:
    failures = 0
    for name in BENCHMARKS:
        print(f"\n##### bench.{name}")
        failures += importlib.import_module(f"bench.{name}").run(sys.argv[1:])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
