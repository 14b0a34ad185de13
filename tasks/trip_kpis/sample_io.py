"""Load sample trips into the trips table (demo, tests, benchmark) through the DynamoDB layer.

Not a task: production trips are written by the trip service. `dynamo.batch_write` sends 25
items per request and resends what DynamoDB leaves unprocessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tasks.common import dynamo
from tasks.common.settings import Settings

KEY = ("trip_id",)


def load_trips(
    table: str, items: Iterable[Mapping[str, Any]], settings: Settings | None = None
) -> dynamo.BatchWriteReport:
    """Put every item (the last one wins for a repeated trip_id)."""
    return dynamo.batch_write(table, items, KEY, settings=settings)
