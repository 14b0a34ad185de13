"""Generated files, so they stay true: `prefect.yaml` and the README's pipeline and settings tables.

All three are rendered from the pipeline registry (`deployments/pipelines/*.py`) and the Settings
model. `pipelines generate` (or `python -m deployments.docs`) rewrites them; a test fails when a
committed file differs from what the registry renders.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from deployments import registry
from deployments.registry import Deployment, Pipeline
from tasks.common.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PREFECT_YAML = ROOT / "prefect.yaml"
BLOCKS = {
    "pipelines": ("<!-- pipelines:start -->", "<!-- pipelines:end -->"),
    "settings": ("<!-- settings:start -->", "<!-- settings:end -->"),
}
WORK_POOL = "{{ $PIPELINES_WORK_POOL }}"
CODE_DIR = "{{ $PIPELINES_CODE_DIR }}"
PREFECT_YAML_HEADER = """\
# GENERATED from the pipeline registry (deployments/pipelines/*.py) by `pipelines generate`.
# Edit the registry, then regenerate: a test fails when this file and the registry disagree.
#
# Every pipeline's deployments: cron schedules (timezone-aware), parameters, tags, work pool.
# Deploy with `pipelines deploy local` (a process work pool on this machine) or
# `pipelines deploy ecs` (the ECS work pool; code baked into the image at /opt/pipelines).
# That command sets PIPELINES_WORK_POOL, PIPELINES_CODE_DIR and each pipeline's
# PIPELINES_TASK_ROLE_<NAME> (on ECS the pipeline's least-privilege task role from
# deployments/infra/template.yaml), which the placeholders below read at deploy time.
# No secrets here: tokens come from Prefect Secret blocks or the task environment.
"""


# --- prefect.yaml --------------------------------------------------------------------------


def deployment_doc(pipeline: Pipeline, deployment: Deployment) -> dict[str, Any]:
    """One `deployments:` entry of prefect.yaml."""
    doc: dict[str, Any] = {
        "name": deployment.name,
        "entrypoint": pipeline.flow(deployment.flow).entrypoint,
        "description": deployment.description,
        "tags": list(deployment.tags),
        "work_pool": {
            "name": WORK_POOL,
            "job_variables": {"task_role_arn": f"{{{{ ${pipeline.role_variable} }}}}"},
        },
    }
    if deployment.parameters:
        doc["parameters"] = dict(deployment.parameters)
    if deployment.schedules:
        doc["schedules"] = [
            {
                "cron": s.cron,
                "timezone": s.timezone,
                **({"parameters": dict(s.parameters)} if s.parameters else {}),
            }
            for s in deployment.schedules
        ]
    if deployment.concurrency_limit is not None:
        doc["concurrency_limit"] = deployment.concurrency_limit
    return doc


def prefect_yaml(pipelines: Sequence[Pipeline]) -> str:
    """The text of prefect.yaml for `pipelines`."""
    import prefect

    head = {
        "name": "prefect-data-pipelines",
        "prefect-version": prefect.__version__,
        "build": None,
        "push": None,
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": CODE_DIR}}],
    }
    parts = [PREFECT_YAML_HEADER, _dump(head), "\ndeployments:\n"]
    for pipeline in pipelines:
        if not pipeline.deployments:
            continue
        parts.append(f"  # --- {pipeline.title} {'-' * (88 - len(pipeline.title))}\n")
        for deployment in pipeline.deployments:
            text = _dump([deployment_doc(pipeline, deployment)])
            parts.append("".join(f"  {line}\n" for line in text.splitlines()))
    return "".join(parts)


def _dump(value: Any) -> str:
    return yaml.safe_dump(
        value, sort_keys=False, width=96, allow_unicode=True, default_flow_style=False
    )


# --- README tables -------------------------------------------------------------------------


def _trigger(pipeline: Pipeline) -> str:
    parts = []
    for d in pipeline.deployments:
        if d.schedules:
            when = "; ".join(f"cron `{s.cron}` {s.timezone}" for s in d.schedules)
        else:
            when = "on demand"
        parts.append(f"`{d.name}` {when}")
    parts += [f"S3 upload `{r.prefix}*{r.suffix}` → Lambda (`{r.flow}`)" for r in pipeline.routes]
    return "<br>".join(parts) or "on demand"


def pipelines_table(pipelines: Sequence[Pipeline]) -> str:
    """Markdown table: every pipeline, its triggers, input → output, flows, docs."""
    lines = [
        "| pipeline | triggers (deployments, events) | in → out | flows (`pipelines run NAME`) "
        "| docs |",
        "|---|---|---|---|---|",
    ]
    for p in pipelines:
        flows = ", ".join(f"`{f.name}`" for f in p.flows)
        docs = f"[{p.docs}]({p.docs})" if p.docs else ""
        lines.append(f"| {p.title} | {_trigger(p)} | {p.summary} | {flows} | {docs} |")
    return "\n".join(lines)


def settings_group(name: str, pipelines: Sequence[Pipeline]) -> Pipeline | None:
    """The pipeline whose settings group holds the setting `name` (None: shared)."""
    owners = [p for p in pipelines if name.startswith(p.settings_prefixes)]
    return owners[0] if owners else None


def settings_table(pipelines: Sequence[Pipeline]) -> str:
    """Markdown table of every setting (variable(s), default, description), grouped."""
    groups: dict[str, list[str]] = {"Shared": []}
    groups.update({p.title: [] for p in pipelines})
    for name, field in Settings.model_fields.items():
        owner = settings_group(name, pipelines)
        alias = field.validation_alias
        names = list(getattr(alias, "choices", [])) or [ENV_PREFIX + name.upper()]
        default = field.default
        shown = "" if default is None else f"`{default}`"
        variables = " / ".join(f"`{n}`" for n in names)
        row = f"| {variables} | {shown} | {field.description} |"
        groups["Shared" if owner is None else owner.title].append(row)
    lines = ["| variable | default | what |", "|---|---|---|"]
    for title, rows in groups.items():
        if rows:
            lines += [f"| **{title}** | | |", *rows]
    return "\n".join(lines)


def render_readme(readme: str, pipelines: Sequence[Pipeline]) -> str:
    """`readme` with every generated block replaced."""
    bodies = {"pipelines": pipelines_table(pipelines), "settings": settings_table(pipelines)}
    for name, (start, end) in BLOCKS.items():
        head, rest = readme.split(start, 1)
        _, tail = rest.split(end, 1)
        readme = f"{head}{start}\n{bodies[name]}\n{end}{tail}"
    return readme


def generated() -> dict[Path, str]:
    """Path → the content it must have."""
    pipelines = registry.pipelines()
    return {
        README: render_readme(README.read_text(), pipelines),
        PREFECT_YAML: prefect_yaml(pipelines),
    }


def write_generated() -> list[Path]:
    """Write every generated file that is stale; returns the paths written."""
    written = []
    for path, text in generated().items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def main() -> int:
    for path in write_generated():
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
