"""Which warehouse, and a SQLAlchemy engine for it that behaves the same on both dialects.

The URL is `--warehouse`, else LEADRANK_WAREHOUSE_URL, else one built with `URL.create` from
LEADRANK_PG_HOST (and LEADRANK_PG_PORT, LEADRANK_PG_USER, LEADRANK_PG_DATABASE), else an embedded
SQLite file in the data directory. The password is best kept out of the URL, in
LEADRANK_PG_PASSWORD: a password holding `@` written into a URL makes the rest of it part of the
host, which drivers, errors and logs show. So a URL whose host is not a host name is refused, and
the host of a URL is never echoed unless it is one. SQLite gets real transactions (pysqlite's implicit ones do not cover DDL, and
atomic publishing needs them), WAL so that sales can read while a night loads, and a busy
timeout; writers take the lock up front (BEGIN IMMEDIATE) so two writers queue instead of
deadlocking. Passwords never leave this module: use `display_url` to show a URL.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url

from leadrank.paths import data_dir

ENV_VAR = "LEADRANK_WAREHOUSE_URL"


PASSWORD_VAR = "LEADRANK_PG_PASSWORD"
PART_VARS = {"host": "LEADRANK_PG_HOST", "port": "LEADRANK_PG_PORT", "username": "LEADRANK_PG_USER",
             "database": "LEADRANK_PG_DATABASE"}
# Host names, IPv4 and bracketed IPv6 addresses, and libpq's comma-separated host lists.
_HOST = re.compile(r"(?:[A-Za-z0-9._\-]+|\[[0-9A-Fa-f:.]+\])(?:,(?:[A-Za-z0-9._\-]+|\[[0-9A-Fa-f:.]+\]))*")


class WarehouseUrlError(ValueError):
    """The warehouse URL cannot be used; the message never repeats it (it may hold a password)."""


def _parse(text: str) -> URL:
    try:
        url = make_url(text)
    except Exception:  # noqa: BLE001 - never echo an unparsable URL, it may hold a secret
        raise WarehouseUrlError("the warehouse URL cannot be parsed (not shown: it may hold a password)") from None
    if url.host and not _HOST.fullmatch(url.host):
        raise WarehouseUrlError(
            "the warehouse URL's host is not a host name (not shown): a password holding @, / or : must be "
            f"percent-encoded in a URL; better, leave the password out of the URL and set {PASSWORD_VAR}")
    return url


def warehouse_url(explicit: str | None = None) -> URL:
    """The warehouse's URL (see the module docstring for where it comes from), with the password
    of LEADRANK_PG_PASSWORD when the URL carries none."""
    if explicit:
        url = _parse(explicit)
    elif os.environ.get(ENV_VAR):
        url = _parse(os.environ[ENV_VAR])
    elif os.environ.get(PART_VARS["host"]):
        port = os.environ.get(PART_VARS["port"])
        if port is not None and not port.isdigit():
            raise WarehouseUrlError(f"{PART_VARS['port']} must be a port number")
        url = URL.create("postgresql+psycopg", host=os.environ[PART_VARS["host"]], port=int(port) if port else None,
                         username=os.environ.get(PART_VARS["username"]),
                         database=os.environ.get(PART_VARS["database"]))
    else:
        return URL.create("sqlite", database=str(data_dir() / "leadrank.db"))
    if url.password is None and os.environ.get(PASSWORD_VAR) and url.get_backend_name() != "sqlite":
        url = url.set(password=os.environ[PASSWORD_VAR])
    return url


def display_url(url: str | URL) -> str:
    """The URL with any password masked, for logs and summaries."""
    try:
        return (url if isinstance(url, URL) else _parse(url)).render_as_string(hide_password=True)
    except WarehouseUrlError as exc:
        return f"({exc})"


# SQLite's page cache per connection, taken only as pages are read. Reads gain little from
# caching what they scan once (every stored record's lead in the dedupe step, the merged leads in
# the score step), and a pooled connection keeps what it cached: with 256 MB, night 2's dedupe and
# score steps at 1.4M records peaked ~290-380 MB higher (3,106 / 2,810 MB against 2,724 / 2,524 MB).
# Staging, which appends beside the night's largest steps, stages 1.4M records as fast with it.
PAGE_CACHE_KIB = 16_384
# Inside a large write (`large_write`: a publish, the retention purge, migrations): upserts into
# B-trees far larger than a few megabytes.
WRITE_CACHE_KIB = 262_144
# The page size of a new SQLite warehouse (SQLite's default is 4 KiB). A night writes millions of
# rows: with 32 KiB pages its B-trees have an eighth of the pages to split, write to the WAL and
# copy back at the commit's checkpoint. Night 1's load step at 1.4M records: 44-45 -> 39 s; a
# second night's, which upserts changed rows scattered over the pages, ~1 s slower (bench/README.md,
# issue 19's twelfth round). The size is fixed when the file is made: existing warehouses keep theirs.
PAGE_BYTES = 32_768


def make_engine(url: str | None = None) -> Engine:
    parsed = warehouse_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.execute(f"PRAGMA page_size={PAGE_BYTES}")  # (a new file's; an existing one keeps its own)
            _use_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            # A page cache of PAGE_CACHE_KIB (large writes take more: `large_write`) and
            # in-memory temp tables.
            cursor.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    return create_engine(parsed, pool_pre_ping=True)


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


@contextmanager
def large_write(engine: Engine) -> Iterator[Connection]:
    """A write transaction (`writer`) that may touch millions of rows: on SQLite its connection
    caches up to WRITE_CACHE_KIB of pages inside it (the pragma is not transactional) and goes
    back to PAGE_CACHE_KIB before the commit, which frees what it cached beyond that. After a
    failure the pooled connection keeps the larger cache until its next large write or its end,
    which costs only memory."""
    with writer(engine).begin() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql(f"PRAGMA cache_size=-{WRITE_CACHE_KIB}")
        yield conn
        if sqlite:
            conn.exec_driver_sql(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")


LOCK_TIMEOUT_VAR = "LEADRANK_LOCK_TIMEOUT"  # seconds to wait for a warehouse lock (default 600)


class LockTimeout(RuntimeError):
    """A PostgreSQL advisory lock of leadrank stayed taken too long; the message says by whom."""


def advisory_xact_lock(conn: Connection, key: int, what: str) -> None:
    """Take a transaction-scoped advisory lock, waiting at most $LEADRANK_LOCK_TIMEOUT seconds.

    Two leadrank processes only ever hold these for a migration or a publish (seconds to a
    few minutes); a session that keeps one longer is not leadrank's (any role could take an
    advisory lock until `grant-sales` revoked that from PUBLIC), and waiting on it forever would
    stop every night. So the wait is bounded, and the error names the session holding it."""
    try:
        patience = float(os.environ.get(LOCK_TIMEOUT_VAR) or 600)
    except ValueError:
        raise LockTimeout(f"${LOCK_TIMEOUT_VAR} must be a number of seconds") from None
    deadline = time.monotonic() + patience
    pause = 0.05
    while not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar():
        if time.monotonic() > deadline:
            holder = conn.execute(text(
                "SELECT a.pid, a.usename, a.application_name, a.xact_start FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.classid = 0 AND l.objid = :k AND l.database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"), {"k": key}).first()
            who = (f"session {holder.pid} of role {holder.usename} ({holder.application_name or 'no application name'},"
                   f" transaction started {holder.xact_start})" if holder else "another session")
            raise LockTimeout(
                f"the {what} lock (PostgreSQL advisory lock {key}) is held by {who}; gave up after "
                f"{patience:g} seconds (${LOCK_TIMEOUT_VAR}). If that is not a leadrank process, end it "
                "(SELECT pg_terminate_backend(pid)) and run `leadrank db grant-sales ROLE` again, which stops "
                "sales roles from taking advisory locks")
        time.sleep(pause)
        pause = min(pause * 2, 1.0)
