"""Task presets and run names: retries only for transient errors, every run named."""

from __future__ import annotations

import pytest
from prefect import flow
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client

from tasks.common.errors import PermanentError
from tasks.common.runs import RETRY_DELAYS, RETRY_JITTER, io_task, label_flow_run, run_subflow

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_the_io_preset_retries_transient_errors_only() -> None:
    calls: list[str] = []

    @io_task("flaky", run_name="flaky {what}")
    def flaky(what: str) -> str:
        calls.append(what)
        if what == "refused":
            raise PermanentError("400: no such column")
        if len(calls) < 3:
            raise ConnectionError("reset")
        return "ok"

    assert (flaky.retries, flaky.retry_jitter_factor) == (len(RETRY_DELAYS), RETRY_JITTER)
    assert flaky.cache_policy is NO_CACHE

    @flow
    def run(what: str) -> str:
        return flaky(what)

    assert run("transient") == "ok"
    assert calls == ["transient"] * 3
    calls.clear()
    assert run("refused", return_state=True).is_failed()
    assert calls == ["refused"]  # not retried


def test_a_flow_run_is_renamed_and_tagged_once_it_knows_what_it_does() -> None:
    @flow(flow_run_name="demo-flow starting")
    def labelled(mode: str) -> str:
        label_flow_run(f"demo-flow {mode} from 2024-02-29T22:44", ["demo", mode])
        from prefect.runtime import flow_run

        return str(flow_run.id)

    run_id = labelled("incremental")
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)  # type: ignore[arg-type]
    assert run.name == "demo-flow incremental from 2024-02-29T22:44"
    assert set(run.tags) >= {"demo", "incremental"}


def test_labelling_outside_a_run_does_nothing() -> None:
    label_flow_run("nothing", ["x"])


def test_a_subflow_gives_its_value_or_the_exception_it_failed_with() -> None:
    @flow
    def day(n: int) -> dict[str, int]:
        if n < 0:
            raise ValueError(f"no day {n}")
        return {"n": n}

    @flow
    def fan_out() -> list[object]:
        return [run_subflow(day, n) for n in (1, -1, 2)]

    first, failed, last = fan_out()
    assert (first, last) == ({"n": 1}, {"n": 2})  # the failure did not stop the others
    assert isinstance(failed, ValueError)
    assert str(failed) == "no day -1"
