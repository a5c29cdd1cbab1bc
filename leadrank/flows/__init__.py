"""Prefect wiring and the command line. Only this package imports Prefect; the flows
orchestrate leadrank.pipeline steps and pass run ids, paths and counts between tasks.

  nightly    the nightly-refresh flow           tasks      its tasks, one per pipeline step
  artifacts  what a run shows in the UI         alerts     failure alerts through a Prefect block
  runners    threads or a Dask cluster          steps      the deployments' pull step (prefect.yaml)
  serve      `leadrank serve`                   retrain    PLACEHOLDER for issue 5's weekly_retrain
  cli/       the `leadrank` command
"""
