"""The weekly retrain as a Prefect flow: the outcome model learned afresh from every outcome in
the warehouse and stored as a new model version (metrics, training summary, fitted pipeline).
Nightly runs reuse the newest version while it is younger than scoring.model_max_age_days, so
the nightly scoring stays fast and every score traces back to a stored, validated model. The
deployment (prefect.yaml) points at `leadrank/flows/retrain.py:weekly_retrain`.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from leadrank import pipeline
from leadrank.paths import DEMO_CONFIG


@task(name="retrain-model", cache_policy=NO_CACHE)
def retrain_task(config: str, warehouse: str | None) -> dict[str, Any]:
    return pipeline.retrain_step(config, warehouse)


@flow(name="weekly-retrain", log_prints=True)
def weekly_retrain(config: str | None = None, warehouse: str | None = None) -> dict[str, Any]:
    """Retrain the outcome model from the warehouse's outcomes and store the version.

    Args:
        config: The sources file (YAML); none means the bundled demo. (A default path would be
            baked into the deployment's parameter schema, so the default is resolved here.)
        warehouse: SQLAlchemy URL; none means $LEADRANK_WAREHOUSE_URL, else data/leadrank.db.
    """
    logger = get_run_logger()
    summary = retrain_task(config or str(DEMO_CONFIG), warehouse)
    if summary["status"] == "trained":
        metrics = summary["metrics"]
        logger.info("model %s: AUC %s (%s) on %s outcomes", summary["model_id"], metrics.get("auc"),
                    metrics.get("validation"), metrics.get("n_rows"))
    else:
        logger.warning("no model stored as trained: %s", summary["reason"])
    return summary
