"""Telemetry processing without AWS: a local file (or bytes) through the same processor.

Used by `pipelines telemetry-file` (outputs written to a directory with the buckets' key layout),
by the benchmark (outputs produced and counted, nothing kept) and by tests.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.common.s3 import dump_json
from tasks.telemetry.archive_core import archive_key, day_label
from tasks.telemetry.csv_core import frame
from tasks.telemetry.dedup_core import keyset_bytes
from tasks.telemetry.messages_core import Message
from tasks.telemetry.plan_core import FileTotals, reconciliation
from tasks.telemetry.process_core import CrossFileIndex, FileProcessor, Reject, no_cross_file
from tasks.telemetry.vehicles_core import VehicleTable, parse_document

READ_CHUNK = 1 << 20


def file_chunks(path: Path, size: int = READ_CHUNK) -> Iterator[bytes]:
    """The bytes of a local file, `size` at a time."""
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk


@dataclass
class LocalRun:
    """What processing one file produced (outputs kept only when asked)."""

    totals: FileTotals = field(default_factory=FileTotals)
    messages: list[Message] = field(default_factory=list)
    archive: list[tuple[str, int, bytes]] = field(default_factory=list)  # (day, chunk, parquet)
    rejects: list[Reject] = field(default_factory=list)
    keysets: dict[str, bytes] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    metadata_problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    processor: FileProcessor | None = None

    @property
    def reconciliation(self) -> str:
        return reconciliation(self.totals)


def run_local(
    chunks: Iterable[bytes],
    metadata: bytes,
    *,
    now_ms: int,
    chunk_bytes: int = 8 << 20,
    message_bytes: int = 100_000,
    source_key: str = "incoming/local.csv",
    file_id: str = "local",
    retention_days: int | None = None,
    keep: bool = True,
    cross: CrossFileIndex | None = None,
) -> LocalRun:
    """Process a file's bytes with the metadata document's vehicles; no network."""
    started = time.perf_counter()
    records, problems = parse_document(metadata)
    table = VehicleTable()

    def resolve(ids: Iterable[str]) -> None:
        table.add({v: records[v] for v in ids if v in records})

    run = LocalRun(metadata_problems=problems)
    header, blocks = frame(chunks, chunk_bytes)
    if header is None:
        run.seconds = time.perf_counter() - started
        return run
    run.ignored_columns = list(header.ignored)
    processor = FileProcessor(
        header,
        source_key=source_key,
        file_id=file_id,
        now_ms=now_ms,
        vehicles=table,
        resolve=resolve,
        cross=cross or no_cross_file(),
        expected_rows=1_000_000,
        message_bytes=message_bytes,
        retention_days=retention_days,
    )
    run.processor = processor
    totals = run.totals
    for chunk in processor.results(blocks):
        totals.add_counts(
            chunk.rows, chunk.stored, chunk.duplicates, chunk.rejected, chunk.invalid_optional
        )
        for message in chunk.messages:
            totals.messages[message.priority] += 1
            totals.events_sent[message.priority] += message.events
            totals.message_bytes += len(message.body)
        totals.archive_objects += len(chunk.archive)
        if keep:
            run.messages += chunk.messages
            run.archive += [(day, chunk.index, body) for day, body in chunk.archive]
            run.rejects += chunk.rejects
        else:  # still render the rejects object's rows, as the flow does
            sink = io.StringIO()
            csv.writer(sink, lineterminator="\n").writerows(chunk.rejects)
    for day, keys in processor.keys.by_day():
        body = keyset_bytes(keys, table.ids)
        if keep:
            run.keysets[day_label(day)] = body
    run.seconds = time.perf_counter() - started
    return run


def write_outputs(run: LocalRun, out: Path, file_id: str = "local") -> dict[str, Any]:
    """Write a run's outputs under `out` (archive, rejects, messages, summary); the summary."""
    out.mkdir(parents=True, exist_ok=True)
    for day, chunk, body in run.archive:
        path = out / "archive" / archive_key(day, file_id, chunk)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    with (out / "rejects.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("line", "reason", "row"))
        writer.writerows(run.rejects)
    for priority in ("high", "low"):
        with (out / f"messages-{priority}.jsonl").open("w", encoding="utf-8") as handle:
            handle.writelines(m.body + "\n" for m in run.messages if m.priority == priority)
    totals = run.totals
    summary = {
        "rows_in": totals.rows,
        "stored": totals.stored,
        "rejected": totals.rejected_total,
        "duplicates": totals.duplicates,
        "rejected_by_code": totals.rejected_by_code(),
        "reconciliation": run.reconciliation,
        "chunks": totals.chunks,
        "messages": totals.messages,
        "archive_objects": totals.archive_objects,
        "ignored_columns": run.ignored_columns,
        "invalid_optional": totals.invalid_optional,
        "metadata_problems": run.metadata_problems[:20],
        "seconds": round(run.seconds, 3),
    }
    (out / "summary.json").write_bytes(dump_json(summary))
    loaded: dict[str, Any] = json.loads(dump_json(summary))
    return loaded
