"""PLACEHOLDER for issue 5's weekly retrain flow; replace this whole file with issue 5's.

It exists only so that the `weekly-retrain` deployment in prefect.yaml (entrypoint
leadrank/flows/retrain.py:weekly_retrain) can be deployed and served on this branch; it does no
work and fails loudly if run, so that a schedule never silently pretends to retrain.
"""

from __future__ import annotations

from prefect import flow


@flow(name="weekly-retrain")
def weekly_retrain() -> None:
    """Placeholder: the weekly model retrain (issue 5)."""
    raise NotImplementedError("weekly_retrain is a placeholder until issue 5's retrain flow is merged")
