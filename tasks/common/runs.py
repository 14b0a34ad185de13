"""Task and flow-run conventions, in one place: retry presets, the retry rule, run names, tags.

- **Presets.** `io_task` for anything that talks to S3, DynamoDB, SQS or an HTTP source: three
  retries after 5, 30 and 120 s (±50 % jitter, so parallel tasks do not retry in lockstep), no
  result caching (every effectful task runs every time), and a retry condition that
  never retries a permanent error (`tasks.common.errors.is_permanent`: 4xx other than 408/429,
  malformed payloads, missing files or columns, schema errors). No task timeout by default:
  Prefect runs submitted tasks in worker threads, where a timeout cannot interrupt a blocking
  call (it only fires after the call returns, with a warning on every run). Every network call
  is bounded where it blocks instead (`aws_connect_timeout`/`aws_read_timeout` in the client
  factory, `http_download_deadline` for downloads, `historic_unzip_timeout_seconds` for 7-Zip),
  and a flow started by the Lambda handler by the invocation's remaining time. A task run
  directly by its flow (main thread) may still pass `timeout=`. `compute_task` for pure work
  wrapped as a task: no retries (same input, same error).
- **Names.** A task is named `verb-object` in kebab case (`fetch-parquet`, `put-stop-files`); a
  task run is named after its task and the object it works on (`fetch-parquet 2024-02-07`,
  `page 3 (rows 4,001–6,000)`), through `run_name`. A flow run is named after its flow and what
  the run is about (`csv-profile uploads/sales.csv`); `label_flow_run` renames it once the run
  knows more (`nyc311 incremental from 2024-02-29T22:44`) and tags it with pipeline and mode.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun, State, TaskRun

from tasks.common.errors import is_permanent
from tasks.common.settings import get_settings

P = ParamSpec("P")
R = TypeVar("R")

RETRY_DELAYS: tuple[float, ...] = (5.0, 30.0, 120.0)
RETRY_JITTER = 0.5


def retry_unless_permanent(_task: Task[Any, Any], _run: TaskRun, state: State[Any]) -> bool:
    """Retry condition of every I/O task: retry transient failures only."""
    exc = state.result(raise_on_failure=False)
    return not (isinstance(exc, BaseException) and is_permanent(exc))


def io_task(
    name: str,
    *,
    run_name: str | Callable[[], str] | None = None,
    retries: int = len(RETRY_DELAYS),
    timeout: float | None = None,
    tags: Iterable[str] = (),
) -> Callable[[Callable[P, R]], Task[P, R]]:
    """Decorator: an effectful task with the project's retry preset (see module docstring)."""

    scale = get_settings().task_retry_delay_scale
    delays = [delay * scale for delay in RETRY_DELAYS[:retries]]

    def decorate(fn: Callable[P, R]) -> Task[P, R]:
        return task(
            name=name,
            task_run_name=run_name,
            retries=retries,
            retry_delay_seconds=delays or 0,
            retry_jitter_factor=RETRY_JITTER,
            retry_condition_fn=retry_unless_permanent,
            timeout_seconds=timeout,
            cache_policy=NO_CACHE,
            tags=set(tags),
        )(fn)

    return decorate


def compute_task(
    name: str, *, run_name: str | Callable[[], str] | None = None, tags: Iterable[str] = ()
) -> Callable[[Callable[P, R]], Task[P, R]]:
    """Decorator: pure work as a task (no retries: the same input gives the same error)."""

    def decorate(fn: Callable[P, R]) -> Task[P, R]:
        return task(name=name, task_run_name=run_name, cache_policy=NO_CACHE, tags=set(tags))(fn)

    return decorate


def run_subflow(flow: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R | Exception:
    """Run a flow as a subflow of the current run: its return value, or the exception it
    failed with (a fan-out records the failure and goes on with the other runs).

    The value comes from the call itself, not from `return_state=True` + `state.result()`: that
    state may be the server's copy, without its data, when the engine had to read it back (seen
    under a busy Prefect database: `MissingResult` although the subflow completed).
    """
    try:
        return flow(*args, **kwargs)
    except Exception as exc:
        return exc


def run_parameter(name: str, default: Any = None) -> Any:
    """A parameter of the current task run or flow run (for run-name callables)."""
    from prefect.runtime import flow_run, task_run

    for params in (task_run.parameters, flow_run.parameters):
        if params and name in params:
            return params[name]
    return default


def await_flow_runs(
    run_ids: Sequence[UUID],
    on_final: Callable[[FlowRun], object],
    poll_seconds: float = 10.0,
) -> None:
    """Wait until every flow run in `run_ids` is in a final state (Completed, Failed, Crashed,
    Cancelled); `on_final(run)` is called once per run as it ends (progress, outcomes), with the
    run as the API returns it (its `state`, and the `tags` a run can set on itself to say more
    than its state does, see `label_flow_run`).

    For fan-outs through `run_deployment(..., timeout=0)`: the runs execute elsewhere (ECS) and
    this run only watches them, one API request per poll for all of them.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    pending = set(run_ids)
    with get_client(sync_client=True) as client:
        while pending:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=sorted(pending)))
            )
            for run in runs:
                if run.state is not None and run.state.is_final() and run.id in pending:
                    pending.discard(run.id)
                    on_final(run)
            if pending:
                time.sleep(poll_seconds)


def label_flow_run(name: str | None = None, tags: Iterable[str] = ()) -> None:
    """Rename the current flow run and add tags (no-op outside a flow run)."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    run = context.flow_run
    new_tags = sorted({*(run.tags or []), *tags})
    with get_client(sync_client=True) as client:
        client.update_flow_run(run.id, name=name or run.name, tags=new_tags)
    if name:
        run.name = name
    run.tags = new_tags
