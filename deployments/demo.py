"""The main job (`pipelines demo`): every pipeline end to end on the embedded local stack.

Starts moto (resources from the CloudFormation template), the sample-source server and a Prefect
server, runs each registered pipeline's demo scenario (`Pipeline.demo`, declared in
`deployments/pipelines/<pipeline>.py`) through its real flows, then prints what each produced
and an inventory read back from the stack itself (objects per bucket, items per table, messages
per queue).
"""

from __future__ import annotations

import shutil
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployments.local_stack import LocalStack, apply_env, free_port, local_stack


@dataclass
class DemoRow:
    """What one flow run of a scenario produced."""

    pipeline: str
    run: str
    state: str
    objects: int = 0
    items: int = 0
    messages: int = 0
    rejects: int = 0
    where: str = ""


Scenario = Callable[[LocalStack], Sequence[DemoRow]]


def plan(only: Sequence[str] = ()) -> list[tuple[str, Scenario]]:
    """(pipeline name, scenario) of every registered pipeline that has one, in order; with
    `only`, just those pipelines (an unknown name is a ValueError naming the known ones)."""
    from deployments import registry

    scenarios = [(p.name, p.demo) for p in registry.pipelines() if p.demo is not None]
    unknown = sorted(set(only) - {name for name, _ in scenarios})
    if unknown:
        known = ", ".join(name for name, _ in scenarios)
        raise ValueError(f"no demo scenario for {', '.join(unknown)} (known: {known})")
    return [(name, demo) for name, demo in scenarios if not only or name in only]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table (left-aligned text, right-aligned numbers)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(isinstance(row[i], int) for row in rows) and rows for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if numeric[i] else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def inventory(resources: Sequence[dict[str, str]]) -> list[tuple[str, str, int]]:
    """Count what is stored in each bucket, table and queue of the stack."""
    from tasks.common import aws, dynamo, s3

    rows: list[tuple[str, str, int]] = []
    for res in resources:
        kind, name = res["type"], res["physical_id"]
        if kind == "AWS::S3::Bucket":
            rows.append(("bucket", f"s3://{name}", sum(1 for _ in s3.list_objects(name, ""))))
        elif kind == "AWS::DynamoDB::Table":
            rows.append(("table", name, dynamo.count_items(name)))
        elif kind == "AWS::SQS::Queue":
            attrs = aws.sqs().get_queue_attributes(
                QueueUrl=name, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            rows.append(
                ("queue", name.rsplit("/", 1)[-1], int(attrs["ApproximateNumberOfMessages"]))
            )
    return rows


def run_demo(workdir: Path = Path(".demo"), keep: bool = False, only: Sequence[str] = ()) -> int:
    """Run every scenario (or those of `only`); print the results; return a process exit code."""
    from deployments.cli import stop_on_sigterm

    scenarios = plan(only)  # an unknown name fails before the stack starts
    workdir = workdir.resolve()
    stop_on_sigterm()
    # A fresh Prefect database: the UI shows this run's flows, not those of data that is gone.
    shutil.rmtree(workdir / "prefect", ignore_errors=True)
    # Isolate Prefect from any profile/API the user has configured, before Prefect is imported.
    apply_env(
        {
            "PREFECT_HOME": str(workdir / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
        }
    )
    print("Starting the local stack (moto + template, sample sources, Prefect server)...")
    started = time.monotonic()
    with local_stack(prefect_port=free_port(), prefect_home=workdir / "prefect") as stack:
        apply_env(stack.env(offline=True))
        print(f"  AWS (moto):      {stack.aws_endpoint}  ({len(stack.modelled)} resources)")
        if stack.unmodelled():
            print(f"                   ({stack.unmodelled()})")
        print(f"  sample sources:  {stack.sources.base_url if stack.sources else '-'}")
        print(f"  Prefect UI:      {(stack.prefect_api_url or '').removesuffix('/api')}")
        print(f"  ready in {time.monotonic() - started:.1f}s\n")

        rows: list[DemoRow] = []
        failures = 0
        if not scenarios:
            print("No pipeline scenarios are registered yet.")
        for name, scenario in scenarios:
            print(f"=== {name}")
            try:
                rows.extend(scenario(stack))
            except Exception as exc:
                failures += 1
                traceback.print_exc()
                rows.append(DemoRow(name, "-", f"FAILED: {exc}"))

        print("\nWhat each run produced")
        print(
            format_table(
                ["pipeline", "run", "state", "objects", "items", "messages", "rejects", "where"],
                [
                    [r.pipeline, r.run, r.state, r.objects, r.items, r.messages, r.rejects, r.where]
                    for r in rows
                ],
            )
        )
        print("\nWhat the local AWS holds now")
        print(format_table(["kind", "name", "count"], inventory(stack.stack_resources)))
        ui = (stack.prefect_api_url or "").removesuffix("/api")
        print(
            f"\nLook closer: {ui} shows every flow run, its task runs, logs and artifacts;"
            f"\n`aws --endpoint-url {stack.aws_endpoint} s3 ls s3://<bucket>/ --recursive` lists"
            " the objects. Both stop with this command: rerun with --keep to browse them."
        )
        if keep:
            print("\nThe stack keeps running: Ctrl-C to stop.")
            _wait_for_interrupt()
        _drain_prefect_clients()
    failed_runs = sum(1 for r in rows if not r.state.startswith("Completed"))
    return 1 if failures or failed_runs else 0


def _drain_prefect_clients(timeout: float = 10.0) -> None:
    """Send buffered run logs and events while the Prefect server is still up: at interpreter
    exit it is gone, and Prefect's own exit-time drain would wait on its retries."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=timeout)
    EventsWorker.drain_all(timeout=timeout)


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping")
