"""The retention purge as a Prefect flow: raw responses and staging rows of runs older than the
retention period are deleted, and so are the full rankings of published runs older than the
ranking retention (leadrank.warehouse.retention). Schedule it beside the nightly refresh; the
number of days is the `days` parameter, else $LEADRANK_RETENTION_DAYS, else 30, and for
rankings `rank_days`, else $LEADRANK_RANK_RETENTION_DAYS, else 90. With `vacuum` the space the
purge freed is given back afterwards (leadrank.warehouse.vacuum: on SQLite the file is rewritten,
~25 s at a million leads, holding the write lock; on PostgreSQL a VACUUM (ANALYZE) that locks no
one out).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.retention import purge, rank_retention_days, retention_days
from leadrank.warehouse.vacuum import vacuum as vacuum_warehouse


@task(name="purge-old-runs", cache_policy=NO_CACHE)
def purge_task(days: int, rank_days: int, warehouse: str | None, dry_run: bool) -> dict[str, Any]:
    return asdict(purge(make_engine(warehouse), days, rank_days=rank_days, dry_run=dry_run))


@task(name="vacuum-warehouse", cache_policy=NO_CACHE)
def vacuum_task(warehouse: str | None) -> dict[str, Any]:
    return asdict(vacuum_warehouse(make_engine(warehouse)))


@flow(name="retention-purge", log_prints=True)
def retention_purge(days: int | None = None, warehouse: str | None = None, dry_run: bool = False,
                    rank_days: int | None = None, vacuum: bool = False) -> dict[str, Any]:
    """Delete run directories and staging rows of runs started more than `days` days ago, and
    rankings of published runs started more than `rank_days` days ago; with `vacuum`, then give
    the freed space back (not on a dry run)."""
    result = purge_task(retention_days(days), rank_retention_days(rank_days), warehouse, dry_run)
    logger = get_run_logger()
    logger.info("purged %d run directories (%.1f MB) and staging rows %s of runs before %s",
                len(result["run_dirs"]), result["bytes_freed"] / 1e6, result["staging_rows"], result["cutoff"])
    logger.info("purged the rankings of %d published runs (%d rows) started before %s",
                len(result["rankings"]), result["ranking_rows"], result["rank_cutoff"])
    if vacuum and not dry_run:
        result["vacuum"] = vacuumed = vacuum_task(warehouse)
        logger.info("vacuumed the warehouse: %.1f MB -> %.1f MB%s", vacuumed["bytes_before"] / 1e6,
                    vacuumed["bytes_after"] / 1e6, f" ({vacuumed['note']})" if vacuumed["note"] else "")
    return result
