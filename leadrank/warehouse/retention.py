"""Retention: raw responses and staging rows older than N days are purged, rankings older than M days.

What a run fetched (its run directory under the data directory: raw responses, extracted and
intermediate frames) and what it staged (stg_prospects, stg_rejects, stg_source_runs) are kept
for replay and audits, then purged; so are entries of the shared HTTP cache that no night has
stored again within the retention (pages a source no longer lists), which would otherwise grow
without end. The core history (leads, records, scores, outcomes) and the marts are never
touched, with one exception below. A run's age is its start time (from pipeline_runs, else from
the timestamp in its ID, else the directory's modification time). A run still marked running
that started before the cutoff was killed long ago (a night takes hours, the retention is
days), so it is purged like the others. The latest published run's directory is never purged,
however old: it holds the state the next night resolves incrementally from
(leadrank.transform.incremental), and a warehouse that published nothing for a month would
otherwise lose it and fall back to a full night.

The exception is each published run's full ranking (lead_ranks: a row per lead per night, a
million rows a night at a million leads, the one part of the history that does not grow by
what changed). Rankings older than their own retention (`--rank-days`,
$LEADRANK_RANK_RETENTION_DAYS, else 90 days) are deleted, except the latest published run's
and its base run's, which ranked_leads' movement reads. What each lead scored, and when, stays
(score_versions, one row per change), as do the dropouts with the rank they dropped from; only
lead_scores for a purged run is empty.

The Prefect flow `retention-purge` (leadrank/flows/retention.py) runs this on a schedule;
`leadrank db purge` runs it once. Neither database gives the freed space back to the disk by
itself: `leadrank db vacuum` does (leadrank.warehouse.vacuum).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine, bindparam, inspect, text

from leadrank.paths import data_dir, http_cache_dir
from leadrank.warehouse.engine import large_write

DEFAULT_DAYS = 30
ENV_DAYS = "LEADRANK_RETENTION_DAYS"
DEFAULT_RANK_DAYS = 90
ENV_RANK_DAYS = "LEADRANK_RANK_RETENTION_DAYS"
STAGING_TABLES = ("stg_prospects", "stg_rejects", "stg_source_runs")
RUNS_PER_STATEMENT = 500  # run ids in one IN list (SQLite binds at most 32,766 values)
_RUN_STAMP = re.compile(r"(\d{8}T\d{6}Z)")


@dataclass
class PurgeResult:
    cutoff: str
    run_dirs: list[str] = field(default_factory=list)  # run directories removed (or to remove)
    staging_rows: dict[str, int] = field(default_factory=dict)  # rows deleted per staging table
    http_cache_files: int = 0  # HTTP cache entries not stored again since the cutoff
    rank_cutoff: str = ""  # rankings of runs started before this go
    rankings: list[str] = field(default_factory=list)  # runs whose ranking (lead_ranks) was removed (or would be)
    ranking_rows: int = 0
    bytes_freed: int = 0
    dry_run: bool = False


def retention_days(explicit: int | None = None) -> int:
    """Days to keep: the explicit value, else $LEADRANK_RETENTION_DAYS, else 30."""
    return _days(explicit, ENV_DAYS, DEFAULT_DAYS, "retention")


def rank_retention_days(explicit: int | None = None) -> int:
    """Days to keep published runs' rankings: the explicit value, else
    $LEADRANK_RANK_RETENTION_DAYS, else 90."""
    return _days(explicit, ENV_RANK_DAYS, DEFAULT_RANK_DAYS, "ranking retention")


def _days(explicit: int | None, env: str, default: int, what: str) -> int:
    if explicit is not None:
        days = explicit
    else:
        setting = os.environ.get(env, str(default))
        try:
            days = int(setting)
        except ValueError:
            raise ValueError(f"${env} must be a whole number of days, not {setting!r}") from None
    if days < 1:
        raise ValueError(f"{what} must be at least 1 day, not {days}")
    return days


def _started(name: str, path: Path, known: dict[str, datetime]) -> datetime:
    if name in known:
        return known[name]
    stamp = _RUN_STAMP.search(name)
    if stamp:
        return datetime.strptime(stamp.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _as_utc(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def purge(engine: Engine, days: int, *, rank_days: int | None = None, now: datetime | None = None,
          runs_root: Path | None = None, dry_run: bool = False) -> PurgeResult:
    """Purge run directories and staging rows of runs that started more than `days` days ago,
    and rankings of published runs that started more than `rank_days` days ago (default
    rank_retention_days())."""
    days, rank_days = retention_days(days), rank_retention_days(rank_days)
    moment = now or datetime.now(UTC)
    cutoff, rank_cutoff = moment - timedelta(days=days), moment - timedelta(days=rank_days)
    result = PurgeResult(cutoff=cutoff.isoformat(timespec="seconds"), dry_run=dry_run,
                         rank_cutoff=rank_cutoff.isoformat(timespec="seconds"))
    started: dict[str, datetime] = {}
    latest, movement_reads = None, set()  # (the latest published run and its base run: ranked_leads reads both)
    tables = set(inspect(engine).get_table_names())
    if "pipeline_runs" in tables:
        with engine.connect() as conn:
            started = {r: _as_utc(t) for r, t in conn.execute(text("SELECT run_id, started_at FROM pipeline_runs")).all()}
            published = conn.execute(text("SELECT run_id, base_run_id FROM latest_published_run")).first()
        if published is not None:
            latest, movement_reads = published.run_id, {published.run_id, published.base_run_id}
    root = runs_root or data_dir() / "runs"
    if root.is_dir():
        for path in sorted(root.iterdir()):
            if path.is_dir() and path.name != latest and _started(path.name, path, started) < cutoff:
                result.run_dirs.append(path.name)
                result.bytes_freed += _size(path)
                if not dry_run:
                    shutil.rmtree(path)
    _purge_http_cache(result, cutoff, dry_run)
    old_runs = sorted(r for r, t in started.items() if t < cutoff)
    if old_runs and "stg_prospects" in tables:
        _purge_staging(engine, result, old_runs)
    old_rankings = sorted(r for r, t in started.items() if t < rank_cutoff and r not in movement_reads)
    if old_rankings and "lead_ranks" in tables:
        _purge_rankings(engine, result, old_rankings)
    return result


def _purge_staging(engine: Engine, result: PurgeResult, runs: list[str]) -> None:
    """The staging rows of `runs` (started before the cutoff, by the same parsed start times as
    the run directories and rankings: a start time written with another offset or format is
    compared as a time, not as text)."""
    with large_write(engine) as conn:  # (a night's records, deleted)
        for table in STAGING_TABLES:
            result.staging_rows[table] = sum(
                _delete_rows(conn, table, "run_id IN :runs", {"runs": runs[at:at + RUNS_PER_STATEMENT]}, result.dry_run)
                for at in range(0, len(runs), RUNS_PER_STATEMENT))


def _purge_rankings(engine: Engine, result: PurgeResult, runs: list[str]) -> None:
    """The rankings (lead_ranks) of `runs` (started before the rank cutoff, neither the latest
    published run nor its base run), run by run through the table's key: each is a night's leads."""
    with large_write(engine) as conn:
        for run_id in runs:
            count = _delete_rows(conn, "lead_ranks", "run_id = :r", {"r": run_id}, result.dry_run)
            if count:
                result.rankings.append(run_id)
                result.ranking_rows += count


def _delete_rows(conn: Connection, table: str, where: str, params: dict[str, str | list[str]], dry_run: bool) -> int:
    """The rows of `table` matching `where`, deleted (a dry run counts them); a list parameter
    is expanded (`IN :name`)."""
    lists = [bindparam(name, expanding=True) for name, value in params.items() if isinstance(value, list)]
    if dry_run:
        count = text(f"SELECT COUNT(*) FROM {table} WHERE {where}").bindparams(*lists)
        return int(conn.execute(count, params).scalar() or 0)
    return int(conn.execute(text(f"DELETE FROM {table} WHERE {where}").bindparams(*lists), params).rowcount or 0)


def _purge_http_cache(result: PurgeResult, cutoff: datetime, dry_run: bool) -> None:
    """Cache entries last written before the cutoff (a night rewrites the entry of every page it
    fetches with a 200, and its validators on a 304)."""
    root = http_cache_dir()
    if not root.is_dir():
        return
    for path in root.rglob("*"):
        if path.is_file() and datetime.fromtimestamp(path.stat().st_mtime, UTC) < cutoff:
            result.http_cache_files += 1
            result.bytes_freed += path.stat().st_size
            if not dry_run:
                path.unlink()
