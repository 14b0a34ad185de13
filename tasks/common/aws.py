"""The one AWS client factory: region, endpoint override and botocore retries, cached per process.

boto3 clients are thread-safe but sessions are not: clients are built under a lock, each from its
own session, and then shared by every thread (building one costs ~100 ms, so a per-thread client
would dominate a parallel upload). The cache key includes the process id (a forked worker never
reuses its parent's connections) and every setting that shapes the client, so changing the
environment (tests, the local stack) gives a fresh client.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from tasks.common.settings import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

_lock = threading.Lock()
_clients: dict[tuple[Any, ...], Any] = {}


def client(service: str, settings: Settings | None = None, *, scope: str = "") -> Any:
    """A boto3 client for `service`, configured from `settings` (default: the environment).

    `scope` keeps a separate client (and connection pool) per value: the segments of a
    parallel scan each get their own.
    """
    s = settings or get_settings()
    key = (
        os.getpid(),
        service,
        scope,
        s.aws_region,
        s.aws_endpoint_url,
        s.aws_retry_mode,
        s.aws_max_attempts,
        s.aws_connect_timeout,
        s.aws_read_timeout,
        s.aws_max_pool_connections,
        # credentials can change under a long-lived process (tests, moto); keep clients apart
        os.environ.get("AWS_ACCESS_KEY_ID"),
        os.environ.get("AWS_PROFILE"),
    )
    with _lock:
        if key in _clients:
            return _clients[key]
        config = Config(
            region_name=s.aws_region,
            retries={"mode": s.aws_retry_mode, "total_max_attempts": s.aws_max_attempts},
            max_pool_connections=s.aws_max_pool_connections,
            connect_timeout=s.aws_connect_timeout,
            read_timeout=s.aws_read_timeout,
        )
        session = boto3.session.Session(region_name=s.aws_region)
        made = session.client(
            service,  # type: ignore[call-overload]
            endpoint_url=s.aws_endpoint_url or None,
            config=config,
        )
        _clients[key] = made
        return made


def s3(settings: Settings | None = None) -> S3Client:
    """The S3 client."""
    return client("s3", settings)  # type: ignore[no-any-return]


def dynamodb(settings: Settings | None = None) -> DynamoDBClient:
    """The DynamoDB (low-level) client."""
    return client("dynamodb", settings)  # type: ignore[no-any-return]


def sqs(settings: Settings | None = None) -> SQSClient:
    """The SQS client."""
    return client("sqs", settings)  # type: ignore[no-any-return]


def cloudformation(settings: Settings | None = None) -> CloudFormationClient:
    """The CloudFormation client (local stack)."""
    return client("cloudformation", settings)  # type: ignore[no-any-return]


def clear_cache() -> None:
    """Forget every cached client (tests that switch endpoints)."""
    with _lock:
        _clients.clear()
