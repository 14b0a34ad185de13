"""Run summaries and progress as Prefect artifacts (no-ops outside a flow or task run).

Artifact keys must be lowercase letters, digits and dashes; `artifact_key()` makes one from any
text. Outside a run (the local-file CLI modes, `.fn()` unit tests) there is nowhere to publish,
so these functions return None instead of failing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import get_run_context


def artifact_key(text: str) -> str:
    """A valid artifact key (lowercase letters, digits, dashes) from any text."""
    key = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return key or "run"


def _in_run() -> bool:
    try:
        get_run_context()
    except RuntimeError:
        return False
    return True


def _cell(value: Any) -> Any:
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)


def publish_summary(
    key: str,
    title: str,
    rows: Sequence[Mapping[str, Any]],
    notes: Sequence[str] = (),
) -> UUID | None:
    """Publish a table artifact (one row per item) plus a markdown note, if in a run.

    Args:
        key: artifact key (normalised with `artifact_key`); the UI groups runs by it.
        title: one-line description shown above the table.
        rows: the table, one mapping per row, same keys in every row.
        notes: extra markdown lines (warnings such as "backlog remains").
    """
    if not _in_run():
        return None
    table = [{k: _cell(v) for k, v in row.items()} for row in rows]
    artifact_id = create_table_artifact(
        key=artifact_key(key), table=table, description=f"**{title}**"
    )
    if notes:
        create_markdown_artifact(
            key=artifact_key(key + "-notes"),
            markdown=f"### {title}\n\n" + "\n".join(f"- {n}" for n in notes),
            description=title,
        )
    return artifact_id  # type: ignore[return-value]


def publish_markdown(key: str, title: str, markdown: str) -> UUID | None:
    """Publish a markdown artifact, if in a run."""
    if not _in_run():
        return None
    return create_markdown_artifact(  # type: ignore[return-value]
        key=artifact_key(key), markdown=f"### {title}\n\n{markdown}", description=title
    )


class Progress:
    """A progress artifact updated as work completes (0–100 %), a no-op outside a run."""

    def __init__(self, total: int, description: str) -> None:
        self.total = max(total, 1)
        self.done = 0
        self._id: UUID | None = None
        if _in_run():
            self._id = create_progress_artifact(  # type: ignore[assignment]
                progress=0.0, description=description
            )

    def advance(self, n: int = 1) -> float:
        """Count `n` more items done; returns the percentage."""
        self.done += n
        return self._publish(100.0 * min(self.done, self.total) / self.total)

    def reach(self, fraction: float) -> float:
        """Set the fraction done directly (e.g. a position in a time window); the percentage."""
        return self._publish(100.0 * min(max(fraction, 0.0), 1.0))

    def _publish(self, percent: float) -> float:
        percent = round(percent, 1)
        if self._id is not None:
            update_progress_artifact(artifact_id=self._id, progress=percent)
        return percent
