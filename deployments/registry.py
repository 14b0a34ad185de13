"""The pipeline registry: every pipeline declared once, read by everything that lists pipelines.

Each pipeline has a module under `deployments/pipelines/` that declares `PIPELINE`: its flows
(CLI name + `prefect.yaml` entrypoint), its deployments (schedules, parameters, concurrency,
tags), its S3 event routes (Lambda), its IAM role in `deployments/infra/template.yaml`, its
settings group, its demo scenario and its offline sample sources. The CLI (`pipelines list`,
`pipelines run`), the demo, the Lambda handler, the sample-source server, `pipelines deploy`,
`prefect.yaml` (generated: `pipelines generate`) and the README tables all read it.

Adding a pipeline = its modules (flows, tasks, the declaration) + one line in `REGISTERED`.
Importing this module imports no pipeline (no Prefect, no side effects); `pipelines()` does.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deployments.demo import DemoRow
    from deployments.local_stack import LocalStack
    from deployments.sample_server import Route

# One line per pipeline: the module that declares its `PIPELINE`, in the order the demo runs.
REGISTERED: tuple[str, ...] = (
    "deployments.pipelines.lamp",
    "deployments.pipelines.csv_profile",
    "deployments.pipelines.nyc311",
    "deployments.pipelines.trip_kpis",
    "deployments.pipelines.historic",
    "deployments.pipelines.telemetry",
)


@dataclass(frozen=True)
class FlowSpec:
    """A runnable flow: CLI name (`pipelines run NAME`), entrypoint, one-line description."""

    name: str
    entrypoint: str  # prefect.yaml form: `flows/<module>.py:<function>`
    description: str

    @property
    def module(self) -> str:
        """Dotted module path of the entrypoint."""
        return self.entrypoint.split(":", 1)[0].removesuffix(".py").replace("/", ".")

    @property
    def flow_name(self) -> str:
        """The Prefect flow name (`@flow(name=...)`), read from the loaded flow."""
        return str(self.load().name)

    def load(self) -> Any:
        """Import and return the Prefect `Flow` object."""
        function = self.entrypoint.split(":", 1)[1]
        return getattr(importlib.import_module(self.module), function)


@dataclass(frozen=True)
class Schedule:
    """A cron schedule in an explicit time zone, with optional per-schedule parameters."""

    cron: str
    timezone: str
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Deployment:
    """A `prefect.yaml` deployment of one of the pipeline's flows."""

    name: str
    flow: str  # a FlowSpec name of the same pipeline
    description: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    schedules: tuple[Schedule, ...] = ()
    concurrency_limit: int | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class S3Route:
    """Objects created in the bucket named by setting `bucket_setting`, under `prefix`, whose
    key ends with `suffix` (case-insensitive), run flow `flow` with the object's key, bucket
    and ETag passed as the parameters named here (None: not passed)."""

    flow: str
    bucket_setting: str
    prefix: str
    suffix: str
    key_param: str = "key"
    bucket_param: str | None = "bucket"
    etag_param: str | None = "etag"
    # environment defaults for this flow under Lambda (a variable already set wins)
    env: tuple[tuple[str, str], ...] = ()

    def matches(self, bucket: str, key: str, settings: Any) -> bool:
        """Whether an object created at `s3://bucket/key` belongs to this route."""
        return (
            bucket == getattr(settings, self.bucket_setting)
            and key.startswith(self.prefix)
            and key.lower().endswith(self.suffix.lower())
        )

    def parameters(self, bucket: str, key: str, etag: str | None) -> dict[str, Any]:
        """Flow parameters for one object."""
        params: dict[str, Any] = {self.key_param: key}
        if self.bucket_param:
            params[self.bucket_param] = bucket
        if self.etag_param and etag:
            params[self.etag_param] = etag
        return params


@dataclass(frozen=True)
class Pipeline:
    """Everything the project needs to know about one pipeline."""

    name: str  # snake_case id: tag, demo label, role variable suffix
    title: str  # README table
    summary: str  # input → output, README table
    flows: tuple[FlowSpec, ...]
    role: str  # logical id of the pipeline's IAM role in deployments/infra/template.yaml
    settings_prefixes: tuple[str, ...]  # the settings group: Settings fields with these prefixes
    deployments: tuple[Deployment, ...] = ()
    routes: tuple[S3Route, ...] = ()
    demo: Callable[[LocalStack], Sequence[DemoRow]] | None = None
    sample_routes: Callable[[Path], Sequence[Route]] | None = None
    sample_env: Callable[[str], Mapping[str, str]] | None = None  # base URL → settings
    docs: str = ""

    @property
    def role_output(self) -> str:
        """The stack output carrying the role ARN (`<Role>Arn`)."""
        return f"{self.role}Arn"

    @property
    def role_variable(self) -> str:
        """The `prefect.yaml` placeholder of the role ARN, set by `pipelines deploy`."""
        return f"PIPELINES_TASK_ROLE_{self.name.upper()}"

    def flow(self, name: str) -> FlowSpec:
        """The pipeline's flow called `name`."""
        for spec in self.flows:
            if spec.name == name:
                return spec
        raise KeyError(f"pipeline {self.name!r} has no flow {name!r}")


def pipelines(registered: Sequence[str] | None = None) -> tuple[Pipeline, ...]:
    """Every registered pipeline, in registration order."""
    found = []
    for module in REGISTERED if registered is None else registered:
        pipeline = getattr(importlib.import_module(module), "PIPELINE", None)
        if not isinstance(pipeline, Pipeline):
            raise TypeError(f"{module} does not declare PIPELINE = Pipeline(...)")
        found.append(pipeline)
    check(found)
    return tuple(found)


def check(found: Sequence[Pipeline]) -> None:
    """Names are unique, deployments name flows of their pipeline, routes name real flows."""
    names: dict[str, list[str]] = {
        "pipeline": [p.name for p in found],
        "flow": [f.name for p in found for f in p.flows],
        "deployment": [f"{d.flow}/{d.name}" for p in found for d in p.deployments],
    }
    for what, values in names.items():
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            raise ValueError(f"duplicate {what} name(s) in the registry: {duplicates}")
    for pipeline in found:
        for ref in [d.flow for d in pipeline.deployments] + [r.flow for r in pipeline.routes]:
            pipeline.flow(ref)


def all_flows() -> list[tuple[Pipeline, FlowSpec]]:
    """Every runnable flow with its pipeline."""
    return [(p, f) for p in pipelines() for f in p.flows]


def get_flow(name: str) -> FlowSpec:
    """The registered flow called `name`; `KeyError` lists the known names."""
    flows = all_flows()
    for _pipeline, spec in flows:
        if spec.name == name:
            return spec
    known = ", ".join(spec.name for _p, spec in flows) or "(none yet)"
    raise KeyError(f"unknown pipeline {name!r}; known: {known}")


def routes() -> list[S3Route]:
    """Every S3 event route (Lambda), in registration order."""
    return [r for p in pipelines() for r in p.routes]
