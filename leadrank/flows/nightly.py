"""The nightly refresh as a Prefect flow: the steps declared in leadrank.night.STEPS, begin, one
task per source (concurrent, isolated, with retries and a timeout), then each later step its
own task: normalise → dedupe → score → reconcile → publish, with staging tonight's records
beside them from normalise on (a step with `joins_at`), finished before publish.
Tasks pass references and counts only (leadrank.flows.tasks); the data stays in the run
directory and the warehouse.

What the UI shows (leadrank.flows.artifacts): a progress artifact while sources are extracted,
then the run summary, the top 50 leads and a data-quality table; a warning artifact names any
failed sources. The run fails when every source fails or any later step fails (the published
list then stays as it was, and LEADRANK_ALERT_BLOCK gets an alert naming the step); it completes
when only some sources fail.

A run that did not publish can be resumed (`resume=RUN_ID`, `leadrank run --resume RUN_ID`, or
Retry on the failed flow run in the UI): sources it already extracted are not fetched again.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger
from prefect.futures import as_completed
from prefect.runtime import flow_run

from leadrank import night, pipeline, run_report
from leadrank.flows import alerts, artifacts, runners, tasks
from leadrank.paths import DEMO_CONFIG


class AllSourcesFailed(RuntimeError):
    pass


def _source_failure(exc: BaseException, timeout: int) -> str:
    if isinstance(exc, TimeoutError):
        return f"extraction timed out after {timeout}s"
    return f"extraction crashed: {type(exc).__name__}: {exc}"


@flow(name="nightly-refresh", log_prints=True, task_runner=runners.task_runner_from_env(),
      on_failure=[alerts.notify_failure], on_crashed=[alerts.notify_failure])
def nightly_refresh(
    config: str | None = None,
    warehouse: str | None = None,
    resume: str | None = None,
    source_timeout_seconds: int = tasks.SOURCE_TIMEOUT_SECONDS,
    source_retries: int = tasks.SOURCE_RETRIES,
) -> dict[str, Any]:
    """Fetch every configured source, resolve leads, score them and publish the ranked marts.

    Args:
        config: The sources file (YAML), absolute or relative to the working directory (the
            worker's clone of the repository). Empty: the bundled offline demo.
        warehouse: SQLAlchemy URL of the warehouse. Empty: $LEADRANK_WAREHOUSE_URL on the worker,
            else data/leadrank.db. Keep passwords in that variable, not here.
        resume: The id of an earlier run that did not publish: its finished extractions are
            reused instead of fetched again, the later steps are redone.
        source_timeout_seconds: Time limit of one source's extraction (per attempt).
        source_retries: Further attempts of a source whose extraction crashed or timed out.
    """
    config = config or str(DEMO_CONFIG)
    logger = get_run_logger()
    flow_run_id = str(flow_run.get_id() or "")
    run_id = resume or pipeline.new_run_id()
    timer = pipeline.StageTimer()
    summary: dict[str, Any] = {"run_id": run_id, "flow_run_id": flow_run_id}
    step = "begin"

    def run(name: str, task: Any, *args: Any) -> Any:
        nonlocal step
        step = name
        alerts.entering(flow_run_id, name, run_id)
        return timer(name, lambda: task.submit(*args).result())

    beside: dict[str, Any] = {}  # step name: its future, while it runs beside the others
    ended: dict[str, float] = {}  # step name: when its future finished (set by the future)

    def join(due: str | None) -> None:
        """Wait for the steps running beside that are due before step `due` (None: all), and
        take the result of any that has ended already: a failed one fails the run now."""
        nonlocal step
        for waiting in [s for s in night.AFTER_EXTRACT if s.name in beside]:
            future, submitted = beside[waiting.name]
            if due is None or waiting.joins_at == due or future.state.is_final():
                step = waiting.name
                summary[waiting.summary_key] = future.result()
                del beside[waiting.name]
                timer.record(waiting.name, ended.get(waiting.name, time.perf_counter()) - submitted)

    try:
        if resume is None and flow_run.get_run_count() > 1:  # a Retry of this flow run continues its run
            resume = pipeline.run_to_retry(warehouse, flow_run_id)
            run_id = summary["run_id"] = resume or run_id
        started = run("begin", tasks.begin_run, config, run_id, warehouse, flow_run_id, resume is not None)
        sources: list[str] = started["sources"]
        step = "extract"
        alerts.entering(flow_run_id, step, run_id)
        reports = _extract(run_id, sources, started["reused"], timer, source_timeout_seconds, source_retries)
        summary["sources"] = [reports[name] for name in sources]
        summary["resumed"] = len(started["reused"]) if resume else 0
        failed = [r for r in summary["sources"] if r["status"] == "failed"]
        if sources and len(failed) == len(sources):
            raise AllSourcesFailed("every source failed: " + "; ".join(f"{r['source']}: {r['reason']}" for r in failed))
        for report in failed:
            logger.warning("source %s failed: %s", report["source"], report["reason"])
        if failed:
            artifacts.failed_sources(run_id, failed, len(sources))
        for later in night.AFTER_EXTRACT:
            join(later.name)
            tonight = night.Night(run_id, warehouse, tuple(sources), {**summary, "seconds": timer.seconds})
            task = tasks.night_step.with_options(name=later.task)
            if later.joins_at:
                beside[later.name] = (_submit_beside(task, later.name, tonight, ended), time.perf_counter())
                continue
            summary[later.summary_key] = run(later.name, task, later.name, tonight)
        join(None)
    except Exception as exc:
        _wait_for(beside)
        _mark_failed(run_id, warehouse, f"{step}: {type(exc).__name__}: {exc}")
        summary["seconds"] = timer.seconds
        artifacts.run_summary(summary, failure=f"step '{step}': {type(exc).__name__}: {exc}")
        raise alerts.StepFailed.of(step, exc, run_id) from exc
    except BaseException as exc:  # cancelled or interrupted: not published, resumable
        _wait_for(beside)
        _mark_failed(run_id, warehouse, f"{step}: interrupted ({type(exc).__name__})")
        raise
    summary["seconds"] = timer.seconds
    artifacts.run_summary(summary)
    artifacts.top_leads(run_id, run_report.top_leads(warehouse, limit=50))
    artifacts.data_quality(run_id, run_report.data_quality(run_id, sources))
    alerts.forget(flow_run_id)
    return summary


def _submit_beside(task: Any, name: str, tonight: night.Night, ended: dict[str, float]) -> Any:
    """Submit a step that runs beside the next ones; `ended` gets the time it finishes (its
    wall time is recorded when the flow takes its result, which may be later)."""
    future = task.submit(name, tonight)
    future.add_done_callback(lambda _: ended.__setitem__(name, time.perf_counter()))
    return future


def _wait_for(beside: dict[str, Any]) -> None:
    """Let the steps still running beside a failed one end before the run is marked failed (a
    staging transaction left running would hold SQLite's write lock); their own errors are
    not the run's first."""
    for future, _ in beside.values():
        future.wait()


def _mark_failed(run_id: str, warehouse: str | None, reason: str) -> None:
    """Record the failure in the warehouse, without letting a second error hide the first."""
    try:
        pipeline.fail(run_id, warehouse, reason)
    except Exception as exc:  # noqa: BLE001
        get_run_logger().error("could not mark run %s failed in the warehouse: %s: %s", run_id, type(exc).__name__, exc)


def _extract(run_id: str, sources: list[str], reused: dict[str, dict[str, Any]],
             timer: pipeline.StageTimer, timeout: int, retries: int) -> dict[str, dict[str, Any]]:
    """Extract every source not already extracted by this run, concurrently; a source whose task
    crashes or times out (after its retries) is recorded as failed, never fails the others."""
    reports = dict(reused)
    todo = [name for name in sources if name not in reports]
    progress = artifacts.ExtractionProgress(len(sources), done=len(reports))
    extract = tasks.extract_source.with_options(timeout_seconds=timeout, retries=retries)

    def extract_all() -> None:
        futures = {extract.submit(run_id, name): name for name in todo}
        for future in as_completed(list(futures)):
            name = futures[future]
            try:
                report = future.result()
            except Exception as exc:  # noqa: BLE001 - isolate the source
                report = pipeline.source_failed(run_id, name, _source_failure(exc, timeout))
            reports[name] = report
            progress.source_done(report)

    timer("extract", extract_all)
    return reports
