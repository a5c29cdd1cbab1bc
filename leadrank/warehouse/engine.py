"""Which warehouse, and a SQLAlchemy engine for it that behaves the same on both dialects.

The URL is `--warehouse`, else LEADRANK_WAREHOUSE_URL, else an embedded SQLite file in the
data directory. SQLite gets real transactions (pysqlite's implicit ones do not cover DDL, and
atomic publishing needs them), WAL so that sales can read while a night loads, and a busy
timeout; writers take the lock up front (BEGIN IMMEDIATE) so two writers queue instead of
deadlocking. Passwords never leave this module: use `display_url` to show a URL.
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from leadrank.paths import data_dir

ENV_VAR = "LEADRANK_WAREHOUSE_URL"


def warehouse_url(explicit: str | None = None) -> str:
    if explicit:
        return explicit
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    return f"sqlite:///{data_dir() / 'leadrank.db'}"


def display_url(url: str) -> str:
    """The URL with any password masked, for logs and summaries."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - never echo an unparsable URL, it may hold a secret
        return "(unparsable warehouse URL)"


def make_engine(url: str | None = None) -> Engine:
    url = warehouse_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=60000")
            _use_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Up to 256 MB of page cache (taken only as pages are read) and in-memory temp
            # tables: a million-row publish upserts into B-trees far larger than the 2 MB default.
            cursor.execute("PRAGMA cache_size=-262144")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    return create_engine(url, pool_pre_ping=True)


def _use_wal(cursor: sqlite3.Cursor, patience: float = 60.0) -> None:
    """Switch the database file to WAL (once per file; a no-op after). The switch needs the file
    to itself and SQLite does not wait for it (no busy handler), so two processes opening a new
    warehouse at once would fail with "database is locked": wait and try again instead."""
    deadline = time.monotonic() + patience
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def now(*, precise: bool = False) -> str:
    """The current UTC time as stored in the warehouse (ISO 8601, seconds; microseconds when
    `precise`: publication times order the published runs, and two runs can publish within one
    second)."""
    return datetime.now(UTC).isoformat(timespec="microseconds" if precise else "seconds")


def writer(engine: Engine) -> Engine:
    """The engine for write transactions: on SQLite these take the write lock at BEGIN."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="IMMEDIATE")
    return engine
