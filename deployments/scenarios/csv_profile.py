"""Demo scenario for CSV profiling: every sample uploaded, each profiled as Lambda would do it.

1. upload each file of `deployments/sample_data/csv_profile/` (clean, dirty, semicolon +
   Latin-1, BOM, ragged, empty, header-only, a gzip renamed .csv) plus a generated 300,000-row
   file to `uploads/` of the local data bucket;
2. for each, build the S3 ObjectCreated event S3 would send and call the Lambda handler, which
   runs the `csv-profile` flow in-process (summary JSON in `processed/`, metadata item);
3. the sweep: every upload is already recorded at its current ETag, so nothing is re-profiled.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from deployments.demo import DemoRow
from deployments.local_stack import LocalStack

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data" / "csv_profile"
LARGE_ROWS = 300_000


def s3_event(bucket: str, key: str, etag: str, size: int) -> dict[str, Any]:
    """The S3 notification record S3 sends for a PUT (keys are URL-encoded in these events)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag},
                },
            }
        ]
    }


def _row(record: dict[str, Any], bucket: str) -> DemoRow:
    result = record.get("result") or {}
    status = result.get("status", "-")
    return DemoRow(
        "csv_profile",
        f"csv-profile {record['key'].removeprefix('uploads/')} ({status})",
        record["state"],
        objects=1 if result.get("summary_uri") else 0,
        items=1 if status in {"success", "error"} else 0,
        rejects=int(result.get("ragged_rows") or 0),
        where=result.get("summary_uri") or f"s3://{bucket}/{record['key']}",
    )


def run(stack: LocalStack) -> list[DemoRow]:
    """Upload the samples to the local stack and profile each through the Lambda handler."""
    from deployments.lambda_handler import handler
    from flows.csv_profile import sweep_uploads
    from tasks.common import aws
    from tasks.common.settings import get_settings
    from tasks.csv_profile.synthetic import write_csv

    bucket = get_settings().csv_bucket
    rows: list[DemoRow] = []
    with tempfile.TemporaryDirectory(prefix="csv-profile-demo-") as tmp:
        large = Path(tmp) / "large_generated.csv"
        write_csv(large, LARGE_ROWS, seed=4)
        for path in [*sorted(SAMPLES.glob("*.csv")), large]:
            key = f"uploads/samples/{path.name}"
            body = path.read_bytes()
            etag = aws.s3().put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
            result = handler(s3_event(bucket, key, etag, len(body)))
            rows.extend(_row(record, bucket) for record in result["records"])
    state = sweep_uploads(return_state=True)
    report: dict[str, Any] = state.result() if state.is_completed() else {}
    by_status = report.get("by_status") or {}
    rows.append(
        DemoRow(
            "csv_profile",
            f"csv-profile-sweep uploads/ ({by_status})",
            state.name or "",
            items=sum(n for s, n in by_status.items() if s in {"success", "error"}),
            where=f"s3://{bucket}/uploads/",
        )
    )
    return rows
