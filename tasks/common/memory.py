"""This process's memory, as run metrics and benchmarks report it."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's own peak RSS in MB so far.

    Reads `VmHWM` from /proc/self/status, which starts afresh at exec. `ru_maxrss` does not: on
    Linux it survives fork + exec, so a spawned child would report its parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB (Linux), macOS bytes
