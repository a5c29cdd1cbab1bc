"""Prefect wiring. Only this package imports Prefect; the flows orchestrate leadrank.pipeline
steps and pass run ids, paths and counts between tasks. The `leadrank` command line is
leadrank.cli, one layer above: it launches these flows, and nothing here imports it.

  nightly    the nightly-refresh flow           tasks      its tasks, one per pipeline step
  artifacts  what a run shows in the UI         alerts     failure alerts through a Prefect block
  runners    threads or a Dask cluster          steps      the deployments' pull step (prefect.yaml)
  serve      `leadrank serve`                   retrain    the weekly-retrain flow
  secret_blocks  Prefect Secret blocks as a secret store for sources
"""

from leadrank.flows import secret_blocks

secret_blocks.register()  # sources may name Prefect Secret blocks: {secret: NAME}
