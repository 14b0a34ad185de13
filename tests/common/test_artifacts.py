"""Run summaries and progress become real Prefect artifacts inside a run, no-ops outside."""

from __future__ import annotations

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    ArtifactFilterType,
)

from tasks.common import artifacts


def test_artifact_key_is_normalised() -> None:
    assert artifacts.artifact_key("LAMP 2024-02-07 / Run!") == "lamp-2024-02-07-run"
    assert artifacts.artifact_key("***") == "run"


def test_outside_a_run_nothing_is_published() -> None:
    assert artifacts.publish_summary("k", "t", [{"a": 1}]) is None
    assert artifacts.Progress(3, "x").advance() == pytest.approx(33.3)


@flow
def _summarised() -> None:
    artifacts.publish_summary(
        "Test Summary", "what happened", [{"stage": "fetch", "rows": 3}], ["backlog remains"]
    )
    progress = artifacts.Progress(total=4, description="days")
    for _ in range(4):
        progress.advance()


@pytest.mark.usefixtures("prefect_harness")
def test_summary_table_and_notes_are_published_in_a_flow() -> None:
    state = _summarised(return_state=True)
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    with get_client(sync_client=True) as client:
        table = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["test-summary"]))
        )
        notes = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["test-summary-notes"]))
        )
        progress = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                type=ArtifactFilterType(any_=["progress"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]),
            )
        )  # this run's only: the server is shared with every other flow test
    assert table[-1].type == "table"
    assert [a.data for a in progress] == [100.0]
    assert '"rows": 3' in str(table[-1].data) or "'rows': 3" in str(table[-1].data)
    assert "backlog remains" in str(notes[-1].data)
