"""Backfill plans: items and months from years or a date range; month markers."""

from __future__ import annotations

from datetime import date

import pytest

from tasks.historic import plan_core
from tasks.historic.sources_core import ItemInfo, UnknownYearError, item_for

TODAY = date(2026, 11, 29)


def months(units: list[plan_core.Unit]) -> list[tuple[str, tuple[str, ...] | None]]:
    return [(u.item.label, u.months) for u in units]


def test_a_date_range_selects_every_month_it_touches_inclusive() -> None:
    units = plan_core.plan_units("bus", None, date(2023, 12, 31), date(2024, 2, 1), TODAY)
    assert months(units) == [("bus 2023", ("2023-12",)), ("bus 2024", ("2024-01", "2024-02"))]


def test_years_and_a_range_intersect_and_the_future_is_not_planned() -> None:
    units = plan_core.plan_units("rapid", [2026, 2016], date(2016, 11, 5), None, TODAY)
    assert months(units) == [
        ("rapid 2016", ("2016-11", "2016-12")),
        ("rapid 2026", tuple(f"2026-{m:02d}" for m in range(1, 12))),
    ]


def test_no_years_and_no_range_is_every_year_of_the_source() -> None:
    units = plan_core.plan_units("bus", None, None, None, TODAY)
    assert [u.item.year for u in units] == [2020, 2021, 2022, 2023, 2024, 2025, 2026]
    assert units[0].months == tuple(f"2020-{m:02d}" for m in range(1, 13))


def test_ferry_is_one_item_every_month_of_it_unless_limited() -> None:
    (everything,) = plan_core.plan_units("ferry", None, None, None, TODAY)
    assert (everything.item.label, everything.months, everything.last) == (
        "ferry",
        None,
        "2026-11",
    )
    (year,) = plan_core.plan_units("ferry", [2024], None, None, TODAY)
    assert year.months == tuple(f"2024-{m:02d}" for m in range(1, 13))
    (until,) = plan_core.plan_units("ferry", None, None, date(2023, 6, 30), TODAY)
    assert (until.months, until.last) == (None, "2023-06")


def test_bad_parameters_are_named() -> None:
    with pytest.raises(
        UnknownYearError, match=r"^no bus archive for 2019: ArcGIS has years 2020, "
    ):
        plan_core.plan_units("bus", [2019], None, None, TODAY)
    with pytest.raises(plan_core.PlanError, match=r"^end 2024-01-01 is before start 2024-02-01$"):
        plan_core.plan_units("bus", None, date(2024, 2, 1), date(2024, 1, 1), TODAY)


INFO = ItemInfo(item_for("bus", 2024), 1_717_000_000_000, 10, "bus.zip", "bus")


def marker(modified: int = INFO.modified, routes: list[str] | None = None) -> dict[str, object]:
    return plan_core.marker_doc("bus", "2024-03", INFO, routes, {"events": 1}) | {
        "item_modified": modified
    }


def test_a_month_is_redone_only_when_the_item_changed_or_routes_are_missing() -> None:
    markers = {
        "2024-01": marker(),
        "2024-02": marker(modified=1),
        "2024-03": marker(routes=["1", "28"]),
    }
    plans = plan_core.plan_months(
        ["2024-01", "2024-02", "2024-03", "2024-04"], markers, INFO.modified, ("1", "39"), False
    )
    assert [(p.month, p.action, p.reason) for p in plans] == [
        ("2024-01", "done", "written for this item version"),
        ("2024-02", "process", "the ArcGIS item changed since"),
        ("2024-03", "process", "routes not written yet"),
        ("2024-04", "process", "not written yet"),
    ]
    forced = plan_core.plan_months(["2024-01"], markers, INFO.modified, None, True)
    assert [(p.action, p.reason) for p in forced] == [("process", "forced")]


def test_markers_add_up_the_routes_written_for_one_item_version() -> None:
    assert plan_core.routes_written(None, 5, ("1",)) == ["1"]
    assert plan_core.routes_written({"item_modified": 5, "routes": ["28"]}, 5, ("1",)) == [
        "1",
        "28",
    ]
    assert plan_core.routes_written({"item_modified": 4, "routes": ["28"]}, 5, ("1",)) == ["1"]
    assert plan_core.routes_written({"item_modified": 5, "routes": None}, 5, ("1",)) is None
    assert plan_core.routes_written({"item_modified": 5, "routes": ["28"]}, 5, None) is None


def test_marker_keys_sit_beside_the_data_under_the_roles_prefix() -> None:
    assert plan_core.marker_key("ferry", "2024-05") == "Events/_state/historic/ferry/2024-05.json"
    with pytest.raises(plan_core.PlanError):
        plan_core.marker_key("ferry", "2024-5")
