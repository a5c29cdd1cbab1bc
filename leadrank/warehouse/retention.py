"""Retention: raw responses and staging rows older than N days are purged.

What a run fetched (its run directory under the data directory: raw responses, extracted and
intermediate frames) and what it staged (stg_prospects, stg_rejects, stg_source_runs) are kept
for replay and audits, then purged; so are entries of the shared HTTP cache that no night has
stored again within the retention (pages a source no longer lists), which would otherwise grow
without end. The core history (leads, records, scores, outcomes) and
the marts are never touched. A run's age is its start time (from pipeline_runs, else from the
timestamp in its ID, else the directory's modification time). A run still marked running
that started before the cutoff was killed long ago (a night takes hours, the retention is
days), so it is purged like the others. The latest published run's directory is never purged,
however old: it holds the state the next night resolves incrementally from
(leadrank.transform.incremental), and a warehouse that published nothing for a month would
otherwise lose it and fall back to a full night. The Prefect flow `retention-purge` (leadrank/flows/retention.py) runs
this on a schedule; `leadrank db purge` runs it once.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, inspect, text

from leadrank.paths import data_dir, http_cache_dir
from leadrank.warehouse.engine import large_write

DEFAULT_DAYS = 30
ENV_DAYS = "LEADRANK_RETENTION_DAYS"
STAGING_TABLES = ("stg_prospects", "stg_rejects", "stg_source_runs")
_RUN_STAMP = re.compile(r"(\d{8}T\d{6}Z)")


@dataclass
class PurgeResult:
    cutoff: str
    run_dirs: list[str] = field(default_factory=list)  # run directories removed (or to remove)
    staging_rows: dict[str, int] = field(default_factory=dict)  # rows deleted per staging table
    http_cache_files: int = 0  # HTTP cache entries not stored again since the cutoff
    bytes_freed: int = 0
    dry_run: bool = False


def retention_days(explicit: int | None = None) -> int:
    """Days to keep: the explicit value, else $LEADRANK_RETENTION_DAYS, else 30."""
    days = explicit if explicit is not None else int(os.environ.get(ENV_DAYS, DEFAULT_DAYS))
    if days < 1:
        raise ValueError(f"retention must be at least 1 day, not {days}")
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


def purge(engine: Engine, days: int, *, now: datetime | None = None, runs_root: Path | None = None,
          dry_run: bool = False) -> PurgeResult:
    """Purge run directories and staging rows of runs that started more than `days` days ago."""
    days = retention_days(days)
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    result = PurgeResult(cutoff=cutoff.isoformat(timespec="seconds"), dry_run=dry_run)
    started: dict[str, datetime] = {}
    latest = None
    if inspect(engine).has_table("pipeline_runs"):
        with engine.connect() as conn:
            started = {r: _as_utc(t) for r, t in conn.execute(text("SELECT run_id, started_at FROM pipeline_runs")).all()}
            latest = conn.execute(text("SELECT run_id FROM latest_published_run")).scalar()
    root = runs_root or data_dir() / "runs"
    if root.is_dir():
        for path in sorted(root.iterdir()):
            if path.is_dir() and path.name != latest and _started(path.name, path, started) < cutoff:
                result.run_dirs.append(path.name)
                result.bytes_freed += _size(path)
                if not dry_run:
                    shutil.rmtree(path)
    _purge_http_cache(result, cutoff, dry_run)
    if not any(t < cutoff for t in started.values()) or not inspect(engine).has_table("stg_prospects"):
        return result
    old_runs = "run_id IN (SELECT run_id FROM pipeline_runs WHERE started_at < :c)"
    with large_write(engine) as conn:  # (a night's records, deleted)
        for table in STAGING_TABLES:
            if dry_run:
                count = conn.execute(text(f"SELECT COUNT(*) FROM {table} WHERE {old_runs}"), {"c": result.cutoff}).scalar()
            else:
                count = conn.execute(text(f"DELETE FROM {table} WHERE {old_runs}"), {"c": result.cutoff}).rowcount
            result.staging_rows[table] = int(count or 0)
    return result


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
