"""Prefect wiring and the command line. Only this package imports Prefect; the flows
orchestrate leadrank.pipeline steps and pass run ids, paths and counts between tasks."""

from leadrank.flows import secrets

secrets.register()  # sources may name Prefect Secret blocks: {secret: NAME}
