"""Reading an ArcGIS archive into per-month spill files (Prefect task and local file I/O).

One pass over the archive: each member is judged by its header (`archive_core.check_file`),
events files are streamed in blocks (pyarrow's CSV reader, every column as text) and each
block's rows are appended to the spill file of their calendar month (Arrow IPC, LZ4) in the
run's work directory. Memory stays at one block, whatever the archive's size; each month is
then processed from its own spill file (memory: one month).

ZIP members that Python's zipfile can read are streamed straight from the archive. Members
compressed with a method it cannot read (Deflate64, which ArcGIS uses for large files) are
extracted one at a time with 7-Zip (`historic_unzip_command`): the process is awaited with a
timeout and its exit code checked, and the extracted file is deleted once read. Without the
tool the run fails with a `PermanentError` that says how to install it.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as _compute
import pyarrow.csv as pacsv
from prefect.logging import get_run_logger

from tasks.common.errors import PermanentError
from tasks.common.runs import compute_task, run_parameter
from tasks.common.settings import Settings, get_settings
from tasks.historic import archive_core, month_core
from tasks.historic.plan_core import FileReport, month_label
from tasks.historic.sources_core import Source

pc: Any = _compute

BLOCK_BYTES = 8 << 20
HEADER_BYTES = 64 << 10
_IPC = pa.ipc.IpcWriteOptions(compression="lz4")


class ArchiveError(PermanentError):
    """The archive or one of its events files cannot be read (which file, what is wrong)."""


class UnzipToolMissingError(PermanentError):
    """A member needs 7-Zip and it is not installed."""


class UnzipError(PermanentError):
    """7-Zip failed on a member (its exit code and message)."""


class UnzipTimeoutError(TimeoutError):
    """7-Zip did not finish within `historic_unzip_timeout_seconds` (retried)."""


@dataclass(frozen=True)
class MonthSpill:
    """One month's rows in canonical text columns, in a local Arrow IPC file."""

    month: str
    path: str
    rows: int
    days: tuple[int, ...]  # service days present (days since 1970-01-01)


@dataclass(frozen=True)
class SplitResult:
    """What one pass over an archive found."""

    months: dict[str, MonthSpill]
    files: list[FileReport]
    rows_unassigned: dict[str, int] = field(default_factory=dict)  # no usable service date
    rows_outside_months: int = 0  # rows of months this run does not process


# --- members ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A file to read: a ZIP member (`info`) or, for the ferry CSV, the file itself."""

    name: str
    info: zipfile.ZipInfo | None


def list_members(source: Source, archive: Path) -> list[Member]:
    """The archive's members in archive order (the ferry export is one CSV, not a ZIP)."""
    if source == "ferry":
        return [Member(archive.name, None)]
    try:
        with zipfile.ZipFile(archive) as zf:
            return [Member(i.filename, i) for i in zf.infolist()]
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"{archive.name} is not a ZIP archive: {exc}") from exc


def unzip_member(archive: Path, member: str, dest: Path, settings: Settings) -> Path:
    """Extract one member with 7-Zip into `dest`; returns its path (awaited, exit code checked)."""
    command = settings.historic_unzip_command
    tool = shutil.which(command)
    if tool is None:
        raise UnzipToolMissingError(
            f"{member} in {archive.name} uses a compression method Python's zipfile cannot read "
            f"(Deflate64) and the unzip tool {command!r} is not installed: install 7-Zip "
            "(Debian/Ubuntu: apt-get install p7zip-full; `make venv` does it) or point "
            "PIPELINES_HISTORIC_UNZIP_COMMAND at it"
        )
    # -spd: the member name is literal (no wildcards); -bd: no progress output
    argv = [tool, "x", "-y", "-spd", "-bd", f"-o{dest}", str(archive), member]
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            timeout=settings.historic_unzip_timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise UnzipTimeoutError(
            f"{command} did not extract {member} from {archive.name} within "
            f"{settings.historic_unzip_timeout_seconds:.0f} s (historic_unzip_timeout_seconds)"
        ) from exc
    output = (done.stderr or b"").decode(errors="replace").strip() or (done.stdout or b"").decode(
        errors="replace"
    ).strip()
    if done.returncode != 0:
        raise UnzipError(
            f"{command} failed on {member} in {archive.name} (exit code {done.returncode}): "
            f"{output[-500:]}"
        )
    path = (dest / member).resolve()
    if not path.is_relative_to(dest.resolve()) or not path.is_file():
        raise UnzipError(f"{command} did not produce {member} from {archive.name}")
    return path


@contextmanager
def open_member(
    source: Source, archive: Path, member: Member, scratch: Path, settings: Settings
) -> Iterator[IO[bytes]]:
    """A binary stream of the member: from the ZIP, via 7-Zip, or the ferry CSV itself."""
    if member.info is None:
        with archive.open("rb") as fh:
            yield fh
        return
    if member.info.compress_type in archive_core.ZIPFILE_METHODS:
        with zipfile.ZipFile(archive) as zf, zf.open(member.info) as fh:
            yield fh
        return
    scratch.mkdir(parents=True, exist_ok=True)
    path = unzip_member(archive, member.name, scratch, settings)
    try:
        with path.open("rb") as fh:
            yield fh
    finally:
        path.unlink(missing_ok=True)


# --- splitting -------------------------------------------------------------------------------


class _Spills:
    """One open IPC stream writer per month, written block by block."""

    def __init__(self, source: Source, work: Path) -> None:
        self.columns = archive_core.CANONICAL[source]
        self.schema = pa.schema([(c, pa.string()) for c in self.columns])
        self.work = work
        self.writers: dict[str, pa.ipc.RecordBatchStreamWriter] = {}
        self.rows: dict[str, int] = {}
        self.days: dict[str, set[int]] = {}

    def path(self, month: str) -> Path:
        return self.work / f"month-{month}.arrow"

    def write(self, month: str, batch: pa.RecordBatch, days: np.ndarray) -> None:
        if month not in self.writers:
            self.writers[month] = pa.ipc.new_stream(
                str(self.path(month)), self.schema, options=_IPC
            )
            self.rows[month] = 0
            self.days[month] = set()
        self.writers[month].write_batch(batch)
        self.rows[month] += batch.num_rows
        self.days[month].update(int(d) for d in np.unique(days))

    def close(self) -> dict[str, MonthSpill]:
        for writer in self.writers.values():
            writer.close()
        return {
            m: MonthSpill(m, str(self.path(m)), self.rows[m], tuple(sorted(self.days[m])))
            for m in sorted(self.writers)
        }


def _canonical(
    batch: pa.RecordBatch, check: archive_core.FileCheck, schema: pa.Schema
) -> pa.RecordBatch:
    by_name = {check.renames.get(c, c): batch.column(i) for i, c in enumerate(batch.schema.names)}
    arrays = [
        by_name[c] if c in by_name else pa.nulls(batch.num_rows, pa.string()) for c in schema.names
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def split_archive(
    source: Source,
    archive: Path,
    work: Path,
    months: set[str] | None,
    last: str | None = None,
    settings: Settings | None = None,
) -> SplitResult:
    """Spill every events row of `archive` into its month's file (`months`: only those; None:
    every month up to `last`). Members that are not events files are reported and skipped."""
    s = settings or get_settings()
    spills = _Spills(source, work)
    files: list[FileReport] = []
    unassigned = 0
    outside = 0
    try:
        for member in list_members(source, archive):
            reason = archive_core.skip_reason_for_name(member.name) if member.info else None
            if reason:
                files.append(FileReport(name=member.name, status="skipped", rows=0, reason=reason))
                continue
            with open_member(source, archive, member, work / "extract", s) as fh:
                check = archive_core.check_file(source, member.name, fh.read(HEADER_BYTES))
                if not check.events:
                    files.append(
                        FileReport(name=member.name, status="skipped", rows=0, reason=check.reason)
                    )
                    continue
                fh.seek(0)
                try:
                    rows, bad, elsewhere = _split_stream(source, fh, check, spills, months, last)
                except (pa.ArrowInvalid, UnicodeDecodeError, zipfile.BadZipFile, EOFError) as exc:
                    raise ArchiveError(f"{archive.name}: {member.name}: {exc}") from exc
            unassigned += bad
            outside += elsewhere
            files.append(
                FileReport(
                    name=member.name,
                    status="events",
                    rows=rows,
                    reason="UTF-8 BOM removed" if check.had_bom else "",
                )
            )
    finally:
        found = spills.close()
    return SplitResult(
        months=found,
        files=files,
        rows_unassigned={"bad_service_date": unassigned} if unassigned else {},
        rows_outside_months=outside,
    )


def _split_stream(
    source: Source,
    fh: IO[bytes],
    check: archive_core.FileCheck,
    spills: _Spills,
    months: set[str] | None,
    last: str | None,
) -> tuple[int, int, int]:
    """Stream one events file into the month spills; returns (rows, unassigned, outside)."""
    wanted = [c for c in check.columns if c in check.renames]
    read = pacsv.ReadOptions(column_names=list(check.columns), skip_rows=1, block_size=BLOCK_BYTES)
    convert = pacsv.ConvertOptions(
        include_columns=wanted,
        column_types={c: pa.string() for c in wanted},
        strings_can_be_null=False,
    )
    # ids and numbers only in rapid transit and bus files: a quoted line break can only be a
    # broken file there, and the parser is faster without looking for one
    parse = pacsv.ParseOptions(newlines_in_values=source == "ferry")
    rows = bad = elsewhere = 0
    reader = pacsv.open_csv(fh, read_options=read, parse_options=parse, convert_options=convert)
    for raw in reader:
        batch = _canonical(raw, check, spills.schema)
        rows += batch.num_rows
        day, ok = month_core.service_days(source, pa.Table.from_batches([batch]))
        bad += int((~ok).sum())
        month_code = np.where(ok, _month_codes(day), -1)
        for code in np.unique(month_code[ok]):
            label = month_label(int(code) // 100, int(code) % 100)
            mask = month_code == code
            if (months is not None and label not in months) or (
                months is None and last is not None and label > last
            ):
                elsewhere += int(mask.sum())
                continue
            spills.write(label, batch.filter(pa.array(mask)), day[mask])
    return rows, bad, elsewhere


def _month_codes(day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 → YYYYMM as integers."""
    months = day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return (months // 12 + 1970) * 100 + months % 12 + 1


def read_spill(spill: MonthSpill) -> pa.Table:
    """A month's rows back from its spill file."""
    with pa.OSFile(spill.path, "rb") as source, pa.ipc.open_stream(source) as reader:
        return reader.read_all()


def _split_run_name() -> str:
    source = run_parameter("source", "?")
    months = run_parameter("months")
    which = f"{len(months)} month(s)" if months else "every month"
    return f"split-months {source} ({which})"


@compute_task("split-months", run_name=_split_run_name)
def split_months(
    source: Source,
    archive_path: str,
    work_dir: str,
    months: list[str] | None,
    last: str | None = None,
) -> SplitResult:
    """The archive's events rows, spilled per month (see `split_archive`)."""
    result = split_archive(
        source, Path(archive_path), Path(work_dir), set(months) if months else None, last
    )
    logger = get_run_logger()
    for f in result.files:
        if f["status"] == "skipped":
            logger.warning("%s: skipped %s: %s", Path(archive_path).name, f["name"], f["reason"])
    logger.info(
        "%s: %d events file(s) → %d month(s), %s rows; %d without a service date",
        Path(archive_path).name,
        sum(1 for f in result.files if f["status"] == "events"),
        len(result.months),
        f"{sum(m.rows for m in result.months.values()):,}",
        sum(result.rows_unassigned.values()),
    )
    return result
