"""Shared benchmark harness: run a function in a fresh process, time it, read its peak RSS.

Each measurement runs in a new `spawn`ed process, so imports and earlier runs do not inflate the
peak resident set size (RSS) of the next one. `Target`s are checked at the end and make the
benchmark exit non-zero when missed: speed targets live here, never in unit tests.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tasks.common.memory import peak_rss_mb as peak_rss_mb  # the bench modules import it here


@dataclass(frozen=True)
class Measurement:
    """One timed run."""

    label: str
    seconds: float
    peak_rss_mb: float
    result: Any = None


@dataclass(frozen=True)
class Target:
    """A bound a benchmark must meet, e.g. `Target("full day < 1 s", 0.62, 1.0)`."""

    name: str
    value: float
    limit: float
    higher_is_better: bool = False

    @property
    def met(self) -> bool:
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit


def _child(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    started = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - started
    conn.send((seconds, peak_rss_mb(), result))
    conn.close()


def measure(label: str, fn: Callable[..., Any], *args: Any) -> Measurement:
    """Run `fn(*args)` in a fresh process; `fn` and its result must be picklable.

    `seconds` is the time inside `fn` (imports excluded); `peak_rss_mb` is the child's whole
    peak, imports included, which is what a 512 MB Lambda or container limit sees.
    """
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args))
    proc.start()
    child.close()
    try:
        seconds, peak_mb, result = parent.recv()
    except EOFError:
        proc.join()
        raise RuntimeError(f"benchmark {label!r} died (exit code {proc.exitcode})") from None
    proc.join()
    return Measurement(label, seconds, peak_mb, result)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print an aligned plain-text table."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if n else c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def check(targets: Sequence[Target]) -> int:
    """Print each target as PASS/FAIL; return 0 if all are met, else 1."""
    print()
    for t in targets:
        op = ">=" if t.higher_is_better else "<="
        print(f"{'PASS' if t.met else 'FAIL'}  {t.name}: {t.value:,.3f} (target {op} {t.limit:,})")
    return 0 if all(t.met for t in targets) else 1


def main_guard(run: Callable[[], int]) -> None:
    """`if __name__ == "__main__": main_guard(run)` for each benchmark module."""
    sys.exit(run())
