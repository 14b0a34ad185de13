"""Local-file mode: the same processing on a parquet file and a GTFS zip, CSVs written to a
directory with the bucket's key layout (no AWS, no network; `pipelines lamp-file`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from tasks.lamp import process


def run_local_file(parquet: Path, gtfs_zip: Path, service_date: date, out: Path) -> dict[str, Any]:
    """Process `parquet` for `service_date` with the schedule of `gtfs_zip`; write under `out`.

    Returns the run's counts and the files written. Keys are built so they cannot leave their
    prefix, and each path is checked to resolve inside `out` before writing.
    """
    result = process.process_local(parquet.read_bytes(), gtfs_zip.read_bytes(), service_date)
    root = out.resolve()
    for stop_file in result.files:
        path = (root / stop_file.key).resolve()
        if not path.is_relative_to(root):  # pragma: no cover - keys.join already prevents it
            raise ValueError(f"refusing to write outside {root}: {stop_file.key}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(stop_file.body)
    return {**result.counts(), "out": str(root), "seconds": result.timings}
