"""The nightly run's Prefect tasks, one per leadrank.pipeline step.

They take and return run ids, paths and counts only; the data stays in the run directory and
the warehouse, so there is nothing to hash (NO_CACHE: no cache-key warnings in the logs) and
nothing big to ship to a Dask worker. They live in this importable module rather than in the
flow's file so that Dask workers on other machines can unpickle them by reference.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.asyncutils import run_sync_in_worker_thread

from leadrank import pipeline, reconcile
from leadrank.extractors.fetch.cancel import cancellable

SOURCE_TIMEOUT_SECONDS = 1800
SOURCE_RETRIES = 1


@task(name="extract-source", task_run_name="extract-{source}", cache_policy=NO_CACHE,
      retries=SOURCE_RETRIES, retry_delay_seconds=30, timeout_seconds=SOURCE_TIMEOUT_SECONDS)
async def extract_source(config: str, source: str, run_id: str) -> dict[str, Any]:
    """One source into the run directory. Source faults (HTTP errors, layout changes) come back as
    a failed report; retries and the timeout cover the task itself crashing or hanging. The work
    runs in a thread so that the timeout can abandon it; abandoning it cancels its fetches (the
    request in flight ends, no retry starts), so that nothing fetches on after the flow ends."""
    with cancellable() as fetches:
        try:
            return await run_sync_in_worker_thread(pipeline.extract_step, config, source, run_id)
        finally:
            fetches.cancel()


@task(name="begin-run", cache_policy=NO_CACHE)
def begin_run(config: str, run_id: str, warehouse: str | None, flow_run_id: str, resume: bool) -> dict[str, Any]:
    return pipeline.begin(config, run_id, warehouse, flow_run_id=flow_run_id, resume=resume)


@task(name="stage-records", cache_policy=NO_CACHE)
def stage_records(run_id: str, sources: list[str], warehouse: str | None) -> dict[str, int]:
    return pipeline.stage_step(run_id, sources, warehouse)


@task(name="normalise-records", cache_policy=NO_CACHE)
def normalise_records(run_id: str, sources: list[str]) -> dict[str, int]:
    return pipeline.normalise_step(run_id, sources)


@task(name="dedupe-leads", cache_policy=NO_CACHE)
def dedupe_leads(config: str, run_id: str, warehouse: str | None) -> dict[str, int]:
    return pipeline.resolve_step(config, run_id, warehouse)


@task(name="score-leads", cache_policy=NO_CACHE)
def score_leads(config: str, run_id: str, warehouse: str | None) -> dict[str, Any]:
    return pipeline.score_step(config, run_id, warehouse)


@task(name="reconcile-records", cache_policy=NO_CACHE)
def reconcile_records(run_id: str, sources: list[str]) -> dict[str, Any]:
    """Extracted = published + merged + rejected, checked before anything is published."""
    return reconcile.reconcile(run_id, sources)


@task(name="publish-marts", cache_policy=NO_CACHE)
def publish_marts(run_id: str, warehouse: str | None, summary: dict[str, Any]) -> dict[str, int]:
    return pipeline.publish_step(run_id, warehouse, summary)
