"""The ArcGIS sources of the historic backfills: item ids, URLs and item metadata (pure).

- Rapid transit (2016 on) and bus (2020 on): one ArcGIS Online item per year, a ZIP of CSVs at
  `{items}/{item_id}/data`; the item's metadata (`{items}/{item_id}?f=json`) carries `modified`
  (epoch milliseconds), which changes whenever MBTA replaces the file: the backfill redoes a
  month only when that value differs from the one its month marker recorded.
- Ferry: one ArcGIS Hub dataset for every year, exported as CSV on request (refresh the export,
  then download it); its ArcGIS Online item gives `modified` the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Source = Literal["rapid", "bus", "ferry"]
SOURCES: tuple[Source, ...] = ("rapid", "bus", "ferry")

RAPID_ITEMS: dict[int, str] = {
    2016: "3e892be850fe4cc4a15d6450de4bd318",  # travel times/headways, not events (see docs)
    2017: "cde60045db904ad299922f4f8759dcad",
    2018: "25c3086e9826407e9f59dd9844f6c975",
    2019: "11bbb87f8fb245c2b87ed3c8a099b95f",
    2020: "cb4cf52bafb1402b9b978a424ed4dd78",
    2021: "611b8c77f30245a0af0c62e2859e8b49",
    2022: "99094a0c59e443cdbdaefa071c6df609",
    2023: "9a7f5634db72459ab731b6a9b274a1d4",
    2024: "0711756aa5e1400891e79b984a94b495",  # from here on sync_stop_sequence
    2025: "e2344a2297004b36b82f57772926ed1a",
    2026: "a6d2a50d28fc43d8a4f86f73085d17b0",
}
BUS_ITEMS: dict[int, str] = {
    2020: "4c1293151c6c4a069d49e6b85ee68ea4",  # quarterly files, old column spellings, one BOM
    2021: "2d415555f63b431597721151a7e07a3e",
    2022: "ef464a75666349f481353f16514c06d0",
    2023: "b7b36fdb7b3a4728af2fccc78c2ca5b7",
    2024: "96c77138c3144906bce93d0257531b6a",  # from 2024-06 on, times are UTC
    2025: "924df13d845f4907bb6a6c3ed380d57a",
    2026: "9d8a8cad277545c984c1b25ed10b7d3c",
}
FERRY_ITEM = "ae21643bbe60488db8520cc694f882aa"


class UnknownYearError(ValueError):
    """A year the source has no ArcGIS item for."""


class ItemError(ValueError):
    """ArcGIS refused an item request (its JSON carries an error with a 4xx code)."""


class ItemServerError(RuntimeError):
    """ArcGIS answered an item request with a server-side error code (worth retrying)."""


@dataclass(frozen=True)
class ItemRef:
    """One ArcGIS item of a source: a year's archive, or (ferry, `year` None) the whole export."""

    source: Source
    year: int | None
    item_id: str

    @property
    def label(self) -> str:
        """`rapid 2024`, `bus 2020`, `ferry`."""
        return self.source if self.year is None else f"{self.source} {self.year}"


def items_of(source: Source) -> dict[int, str]:
    """Item id by year (empty for ferry, whose one item covers every year)."""
    return {"rapid": RAPID_ITEMS, "bus": BUS_ITEMS, "ferry": {}}[source]


def item_for(source: Source, year: int | None) -> ItemRef:
    """The item holding `year` of `source` (ferry: its single item, whatever the year)."""
    if source == "ferry":
        return ItemRef("ferry", None, FERRY_ITEM)
    items = items_of(source)
    if year not in items:
        known = ", ".join(str(y) for y in sorted(items))
        raise UnknownYearError(f"no {source} archive for {year}: ArcGIS has years {known}")
    return ItemRef(source, year, items[year])


def item_json_url(base_url: str, item_id: str) -> str:
    """The item's metadata (`?f=json` is added as a query parameter)."""
    return f"{base_url.rstrip('/')}/{item_id}"


def item_data_url(base_url: str, item_id: str) -> str:
    """The item's file (a ZIP for rapid transit and bus)."""
    return f"{base_url.rstrip('/')}/{item_id}/data"


def ferry_refresh_url(hub_url: str) -> str:
    """ArcGIS Hub's export endpoint; `updateCache=true` asks it to rebuild the CSV."""
    return f"{hub_url.rstrip('/')}/api/download/v1/items/{FERRY_ITEM}/csv"


FERRY_REFRESH_PARAMS = {"redirect": "false", "layers": "0", "updateCache": "true"}
FERRY_STATUS_PARAMS = {"redirect": "false", "layers": "0"}


def ferry_csv_url(hub_url: str) -> str:
    """The ferry CSV export (every row of layer 0)."""
    return f"{hub_url.rstrip('/')}/api/v3/datasets/{FERRY_ITEM}_0/downloads/data"


FERRY_CSV_PARAMS = {"format": "csv", "spatialRefId": "4326", "where": "1=1"}
# Export states of ArcGIS Hub worth waiting for; anything else is final.
FERRY_PENDING_STATES = frozenset({"pending", "processing", "inprogress", "in_progress", "queued"})


@dataclass(frozen=True)
class ItemInfo:
    """What ArcGIS says about an item: when it last changed, its size and file name."""

    item: ItemRef
    modified: int  # epoch milliseconds, compared as is
    size: int | None
    name: str
    title: str

    @property
    def modified_iso(self) -> str:
        """`modified` as an ISO UTC time (for people)."""
        moment = datetime.fromtimestamp(self.modified / 1000, UTC)
        return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_item(item: ItemRef, payload: Mapping[str, Any]) -> ItemInfo:
    """Item metadata from ArcGIS's JSON (`ItemError`/`ItemServerError` for an error answer).

    ArcGIS reports errors inside an HTTP 200 answer: `{"error": {"code": 400, "message": ...}}`.
    """
    error = payload.get("error")
    if isinstance(error, Mapping):
        code = error.get("code")
        message = f"ArcGIS item {item.item_id} ({item.label}): error {code}: {error.get('message')}"
        if isinstance(code, int) and code >= 500:
            raise ItemServerError(message)
        raise ItemError(message)
    modified = payload.get("modified")
    if not isinstance(modified, int) or isinstance(modified, bool):
        raise ItemError(
            f"ArcGIS item {item.item_id} ({item.label}): expected an integer `modified`, "
            f"got {modified!r}"
        )
    size = payload.get("size")
    return ItemInfo(
        item=item,
        modified=modified,
        size=size if isinstance(size, int) and size >= 0 else None,
        name=str(payload.get("name") or ""),
        title=str(payload.get("title") or ""),
    )
