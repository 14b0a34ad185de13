"""Errors classified once: permanent ones fail a task at once, transient ones are retried.

Permanent: the input or the request is wrong and will be wrong again (a 4xx other than 408/429,
a malformed payload, a missing file or column, a schema error, a programming error). Transient:
the network, a throttle, a 5xx, a lost race on a conditional write. `is_permanent` is what every
task's retry condition asks (`tasks.common.runs`), so no pipeline keeps its own list.
"""

from __future__ import annotations

import zipfile

import requests
from botocore.exceptions import BotoCoreError, ClientError

# AWS error codes that mean "try again later" even though some come with a 4xx status.
TRANSIENT_AWS_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "TransactionInProgressException",
        "InternalError",
        "ServiceUnavailable",
    }
)
# HTTP statuses that are worth another try; any other 4xx is a refusal that will not change.
TRANSIENT_HTTP_STATUSES = frozenset({408, 429})


class PermanentError(Exception):
    """Retrying cannot help: the input, the request or the configuration is wrong."""


class ConflictError(RuntimeError):
    """A conditional write lost a race (S3 412/409, DynamoDB condition): re-read and retry."""


def http_status_is_transient(status: int | None) -> bool:
    """True for no answer at all, 408, 429 and 5xx."""
    return status is None or status in TRANSIENT_HTTP_STATUSES or status >= 500


def _client_error_is_permanent(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if str(error.get("Code")) in TRANSIENT_AWS_CODES:
        return False
    return isinstance(status, int) and 400 <= status < 500 and status not in {408, 429}


def is_permanent(exc: BaseException) -> bool:
    """Whether retrying the operation that raised `exc` is pointless."""
    from tasks.common.http import HttpSourceError  # imports this module

    if isinstance(exc, PermanentError):
        return True
    if isinstance(exc, ConflictError):
        return False
    if isinstance(exc, HttpSourceError):
        return exc.permanent
    if isinstance(exc, ClientError):
        return _client_error_is_permanent(exc)
    if isinstance(exc, BotoCoreError | requests.RequestException | TimeoutError):
        return False  # connection errors, read timeouts: the network, not the request
    if isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError):
        return True
    if isinstance(exc, PermissionError):
        return True
    # Malformed payloads and schema errors (ValueError covers JSON, Unicode, Arrow's
    # ArrowInvalid, pydantic), missing keys and columns (LookupError), bad zips, and bugs.
    return isinstance(
        exc,
        ValueError
        | LookupError
        | zipfile.BadZipFile
        | TypeError
        | AttributeError
        | AssertionError
        | NotImplementedError,
    )
