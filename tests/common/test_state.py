"""The state store: JSON state objects moved only over the version that was read."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.common import aws, s3, state
from tasks.common.errors import ConflictError, is_permanent

BUCKET = "state-bucket"
KEY = "pipeline_state/cursor.json"


@pytest.fixture
def bucket(aws: None) -> str:
    aws_module().s3().create_bucket(Bucket=BUCKET)
    return BUCKET


def aws_module() -> Any:
    return aws


def test_a_missing_state_reads_as_none_and_is_created_once(bucket: str) -> None:
    first = state.read(bucket, KEY)
    assert (first.doc, first.etag, first.uri) == (None, None, f"s3://{bucket}/{KEY}")
    state.write(first, {"cursor": 1})
    assert state.read(bucket, KEY).doc == {"cursor": 1}
    with pytest.raises(state.StaleStateError, match="changed by another run"):
        state.write(first, {"cursor": 2})  # it was absent when read; it is not any more


def test_a_state_moved_since_it_was_read_is_not_overwritten(bucket: str) -> None:
    state.write(state.read(bucket, KEY), {"cursor": 1})
    mine, theirs = state.read(bucket, KEY), state.read(bucket, KEY)
    state.write(theirs, {"cursor": 2})
    with pytest.raises(state.StaleStateError) as caught:
        state.write(mine, {"cursor": 3})
    assert is_permanent(caught.value)  # a run must not retry into someone else's state
    assert state.read(bucket, KEY).doc == {"cursor": 2}
    assert s3.get_bytes(bucket, KEY) == b'{\n  "cursor": 2\n}\n'


def test_update_rereads_after_a_lost_race_and_skips_unchanged_documents(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    state.write(state.read(bucket, KEY), {"n": 1})
    real_write, raced = state.write, list[bool]()

    def racing_write(read_from: state.Versioned, doc: dict[str, Any], settings: Any = None) -> None:
        if not raced:  # another writer gets in between our read and our write, once
            raced.append(True)
            real_write(state.read(bucket, KEY), {"n": 10})
        real_write(read_from, doc, settings)

    monkeypatch.setattr(state, "write", racing_write)
    doc, written = state.update(bucket, KEY, lambda d: {"n": (d or {"n": 0})["n"] + 1})
    assert (doc, written) == ({"n": 11}, True)  # built on the other writer's version
    assert state.update(bucket, KEY, lambda d: d or {}) == ({"n": 11}, False)


def test_update_gives_up_after_its_attempts(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def always_stale(read_from: state.Versioned, doc: Any, settings: Any = None) -> None:
        raise state.StaleStateError("moved")

    monkeypatch.setattr(state, "write", always_stale)
    with pytest.raises(ConflictError, match="still changing after 3 attempts"):
        state.update(bucket, KEY, lambda d: {"x": 1}, attempts=3)


def test_read_many_reads_the_states_that_exist(bucket: str) -> None:
    for i in range(3):
        state.write(state.read(bucket, f"s/{i}.json"), {"i": i})
    assert state.read_many(bucket, ["s/0.json", "s/2.json", "s/9.json"]) == {
        "s/0.json": {"i": 0},
        "s/2.json": {"i": 2},
    }


def test_a_state_that_is_not_a_json_object_is_an_error(bucket: str) -> None:
    s3.put_bytes(bucket, KEY, b"[1, 2]", content_type=s3.JSON)
    with pytest.raises(state.StateError, match="is not a JSON object"):
        state.read(bucket, KEY)
    s3.put_bytes(bucket, KEY, b"{oops", content_type=s3.JSON)
    with pytest.raises(state.StateError, match="is not JSON"):
        state.read(bucket, KEY)
