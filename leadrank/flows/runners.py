"""Where the nightly run's tasks execute: threads in the flow's process (the default), or a Dask
cluster through prefect-dask, chosen by the environment of the process that runs the flow:

  LEADRANK_DASK_ADDRESS=tcp://scheduler:8786   use that cluster (production: workers on several machines)
  LEADRANK_TASK_RUNNER=dask                    without an address: a local Dask cluster on this machine
  LEADRANK_DASK_WORKERS=N                      workers of that local cluster (default: Dask's choice)

Set them on the Prefect worker (or in a deployment's job_variables.env). The tasks pass only run
ids, paths and counts, so every Dask worker must see the same LEADRANK_DATA_DIR (shared storage)
and reach the warehouse; extraction and scoring then spread over the cluster.
"""

from __future__ import annotations

import os

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

ADDRESS_ENV = "LEADRANK_DASK_ADDRESS"
RUNNER_ENV = "LEADRANK_TASK_RUNNER"
WORKERS_ENV = "LEADRANK_DASK_WORKERS"


def dask_runner(address: str | None = None, n_workers: int | None = None) -> TaskRunner:
    """A DaskTaskRunner on the cluster at `address`, else on a new local cluster."""
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    cluster_kwargs = {"n_workers": n_workers, "threads_per_worker": 2} if n_workers else {}
    return DaskTaskRunner(cluster_kwargs=cluster_kwargs)


def task_runner_from_env() -> TaskRunner:
    address = os.environ.get(ADDRESS_ENV) or None
    kind = (os.environ.get(RUNNER_ENV) or ("dask" if address else "threads")).lower()
    if kind == "threads":
        return ThreadPoolTaskRunner()
    if kind == "dask":
        workers = os.environ.get(WORKERS_ENV)
        return dask_runner(address, int(workers) if workers else None)
    raise ValueError(f"{RUNNER_ENV} must be 'threads' or 'dask', not {kind!r}")
