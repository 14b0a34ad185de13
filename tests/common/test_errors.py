"""Errors are classified once: permanent ones are never retried, transient ones are."""

from __future__ import annotations

import json
import zipfile

import pyarrow as pa
import pytest
import requests
from botocore.exceptions import ClientError, EndpointConnectionError

from tasks.common.errors import ConflictError, PermanentError, is_permanent
from tasks.common.http import HttpSourceError


def client_error(code: str, status: int) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": "x"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "Op")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "exc",
    [
        PermanentError("bad input"),
        HttpSourceError("u", 404, "not found"),
        HttpSourceError("u", 400, "bad query"),
        HttpSourceError("u", 403, "forbidden"),
        client_error("AccessDenied", 403),
        client_error("ValidationException", 400),
        client_error("ResourceNotFoundException", 400),
        json.JSONDecodeError("x", "doc", 0),
        pa.ArrowInvalid("not parquet"),
        KeyError("stop_times.txt"),
        zipfile.BadZipFile("no zip"),
        FileNotFoundError("x.csv"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
    ],
    ids=repr,
)
def test_permanent_errors(exc: BaseException) -> None:
    assert is_permanent(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ConflictError("lost a race"),
        HttpSourceError("u", None, "connection refused"),
        HttpSourceError("u", 408, "timeout"),
        HttpSourceError("u", 429, "slow down"),
        HttpSourceError("u", 503, "unavailable"),
        client_error("ProvisionedThroughputExceededException", 400),
        client_error("SlowDown", 503),
        client_error("InternalError", 500),
        EndpointConnectionError(endpoint_url="http://x"),
        requests.ConnectionError("reset"),
        TimeoutError("read timed out"),
        ConnectionResetError("peer"),
        RuntimeError("something else"),
    ],
    ids=repr,
)
def test_transient_errors(exc: BaseException) -> None:
    assert not is_permanent(exc)
