"""Versioned SQL migrations: leadrank/sql/migrations/NNNN_name.sql, applied in order, once.

A migration may have a dialect-specific twin (NNNN_name.postgresql.sql or NNNN_name.sqlite.sql)
that replaces it on that dialect. Each migration runs in one transaction with its bookkeeping
row, so a failed migration leaves nothing half-applied; a checksum catches edited history.
Views are not migrations: leadrank/sql/views/ holds their current definitions, re-created after
the migrations when one changed (warehouse.views), so editing a view needs no migration. Pending
migrations run in one transaction that ends by re-creating the views (others' grants on them read
before the migrations): a migration may drop the views that read a table it replaces (0080), and
readers see the old schema and marts or the new ones, never a mix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

from leadrank.paths import SQL_DIR
from leadrank.warehouse.access import secure_marts
from leadrank.warehouse.engine import advisory_xact_lock, large_write, writer
from leadrank.warehouse.sql_files import SqlText, for_dialect, split_statements
from leadrank.warehouse.views import managed_grants
from leadrank.warehouse.views import recreate as recreate_views

MIGRATIONS_DIR = SQL_DIR / "migrations"
MIGRATE_LOCK = 724311  # PostgreSQL advisory lock key of the migrator
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration(SqlText):
    version: str
    name: str
    path: Path


def available(dialect: str) -> list[Migration]:
    found = []
    for stem, path in for_dialect(MIGRATIONS_DIR, dialect).items():
        match = _NAME.match(stem + ".sql")
        if match:
            found.append(Migration(match.group(1), match.group(2), path))
    return found


def applied(engine: Engine) -> dict[str, str]:
    if not inspect(engine).has_table("schema_migrations"):
        return {}
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT version, checksum FROM schema_migrations")).all()
    return {version: checksum for version, checksum in rows}


def _serialise(conn: Connection) -> None:
    """One migrator at a time: two processes starting on a new warehouse at once would otherwise
    both create the same tables. PostgreSQL: an advisory lock held to the end of the transaction;
    SQLite: the writer transaction (BEGIN IMMEDIATE) already excludes other writers."""
    if conn.dialect.name == "postgresql":
        advisory_xact_lock(conn, MIGRATE_LOCK, "migration")


def upgrade(engine: Engine) -> list[str]:
    """Apply pending migrations; returns the versions applied. Safe to run from several
    processes at once: the migrations are applied by exactly one of them, all in one transaction
    with the views' re-creation. On PostgreSQL the mart views are then made security barriers
    (access.secure_marts), whichever migration made them."""
    with writer(engine).begin() as conn:
        _serialise(conn)
        conn.execute(text(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version TEXT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        ))
    done = applied(engine)
    for migration in available(engine.dialect.name):
        if migration.version in done and done[migration.version] != migration.checksum():
            raise MigrationError(
                f"migration {migration.path.name} changed after it was applied; add a new migration instead"
            )
    newly: list[str] = []
    with large_write(engine) as conn:  # (a migration may move every row)
        _serialise(conn)
        done = {v for (v,) in conn.execute(text("SELECT version FROM schema_migrations")).all()}
        pending = [m for m in available(engine.dialect.name) if m.version not in done]  # others may have applied some
        restore = managed_grants(conn) if pending else None  # a migration may drop views
        for migration in pending:
            for statement in split_statements(migration.sql()):
                conn.exec_driver_sql(statement)
            conn.execute(
                text("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (:v, :n, :c, :t)"),
                {"v": migration.version, "n": migration.name, "c": migration.checksum(),
                 "t": datetime.now(UTC).isoformat()},
            )
            newly.append(migration.version)
        recreate_views(conn, force=bool(newly), restore=restore)
        if engine.dialect.name == "postgresql":
            secure_marts(conn)
    return newly
