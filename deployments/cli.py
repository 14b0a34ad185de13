"""The `pipelines` command: demo, local stack, running any flow with parameters from the shell.

Heavy imports (Prefect, boto3, moto) happen inside the commands, after the environment is set,
so `pipelines --help` stays quick and the demo can isolate Prefect before it is imported.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deployments import registry


def parse_param(text: str) -> tuple[str, Any]:
    """`key=value` → (key, value); the value is JSON when it parses as JSON, else a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def describe_flows() -> str:
    """Every registered pipeline's flows with their parameters (name: type = default)."""
    pipelines = registry.pipelines()
    if not pipelines:
        return "pipelines: (none registered yet)"
    lines = ["pipelines (pipelines run NAME --param key=value ...):"]
    for pipeline, ref in registry.all_flows():
        lines.append(f"  {ref.name:<22} {ref.description}  [{pipeline.title}]")
        try:
            signature = inspect.signature(ref.load().fn)
        except Exception as exc:  # a broken flow module must not break --help
            lines.append(f"      (cannot load {ref.entrypoint}: {exc})")
            continue
        for param in signature.parameters.values():
            annotation = (
                param.annotation
                if isinstance(param.annotation, str)
                else getattr(param.annotation, "__name__", str(param.annotation))
            )
            default = "" if param.default is inspect.Parameter.empty else f" = {param.default!r}"
            lines.append(f"      --param {param.name}  ({annotation}){default}")
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    from deployments.demo import run_demo

    try:
        return run_demo(Path(args.workdir), keep=args.keep, only=args.only)
    except ValueError as exc:
        print(f"pipelines demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the stack is stopped", file=sys.stderr)
        return 130


def cmd_local_stack(args: argparse.Namespace) -> int:
    from deployments.local_stack import local_stack

    prefect_port = args.prefect_port if args.prefect else None
    home = Path(args.workdir).resolve() / "prefect" if args.keep_history else None
    stop_on_sigterm()
    print("Starting the local stack...", flush=True)
    try:
        with local_stack(args.aws_port, args.sources_port, prefect_port, home) as stack:
            _print_stack(stack, args.offline)
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
    except KeyboardInterrupt:
        pass
    print("stopped")
    return 0


def _print_stack(stack: Any, offline: bool) -> None:
    print(f"moto (AWS) on {stack.aws_endpoint}: {len(stack.modelled)} resources")
    for res in stack.modelled:
        print(f"  {res['type']:<28} {res['physical_id']}")
    if stack.unmodelled():
        print(f"  ({stack.unmodelled()})")
    if stack.sources:
        print(f"sample sources on {stack.sources.base_url}")
    if stack.prefect_api_url:
        print(f"Prefect UI on {stack.prefect_api_url.removesuffix('/api')}")
    print("\n# point another shell at this stack:")
    for key, value in stack.env(offline=offline).items():
        print(f"export {key}={value}")
    if not offline:
        print("# (sources stay the real public URLs; add --offline to use the samples)")
    print("\nCtrl-C to stop.", flush=True)


def stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so every child (moto, servers, Prefect) is stopped."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def cmd_run(args: argparse.Namespace) -> int:
    try:
        ref = registry.get_flow(args.pipeline)
    except KeyError as exc:
        print(f"pipelines: {exc.args[0]}", file=sys.stderr)
        return 2
    params = dict(args.param)
    flow = ref.load()
    state = flow(**params, return_state=True)
    if state.is_completed():
        result = state.result()
        print(json.dumps(result, indent=2, default=str, sort_keys=True))
        return 0
    print(f"{ref.name}: {state.name}: {state.message}", file=sys.stderr)
    return 1


def cmd_deploy(args: argparse.Namespace) -> int:
    from deployments import deploy

    try:
        outputs = deploy.stack_outputs(args.stack) if args.target == "ecs" else None
        env = deploy.deploy_env(args.pool or args.target, args.target, outputs)
        if args.target == "local" and deploy.ensure_process_pool(env["PIPELINES_WORK_POOL"]):
            print(f"created process work pool {env['PIPELINES_WORK_POOL']!r}")
        code = deploy.run_prefect_deploy(env, args.name)
        outcome = deploy.ensure_zombie_automation()
        print(f"{outcome} automation {deploy.ZOMBIE_AUTOMATION!r} (missed heartbeats → Crashed)")
        return code
    except deploy.DeployError as exc:
        print(f"pipelines deploy: {exc}", file=sys.stderr)
        return 2


def cmd_generate(_args: argparse.Namespace) -> int:
    from deployments import docs

    for path in docs.write_generated():
        print(f"updated {path}")
    return 0


def cmd_screenshots(args: argparse.Namespace) -> int:
    from deployments import screenshots

    try:
        for path in screenshots.take(Path(args.out)):
            print(f"saved {path}")
    except screenshots.ScreenshotError as exc:
        print(f"pipelines screenshots: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_ecs_pool(args: argparse.Namespace) -> int:
    from deployments import deploy

    try:
        deploy.prefect_api_url()
        outcome = deploy.ensure_ecs_pool(args.pool, deploy.stack_outputs(args.stack), args.image)
    except deploy.DeployError as exc:
        print(f"pipelines ecs-pool: {exc}", file=sys.stderr)
        return 2
    print(f"{outcome} ECS work pool {args.pool!r} (image {args.image})")
    print(f"start a worker with: prefect worker start --pool {args.pool}")
    return 0


def cmd_profile_csv(args: argparse.Namespace) -> int:
    from tasks.csv_profile.local_io import profile_file
    from tasks.csv_profile.options_io import options_from_settings
    from tasks.csv_profile.summary_core import summary_json

    options = options_from_settings(args.threshold, args.null_token)
    header = {"yes": True, "no": False}.get(args.header)
    delimiter = "\t" if args.delimiter == "tab" else args.delimiter
    options = dataclasses.replace(options, delimiter=delimiter, has_header=header)
    path = Path(args.file)
    if not path.is_file():
        print(f"pipelines profile-csv: no such file: {path}", file=sys.stderr)
        return 2
    summary = profile_file(path, options)
    sys.stdout.write(summary_json(summary).decode())
    return 0 if summary["status"] == "success" else 1


def cmd_lamp_file(args: argparse.Namespace) -> int:
    from datetime import date

    from tasks.lamp.day_io import run_local_file

    for path in (Path(args.parquet), Path(args.gtfs_zip)):
        if not path.is_file():
            print(f"pipelines lamp-file: no such file: {path}", file=sys.stderr)
            return 2
    try:
        day = date.fromisoformat(args.service_date)
    except ValueError:
        message = f"--service-date must be YYYY-MM-DD, got {args.service_date!r}"
        print(f"pipelines lamp-file: {message}", file=sys.stderr)
        return 2
    report = run_local_file(Path(args.parquet), Path(args.gtfs_zip), day, Path(args.out))
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


def cmd_telemetry_dlq(args: argparse.Namespace) -> int:
    from deployments.demo import format_table
    from flows.telemetry import telemetry_dlq

    state = telemetry_dlq(
        action=args.action, batches=args.batch or None, max_messages=args.max, return_state=True
    )
    if not state.is_completed():
        print(f"pipelines telemetry-dlq: {state.name}: {state.message}", file=sys.stderr)
        return 1
    messages = state.result()["messages"]
    columns = ["batch", "source_key", "events", "receive_count", "error", "outcome"]
    print(format_table(columns, [[str(m.get(c) or "-") for c in columns] for m in messages]))
    print(f"{len(messages)} message(s) in the DLQ ({args.action})")
    return 0


def cmd_telemetry_file(args: argparse.Namespace) -> int:
    import time

    from tasks.common.settings import get_settings
    from tasks.telemetry.local_io import file_chunks, run_local, write_outputs

    path, metadata = Path(args.file), Path(args.metadata)
    for given in (path, metadata):
        if not given.is_file():
            print(f"pipelines telemetry-file: no such file: {given}", file=sys.stderr)
            return 2
    s = get_settings()
    run = run_local(
        file_chunks(path),
        metadata.read_bytes(),
        now_ms=int(time.time() * 1000),
        chunk_bytes=s.telemetry_chunk_bytes,
        message_bytes=s.telemetry_message_bytes,
        source_key=f"incoming/{path.name}",
        retention_days=s.telemetry_retention_days,
    )
    summary = write_outputs(run, Path(args.out))
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipelines",
        description="Prefect data pipelines: run them, locally or against AWS.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run every pipeline end to end on the embedded stack")
    demo.add_argument("--workdir", default=".demo", help="scratch dir (Prefect DB, logs)")
    demo.add_argument("--keep", action="store_true", help="keep the stack and UI up afterwards")
    demo.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PIPELINE",
        help="run just this pipeline's scenario (repeatable; default: all)",
    )
    demo.set_defaults(func=cmd_demo)

    stack = sub.add_parser("local-stack", help="start moto + template + sample sources")
    stack.add_argument("--aws-port", type=int, default=5000, help="moto port (default 5000)")
    stack.add_argument("--sources-port", type=int, default=8765, help="sample sources port")
    stack.add_argument("--offline", action="store_true", help="print source URL overrides too")
    stack.add_argument("--prefect", action="store_true", help="also start a Prefect server + UI")
    stack.add_argument("--prefect-port", type=int, default=4200, help="Prefect port")
    stack.add_argument(
        "--keep-history",
        action="store_true",
        help="keep the Prefect database in WORKDIR/prefect between runs (default: a fresh one)",
    )
    stack.add_argument("--workdir", default=".demo", help="where --keep-history keeps it")
    stack.set_defaults(func=cmd_local_stack)

    run = sub.add_parser(
        "run",
        help="run one pipeline flow with parameters",
        epilog="`pipelines list` shows every pipeline and its parameters.",
    )
    run.add_argument("pipeline", help="pipeline name (see `pipelines list`)")
    run.add_argument(
        "--param",
        type=parse_param,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="flow parameter; VALUE is parsed as JSON when possible",
    )
    run.set_defaults(func=cmd_run)

    dep = sub.add_parser(
        "deploy",
        help="create/update every deployment of prefect.yaml on the Prefect server",
        description="Runs `prefect deploy --all` with the variables prefect.yaml reads: "
        "the work pool, the code location and (ECS) each pipeline's task role.",
    )
    dep.add_argument("target", choices=["local", "ecs"], help="process pool here, or ECS")
    dep.add_argument("--pool", help="work pool name (default: the target name)")
    dep.add_argument("--stack", default="prefect-pipelines", help="CloudFormation stack (ecs)")
    dep.add_argument("--name", action="append", help="deploy only these (flow/deployment)")
    dep.set_defaults(func=cmd_deploy)

    ecs = sub.add_parser("ecs-pool", help="create/update the ECS work pool from stack outputs")
    ecs.add_argument("--image", required=True, help="pipelines image URI (deployments/Dockerfile)")
    ecs.add_argument("--pool", default="ecs", help="work pool name (default ecs)")
    ecs.add_argument("--stack", default="prefect-pipelines", help="CloudFormation stack name")
    ecs.set_defaults(func=cmd_ecs_pool)

    prof = sub.add_parser(
        "profile-csv",
        help="print the CSV profile summary JSON of a local file (no AWS)",
        description="Same summary as the csv-profile flow writes to processed/; exit code 1 "
        "when the file is unreadable (status error).",
    )
    prof.add_argument("file", help="path of a CSV file")
    prof.add_argument("--threshold", type=float, help="type majority threshold (default 0.95)")
    prof.add_argument(
        "--null-token", action="append", help="a value counted as missing (repeatable)"
    )
    prof.add_argument("--delimiter", choices=[",", ";", "tab", "|"], help="default: detect")
    prof.add_argument("--header", choices=["auto", "yes", "no"], default="auto")
    prof.set_defaults(func=cmd_profile_csv)

    lamp = sub.add_parser(
        "lamp-file",
        help="LAMP processing on local files: parquet + GTFS zip → per-stop CSVs in a directory",
        description="Runs the LAMP pipeline's processing on a local LAMP parquet and GTFS zip and "
        "writes the per-stop CSVs under OUT with the bucket's key layout "
        "(Events-lamp/daily-data/<stop>/Year=/Month=/Day=/events.csv). No AWS, no network.",
    )
    lamp.add_argument("parquet", help="LAMP daily parquet file")
    lamp.add_argument("--gtfs-zip", required=True, help="GTFS zip valid for the service date")
    lamp.add_argument("--service-date", required=True, help="service date, YYYY-MM-DD")
    lamp.add_argument("--out", required=True, help="output directory")
    lamp.set_defaults(func=cmd_lamp_file)

    dlq = sub.add_parser(
        "telemetry-dlq",
        help="list, redrive or delete dead-lettered telemetry messages (the telemetry-dlq flow)",
        description="Reads the telemetry DLQ (AWS or the local stack the environment points at) "
        "and shows each message's batch, source file, event count and the error the consumer "
        "recorded. `redrive` sends messages back to the queue of their priority; `delete` "
        "removes the given batches (after the cause is understood).",
    )
    dlq.add_argument("action", choices=["list", "redrive", "delete"])
    dlq.add_argument("--batch", action="append", help="only this batch id (repeatable)")
    dlq.add_argument("--max", type=int, default=100, help="most messages to read (default 100)")
    dlq.set_defaults(func=cmd_telemetry_dlq)

    tel = sub.add_parser(
        "telemetry-file",
        help="telemetry processing of a local CSV (no AWS): archive, rejects, messages in a dir",
        description="Validates, enriches and deduplicates a local telemetry CSV with a local "
        "metadata_api.json exactly as the telemetry-file flow does, and writes under OUT: the "
        "Parquet archive (archive/events/date=.../), rejects.csv, messages-high/low.jsonl (the "
        "queue message bodies) and summary.json. No AWS, no network.",
    )
    tel.add_argument("file", help="telemetry CSV")
    tel.add_argument("--metadata", required=True, help="vehicle metadata JSON (metadata_api.json)")
    tel.add_argument("--out", required=True, help="output directory")
    tel.set_defaults(func=cmd_telemetry_file)

    gen = sub.add_parser(
        "generate",
        help="regenerate prefect.yaml and the README tables from the pipeline registry",
        description="Writes prefect.yaml and the generated README blocks (pipelines, settings) "
        "from deployments/pipelines/*.py and the Settings model; a test fails when they are "
        "stale.",
    )
    gen.set_defaults(func=cmd_generate)

    shots = sub.add_parser(
        "screenshots",
        help="run the demo and save PNGs of the Prefect UI (headless Chromium)",
        description="Runs `pipelines demo --keep`, then headless Chromium saves the flow-runs "
        "page and a LAMP run's report artifact as PNGs; `make screenshots` installs Chromium.",
    )
    shots.add_argument("--out", default="docs/img", help="directory of the PNGs")
    shots.set_defaults(func=cmd_screenshots)

    lister = sub.add_parser("list", help="list pipelines and their parameters")
    lister.set_defaults(func=lambda _a: print(describe_flows()) or 0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] in {"-h", "--help"}:
        parser.epilog = describe_flows()
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
