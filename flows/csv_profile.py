"""CSV profiling flows: one uploaded object (S3-triggered) and a sweep of uploads/ (safety net)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger

from tasks.common.artifacts import Progress, artifact_key, publish_summary
from tasks.common.keys_core import UnsafeKeyError
from tasks.common.runs import label_flow_run
from tasks.common.settings import get_settings
from tasks.csv_profile import storage_io
from tasks.csv_profile.options_io import options_from_settings
from tasks.csv_profile.profile_core import FileProfile, ProfileOptions
from tasks.csv_profile.summary_core import (
    UPLOADS_PREFIX,
    ProfileResult,
    SweepSummary,
    build_summary,
    file_name_for,
    iso_utc,
    prior_state,
    summary_key_for,
)


def _result(file_name: str, status: str, **extra: Any) -> ProfileResult:
    result: dict[str, Any] = {"file_name": file_name, "status": status, **extra}
    return result  # type: ignore[return-value]


@flow(name="csv-profile", flow_run_name="csv-profile {key}", log_prints=False)
def profile_csv_upload(
    key: str,
    bucket: str | None = None,
    etag: str | None = None,
    skip_if_done: bool = False,
    type_threshold: float | None = None,
    null_tokens: list[str] | None = None,
) -> ProfileResult:
    """Profile one uploaded CSV: summary JSON in `processed/` and a metadata item in DynamoDB.

    Args:
        key: object key under `uploads/`, ending in `.csv` (e.g. `uploads/sales/2025.csv`).
        bucket: data bucket; default the `csv_bucket` setting.
        etag: the ETag from the triggering event; if the object has changed since, this run
            does nothing (the newer version has its own event).
        skip_if_done: do nothing when this object version is already recorded with the same
            rules (the sweep).
        type_threshold: share of non-missing values that must parse as a type (default setting).
        null_tokens: values counted as missing (default setting).
    """
    label_flow_run(tags=["csv_profile", "sweep" if skip_if_done else "upload"])
    s = get_settings()
    bucket = bucket or s.csv_bucket
    file_name = file_name_for(key)
    upload = storage_io.head_upload(bucket, key)
    if upload is None:
        return _result(file_name, "missing")
    if etag and etag.strip('"') != upload.etag:
        return _result(file_name, "superseded", etag=upload.etag)
    options = options_from_settings(type_threshold, null_tokens)
    record = storage_io.existing_record(s.csv_metadata_table, file_name)
    state, first_processed = prior_state(record, upload.etag, upload.last_modified, options)
    if state == "newer":
        return _result(file_name, "superseded", etag=upload.etag)
    if skip_if_done and state == "done":
        return _result(file_name, "unchanged", etag=upload.etag)
    profile = storage_io.profile_upload(upload, options)
    if profile is None:
        return _result(file_name, "superseded", etag=upload.etag)
    # Idempotency per (key, ETag): the first processing time of this version is kept.
    processed = first_processed or iso_utc(datetime.now(UTC))
    return _store(upload, file_name, profile, processed, options)


def _store(
    upload: storage_io.Upload,
    file_name: str,
    profile: FileProfile,
    processed: str,
    options: ProfileOptions,
) -> ProfileResult:
    """Build the summary, write it (S3 first, then the item), publish an artifact."""
    s = get_settings()
    try:
        summary_key: str | None = summary_key_for(file_name)
    except UnsafeKeyError as exc:
        summary_key = None
        profile = FileProfile(error=f"cannot build a summary key for {file_name!r}: {exc}")
    summary = build_summary(
        profile,
        file_name=file_name,
        summary_key=summary_key,
        source=upload.source(),
        upload_timestamp=upload.last_modified,
        processed_timestamp=processed,
        options=options,
    )
    uri = storage_io.write_summary(upload.bucket, summary_key, summary) if summary_key else None
    recorded = storage_io.write_metadata_item(s.csv_metadata_table, summary)
    issues = summary["quality_issues"]
    publish_summary(
        artifact_key(f"csv-profile-{file_name}"),
        f"Profile of s3://{upload.bucket}/{upload.key} ({summary['status']})",
        [
            {
                "column": name,
                "type": kind,
                "missing": issues["missing_values"].get(name, {}).get("count", 0),
                "invalid": issues["invalid_values"].get(name, {}).get("count", 0),
            }
            for name, kind in summary["schema"].items()
        ]
        or [{"column": "-", "type": "-", "missing": 0, "invalid": 0}],
        notes=[summary["error_message"]] if "error_message" in summary else [],
    )
    get_run_logger().info("%s: %s, %d rows", file_name, summary["status"], summary["row_count"])
    return _result(
        file_name,
        summary["status"] if recorded else "superseded",
        etag=upload.etag,
        row_count=summary["row_count"],
        columns=len(summary["schema"]),
        ragged_rows=issues["ragged_rows"]["count"],
        has_issues=issues["has_issues"],
        summary_uri=uri,
        error_message=summary.get("error_message"),
    )


@flow(name="csv-profile-sweep", flow_run_name="csv-profile-sweep {prefix}", log_prints=False)
def sweep_uploads(
    prefix: str = UPLOADS_PREFIX,
    force: bool = False,
    bucket: str | None = None,
) -> SweepSummary:
    """Profile every `*.csv` under `prefix` whose current version is not recorded yet.

    The safety net for missed S3 events, and the backfill/reprocess tool (`force=True`
    re-profiles everything; results are identical for unchanged objects).

    Args:
        prefix: key prefix to sweep; must be under `uploads/`.
        force: re-profile objects even when their version is already recorded.
        bucket: data bucket; default the `csv_bucket` setting.
    """
    label_flow_run(tags=["csv_profile", "sweep"])
    if not prefix.startswith(UPLOADS_PREFIX):
        raise ValueError(f"prefix must be under {UPLOADS_PREFIX!r}, got {prefix!r}")
    bucket = bucket or get_settings().csv_bucket
    counts: dict[str, int] = {}
    results: list[ProfileResult] = []
    uploads = storage_io.list_uploads(bucket, prefix)
    progress = Progress(len(uploads), f"profiling {len(uploads)} uploads under {prefix}")
    for key, etag in uploads:
        result = profile_csv_upload(key=key, bucket=bucket, etag=etag, skip_if_done=not force)
        counts[result["status"]] = counts.get(result["status"], 0) + 1
        results.append(result)
        progress.advance()
    publish_summary(
        "csv-profile-sweep",
        f"Sweep of s3://{bucket}/{prefix}",
        [{k: r.get(k) for k in ("file_name", "status", "row_count")} for r in results]
        or [{"file_name": "-", "status": "nothing to do", "row_count": 0}],
    )
    return SweepSummary(bucket=bucket, prefix=prefix, objects=len(results), by_status=counts)
