"""The nightly run's Prefect tasks: begin, extract one source, and any later declared step
(leadrank.night.STEPS).

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

from leadrank import pipeline
from leadrank.extractors.fetch.cancel import cancellable
from leadrank.night import Night, step

SOURCE_TIMEOUT_SECONDS = 1800
SOURCE_RETRIES = 1


@task(name="extract-source", task_run_name="extract-{source}", cache_policy=NO_CACHE,
      retries=SOURCE_RETRIES, retry_delay_seconds=30, timeout_seconds=SOURCE_TIMEOUT_SECONDS)
async def extract_source(run_id: str, source: str) -> dict[str, Any]:
    """One source into the run directory. Source faults (HTTP errors, layout changes) come back as
    a failed report; retries and the timeout cover the task itself crashing or hanging. The work
    runs in a thread so that the timeout can abandon it; abandoning it cancels its fetches (the
    request in flight ends, no retry starts), so that nothing fetches on after the flow ends."""
    with cancellable() as fetches:
        try:
            return await run_sync_in_worker_thread(pipeline.extract_step, run_id, source)
        finally:
            fetches.cancel()


@task(name="begin-run", cache_policy=NO_CACHE)
def begin_run(config: str, run_id: str, warehouse: str | None, flow_run_id: str, resume: bool) -> dict[str, Any]:
    return pipeline.begin(config, run_id, warehouse, flow_run_id=flow_run_id, resume=resume)


@task(name="night-step", cache_policy=NO_CACHE)
def night_step(name: str, night: Night) -> Any:
    """One declared step after extraction (leadrank.night.STEPS); the flow names it by the step's task."""
    return step(name).run(night)
