"""The nightly refresh as a Prefect flow: one task per source (concurrent, isolated), then
stage → normalise → dedupe → score → publish. Tasks receive and return references and counts
only; the data stays in the run directory and the warehouse.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from leadrank import pipeline
from leadrank.paths import DEMO_CONFIG


class AllSourcesFailed(RuntimeError):
    pass


@task(name="extract-source", cache_policy=NO_CACHE, task_run_name="extract-{source}")
def extract_task(config: str, source: str, run_id: str) -> dict[str, Any]:
    return pipeline.extract_step(config, source, run_id)


@task(name="stage", cache_policy=NO_CACHE)
def stage_task(run_id: str, sources: list[str], warehouse: str | None) -> dict[str, int]:
    return pipeline.stage_step(run_id, sources, warehouse)


@task(name="normalise", cache_policy=NO_CACHE)
def normalise_task(run_id: str, sources: list[str]) -> dict[str, int]:
    return pipeline.normalise_step(run_id, sources)


@task(name="dedupe", cache_policy=NO_CACHE)
def resolve_task(config: str, run_id: str, warehouse: str | None) -> dict[str, int]:
    return pipeline.resolve_step(config, run_id, warehouse)


@task(name="score", cache_policy=NO_CACHE)
def score_task(config: str, run_id: str, warehouse: str | None) -> dict[str, Any]:
    return pipeline.score_step(config, run_id, warehouse)


@task(name="publish", cache_policy=NO_CACHE)
def publish_task(run_id: str, warehouse: str | None, summary: dict[str, Any]) -> dict[str, int]:
    return pipeline.publish_step(run_id, warehouse, summary)


@flow(name="nightly-refresh", log_prints=True)
def nightly_refresh(config: str = str(DEMO_CONFIG), warehouse: str | None = None) -> dict[str, Any]:
    """Fetch every configured source, resolve leads, score them and publish the ranked marts."""
    logger = get_run_logger()
    run_id = pipeline.new_run_id()
    timer = pipeline.StageTimer()
    started = timer("begin", pipeline.begin, config, run_id, warehouse, flow_run_id=str(flow_run.get_id() or ""))
    sources: list[str] = started["sources"]
    try:
        futures = [extract_task.submit(config, name, run_id) for name in sources]
        reports = timer("extract", lambda: [f.result() for f in futures])
        failed = [r for r in reports if r["status"] == "failed"]
        if sources and len(failed) == len(sources):
            raise AllSourcesFailed("every source failed: " + "; ".join(f"{r['source']}: {r['reason']}" for r in failed))
        for report in failed:
            logger.warning("source %s failed: %s", report["source"], report["reason"])
        staged = timer("stage", stage_task, run_id, sources, warehouse)
        normalised = timer("normalise", normalise_task, run_id, sources)
        resolved = timer("dedupe", resolve_task, config, run_id, warehouse)
        scored = timer("score", score_task, config, run_id, warehouse)
        summary = {
            "run_id": run_id,
            "flow_run_id": str(flow_run.get_id() or ""),
            "sources": reports,
            "staged": staged,
            "normalised": normalised,
            "resolution": resolved,
            "scoring": scored,
        }
        leads = timer("publish", publish_task, run_id, warehouse, {**summary, "seconds": timer.seconds})
    except BaseException as exc:
        pipeline.fail(run_id, warehouse, f"{type(exc).__name__}: {exc}")
        raise
    summary["leads"] = leads
    summary["seconds"] = timer.seconds
    return summary
