"""The embedded local stack: moto's server with every resource created from the CloudFormation
template production uses, the sample-source server, and optionally a Prefect server.

`local_stack()` is a context manager used by `pipelines demo`, `pipelines local-stack` and the
tests; `LocalStack.env()` gives the variables that point another shell (or this process) at it.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from deployments import sample_server

TEMPLATE = Path(__file__).parent / "infra" / "template.yaml"
STACK_NAME = "prefect-pipelines"
# moto accepts any credentials; these make sure a real profile is never used by accident.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class LocalStackError(RuntimeError):
    """The local stack could not start."""


@dataclass
class LocalStack:
    """Endpoints of a running local stack."""

    aws_endpoint: str
    sources: sample_server.LocalSources | None = None
    prefect_api_url: str | None = None
    stack_resources: list[dict[str, str]] = field(default_factory=list)

    @property
    def modelled(self) -> list[dict[str, str]]:
        """The template's resources moto created (those it models get a physical id)."""
        return [r for r in self.stack_resources if r["physical_id"]]

    def unmodelled(self) -> str:
        """One line on the resources moto does not model (validated by cfn-lint instead)."""
        skipped = Counter(r["type"] for r in self.stack_resources if not r["physical_id"])
        if not skipped:
            return ""
        kinds = ", ".join(f"{kind} x{n}" for kind, n in sorted(skipped.items()))
        return (
            f"moto does not model {sum(skipped.values())} resource(s) of the template "
            f"({kinds}); cfn-lint validates them"
        )

    def env(self, offline: bool = True) -> dict[str, str]:
        """Environment for a process that should use this stack (sources too when `offline`)."""
        env = {**FAKE_AWS_ENV, "AWS_ENDPOINT_URL": self.aws_endpoint}
        if offline and self.sources is not None:
            env.update(self.sources.env())
        if self.prefect_api_url:
            env["PREFECT_API_URL"] = self.prefect_api_url
        return env


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def deploy_template(
    endpoint: str, env_name: str = "dev", stack_name: str = STACK_NAME
) -> list[dict[str, str]]:
    """Create the CloudFormation stack in the AWS at `endpoint`; returns its resources."""
    import boto3  # local import: keeps `pipelines --help` fast

    cfn = boto3.client(
        "cloudformation",
        endpoint_url=endpoint,
        region_name=FAKE_AWS_ENV["AWS_REGION"],
        aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=TEMPLATE.read_text(),
        Parameters=[{"ParameterKey": "Environment", "ParameterValue": env_name}],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    cfn.get_waiter("stack_create_complete").wait(
        StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    listed = cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    made = [
        {
            "logical_id": r["LogicalResourceId"],
            "type": r["ResourceType"],
            "physical_id": r["PhysicalResourceId"],
        }
        for r in listed
        if r.get("PhysicalResourceId")
    ]
    # moto lists what it does not model without id or type: name those from the template
    # (resources with a Condition are not created by default, by design)
    made_ids = {r["logical_id"] for r in made}
    skipped = [
        {"logical_id": name, "type": kind, "physical_id": ""}
        for name, (kind, conditional) in template_resources().items()
        if name not in made_ids and not conditional
    ]
    return made + skipped


def template_resources(path: Path = TEMPLATE) -> dict[str, tuple[str, bool]]:
    """Logical id → (resource type, whether it has a Condition), as the template declares."""
    import yaml

    class Loader(yaml.SafeLoader):
        """Reads the template's short-form intrinsics (`!Sub`...) as plain values."""

    Loader.add_multi_constructor("!", lambda _loader, _suffix, _node: None)
    resources = yaml.load(path.read_text(), Loader=Loader)["Resources"]  # noqa: S506
    return {
        name: (str(spec.get("Type", "")), "Condition" in spec) for name, spec in resources.items()
    }


class _UnmodelledFilter(logging.Filter):
    """Drops moto's "No Moto CloudFormation support for <type>" line per skipped resource."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No Moto CloudFormation support")


@contextmanager
def moto_server(port: int = 0, host: str = "127.0.0.1") -> Iterator[str]:
    """moto's threaded server for the duration of the block; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer  # dev/local dependency only

    # moto creates what it supports and skips the rest (bucket policies, wait handles) with a
    # warning per resource; the template is validated by cfn-lint, so the noise says nothing
    # (`LocalStack.unmodelled` summarises what was skipped in one line).
    warnings.filterwarnings("ignore", message="Tried to parse .* not supported by moto")
    moto_log = logging.getLogger("moto")
    if not any(isinstance(f, _UnmodelledFilter) for f in moto_log.filters):
        moto_log.addFilter(_UnmodelledFilter())
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per AWS request
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    try:
        server.start()
    except OSError as exc:
        raise LocalStackError(f"cannot start moto on {host}:{port}: {exc}") from exc
    bound_host, bound_port = server.get_host_and_port()
    endpoint = f"http://{bound_host}:{bound_port}"
    reset_moto(endpoint)  # moto's state is per process: start from nothing
    try:
        yield endpoint
    finally:
        server.stop()


def reset_moto(endpoint: str) -> None:
    """Wipe every resource in the moto server at `endpoint` (moto's own reset API)."""
    url = endpoint + "/moto-api/reset"
    if not url.startswith("http://127.0.0.1:"):
        raise LocalStackError(f"refusing to reset a non-local endpoint {endpoint}")
    request = urllib.request.Request(url, method="POST")  # noqa: S310 - checked loopback URL
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310


@contextmanager
def prefect_server(port: int, home: Path, log_path: Path, timeout: float = 120.0) -> Iterator[str]:
    """`prefect server start` as a subprocess (SQLite in `home`); yields its API URL."""
    home.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **_without_prefect_api(os.environ),
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "true",
        # the UI asks `/ui-settings` where its API is; without this it answers port 4200
        "PREFECT_UI_API_URL": api,
    }
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(api + "/health", proc, timeout, log_path)
        _create_zombie_automation(api)
        yield api
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _create_zombie_automation(api: str) -> None:
    """The automation that marks runs whose heartbeats stopped as Crashed (as in production).

    In a child process: importing Prefect here would fix this process's Prefect settings
    before the demo points them at the stack.
    """
    code = "from deployments.deploy import ensure_zombie_automation; ensure_zombie_automation()"
    env = {**_without_prefect_api(os.environ), "PREFECT_API_URL": api}
    env.setdefault("PREFECT_HOME", tempfile.gettempdir() + "/pipelines-prefect-client")
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise LocalStackError(f"cannot create the zombie-run automation: {done.stderr[-2000:]}")


def _without_prefect_api(environ: Mapping[str, str]) -> dict[str, str]:
    drop = {"PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_PROFILE"}
    return {k: v for k, v in environ.items() if k not in drop}


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalStackError(f"Prefect server exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise LocalStackError(f"Prefect server not healthy after {timeout:.0f}s; see {log}")


@contextmanager
def local_stack(
    aws_port: int = 0,
    sources_port: int = 0,
    prefect_port: int | None = None,
    prefect_home: Path | None = None,
    env_name: str = "dev",
) -> Iterator[LocalStack]:
    """moto + template + sample sources (+ a Prefect server when `prefect_port` is given)."""
    with ExitStack() as stack:
        endpoint = stack.enter_context(moto_server(aws_port))
        resources = deploy_template(endpoint, env_name)
        sources = stack.enter_context(sample_server.serve(sources_port))
        api_url = None
        if prefect_port is not None:
            if prefect_home is None:  # a fresh database: no runs of data that no longer exists
                prefect_home = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            log = prefect_home / "server.log"
            api_url = stack.enter_context(prefect_server(prefect_port, prefect_home, log))
        yield LocalStack(endpoint, sources, api_url, resources)


def apply_env(env: Mapping[str, str]) -> None:
    """Export `env` into this process (before Prefect or boto3 read their settings)."""
    os.environ.update(env)
    if "PREFECT_API_URL" in env:
        os.environ.pop("PREFECT_API_KEY", None)
