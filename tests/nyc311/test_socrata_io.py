"""The Socrata client: retries what is transient, fails fast with Socrata's reason otherwise."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from prefect.logging import disable_run_logger
from werkzeug import Response

from tasks.common.http import HttpSourceError
from tasks.common.settings import get_settings
from tasks.nyc311.socrata_io import SocrataError, app_token, dataset_url, fetch_page

from .conftest import FakeSocrata

WHERE = "created_date < '2024-02-01T00:00:00.000'"
RECORD = {"unique_key": "1", "created_date": "2024-01-01T00:00:00.000"}


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # a token in the environment: the Secret-block fallback (which needs a Prefect API) is
    # exercised by the flow tests
    monkeypatch.setenv("PIPELINES_SOCRATA_APP_TOKEN", "unit-test-token")
    with disable_run_logger():
        yield


def _fetch(limit: int = 10) -> list[dict[str, object]]:
    s = get_settings()
    return fetch_page.fn(s.socrata_base_url, s.socrata_dataset_id, WHERE, limit)


@pytest.mark.usefixtures("fast_http")
def test_a_page_is_asked_for_with_keyset_order_and_limit(socrata: FakeSocrata) -> None:
    socrata.dataset.add(RECORD)
    assert _fetch(5) == [RECORD]
    assert socrata.pages() == [
        {"$order": "created_date,unique_key", "$limit": "5", "$where": WHERE}
    ]


@pytest.mark.usefixtures("fast_http")
def test_429_with_retry_after_then_success(socrata: FakeSocrata) -> None:
    socrata.dataset.add(RECORD)
    socrata.script.append(Response("slow down", status=429, headers={"Retry-After": "1"}))
    assert _fetch() == [RECORD]
    assert len(socrata.requests) == 2
    assert socrata.requests[0]["args"] == socrata.requests[1]["args"]


@pytest.mark.usefixtures("fast_http")
def test_202_still_processing_is_retried(socrata: FakeSocrata) -> None:
    socrata.dataset.add(RECORD)
    socrata.script.extend([Response("", status=202), Response("", status=503)])
    assert _fetch() == [RECORD]
    assert len(socrata.requests) == 3


@pytest.mark.usefixtures("fast_http")
def test_400_fails_fast_with_socratas_error_code_and_message(socrata: FakeSocrata) -> None:
    body = {"errorCode": "query.soql.no-such-column", "message": "No such column: created"}
    socrata.script.append(Response(json.dumps(body), status=400, content_type="application/json"))
    with pytest.raises(SocrataError) as info:
        _fetch()
    assert (info.value.status, info.value.code) == (400, "query.soql.no-such-column")
    assert str(info.value).startswith(
        "Socrata answered HTTP 400 query.soql.no-such-column: No such column: created (GET http"
    )
    assert len(socrata.requests) == 1  # not retried


@pytest.mark.usefixtures("fast_http")
def test_a_4xx_without_json_still_says_what_happened(socrata: FakeSocrata) -> None:
    socrata.script.append(Response("Forbidden: bad token", status=403))
    with pytest.raises(SocrataError, match="HTTP 403 http-error: Forbidden: bad token"):
        _fetch()


@pytest.mark.usefixtures("fast_http")
def test_5xx_beyond_the_retry_budget_is_a_source_error(socrata: FakeSocrata) -> None:
    socrata.script.extend([Response("", status=500)] * 4)
    with pytest.raises(HttpSourceError, match="HTTP 500"):
        _fetch()
    assert len(socrata.requests) == 4  # 1 try + 3 retries


@pytest.mark.usefixtures("fast_http")
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"rows": []}', "not-a-list: expected a JSON list, got dict"),
        ("[1, 2]", "not-a-list: expected a JSON list of objects"),
        ("<html>maintenance</html>", "invalid-json: the body is not JSON"),
    ],
)
def test_a_200_body_must_be_a_json_list_of_records(
    socrata: FakeSocrata, body: str, message: str
) -> None:
    socrata.script.append(Response(body, status=200))
    with pytest.raises(SocrataError, match=message):
        _fetch()


def test_token_from_the_environment_is_sent_as_a_header(
    socrata: FakeSocrata, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINES_SOCRATA_APP_TOKEN", "env-token-abc")
    assert app_token(get_settings()) == "env-token-abc"
    _fetch()
    assert socrata.requests[0]["headers"]["X-App-Token"] == "env-token-abc"


def test_dataset_id_cannot_leave_the_resource_path() -> None:
    assert dataset_url("https://x.org/", "erm2-nwe9") == "https://x.org/resource/erm2-nwe9.json"
    assert dataset_url("https://x.org", "../admin") == "https://x.org/resource/..%2Fadmin.json"


def test_the_sample_server_answers_the_clients_queries(
    sample_sources: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINES_SOCRATA_BASE_URL", sample_sources)
    page = _fetch(3)
    stamps = [str(r["created_date"]) for r in page]
    assert stamps == sorted(stamps)
    assert len(page) == 3
