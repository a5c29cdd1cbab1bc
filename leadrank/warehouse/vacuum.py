"""Giving back the space a purge frees: `leadrank db vacuum`.

A purge (leadrank.warehouse.retention) deletes rows, but neither database returns their space
by itself: SQLite keeps the freed pages in its file for later writes (the file stops growing
but never shrinks), PostgreSQL marks dead rows reusable only when (auto)vacuum has passed and
returns nothing to the operating system unless a table is rewritten.

SQLite: VACUUM rewrites the file without its free pages. A warehouse made before leadrank used
PAGE_BYTES pages is rewritten at that page size too (faster large loads; bench/README.md), which
SQLite allows only outside WAL mode, so only while no other connection has the file open; when
one has (sales reading, a night loading), the file is vacuumed at its own page size and the
result says why. VACUUM needs free disk for two copies of the database's live pages (its
temporary copy, in SQLite's temporary directory, and the WAL it writes the copy back through,
beside the file): checked first, and refused with the space needed and the space free rather
than failing half-way. It waits for the write lock like any writer (the busy timeout): a night
loading for longer makes it fail with a clear error, never with a half-done file (SQLite's
VACUUM is atomic).

PostgreSQL: VACUUM (ANALYZE) of every warehouse table makes the purged rows' space reusable at
once and refreshes the planner's statistics; nothing is locked against reads or writes. `full`
rewrites each table (VACUUM FULL), which gives the space back to the operating system but locks
the table against every read while it is rewritten: each table waits at most `lock_wait`
seconds for its lock (a night loading, a long sales query) and is skipped, and named, if the
wait runs out, so that a queued VACUUM FULL never holds up sales' queries for long.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import OperationalError

from leadrank.warehouse.engine import PAGE_BYTES

LOCK_WAIT_SECONDS = 5


class VacuumError(RuntimeError):
    """The warehouse could not be vacuumed now (the message says why); nothing was changed."""


@dataclass
class VacuumResult:
    bytes_before: int
    bytes_after: int
    page_size_before: int | None = None  # SQLite only
    page_size_after: int | None = None
    tables: list[str] = field(default_factory=list)  # PostgreSQL: the tables vacuumed
    skipped: list[str] = field(default_factory=list)  # PostgreSQL --full: tables whose lock did not come
    note: str = ""  # why the page size stayed, if it could not change


def vacuum(engine: Engine, *, full: bool = False, lock_wait: float = LOCK_WAIT_SECONDS) -> VacuumResult:
    """Vacuum the warehouse (see the module docstring); `full` and `lock_wait` are PostgreSQL's."""
    tables = sorted(inspect(engine).get_table_names())
    if "pipeline_runs" not in tables:
        raise VacuumError("this database holds no leadrank warehouse (no pipeline_runs table): nothing to vacuum")
    if engine.dialect.name == "sqlite":
        return _vacuum_sqlite(engine)
    return _vacuum_postgres(engine, tables, full, lock_wait)


def _vacuum_sqlite(engine: Engine) -> VacuumResult:
    engine.dispose()  # this process's pooled connections would keep the file from leaving WAL
    raw = engine.raw_connection()
    try:
        db: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]
        page_size, before = _sqlite_size(db)
        _check_free_disk(db, page_size, before)
        store, note = int(db.execute("PRAGMA temp_store").fetchone()[0]), ""
        try:
            if page_size < PAGE_BYTES:
                if _leave_wal(db):
                    db.execute(f"PRAGMA page_size={PAGE_BYTES}")
                else:
                    note = (f"the page size stays {page_size} bytes: another connection has the warehouse open "
                            f"(it changes to {PAGE_BYTES} only while nothing else does)")
            db.execute("PRAGMA temp_store=FILE")  # (the engine's MEMORY would hold the whole copy: 2.5 GB at 1M leads)
            db.execute("VACUUM")
        except sqlite3.OperationalError as exc:
            raise VacuumError(f"the warehouse cannot be vacuumed now ({exc}): a night may be loading; "
                              "try again when it has finished") from None
        finally:
            db.execute(f"PRAGMA temp_store={store}")
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_after, after = _sqlite_size(db)
    finally:
        raw.close()
    return VacuumResult(before, after, page_size, page_after, note=note)


def _check_free_disk(db: sqlite3.Connection, page_size: int, size: int) -> None:
    """Refuse (VacuumError) when the disks lack room for the temporary copy of the live pages and
    the WAL that writes them back (`size`: the file's bytes)."""
    live = size - page_size * int(db.execute("PRAGMA freelist_count").fetchone()[0])
    main, temp = Path(db.execute("PRAGMA database_list").fetchone()[2]).parent, _sqlite_temp_dir()
    if os.stat(temp).st_dev == os.stat(main).st_dev:
        needs = [(temp, 2 * live, "a copy of them and the WAL that writes them back")]
    else:
        needs = [(temp, live, "a copy of them"), (main, live, "the WAL that writes them back")]
    for place, needed, what in needs:
        free = shutil.disk_usage(place).free
        if free < needed:
            raise VacuumError(f"vacuuming needs about {needed / 1e6:,.0f} MB free in {place} ({what}: the warehouse "
                              f"holds {live / 1e6:,.0f} MB of live pages) and {free / 1e6:,.0f} MB are free; "
                              "nothing was changed")


def _sqlite_temp_dir() -> Path:
    """Where SQLite puts a temporary file on Unix: the first usable of $SQLITE_TMPDIR, $TMPDIR,
    /var/tmp, /usr/tmp, /tmp and the working directory (os_unix.c, unixTempFileDir)."""
    candidates = [os.environ.get("SQLITE_TMPDIR"), os.environ.get("TMPDIR"), "/var/tmp", "/usr/tmp", "/tmp", "."]
    for candidate in candidates:
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return Path(candidate)
    return Path(".")


def _leave_wal(db: sqlite3.Connection) -> bool:
    """Switch to a rollback journal, which only a connection alone on the file can do (SQLite
    either refuses at once or leaves the mode as it was)."""
    wait = int(db.execute("PRAGMA busy_timeout").fetchone()[0])
    db.execute("PRAGMA busy_timeout=0")  # (waiting would not make the other connections close)
    try:
        return db.execute("PRAGMA journal_mode=DELETE").fetchone()[0] != "wal"
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise
        return False
    finally:
        db.execute(f"PRAGMA busy_timeout={wait}")


def _sqlite_size(db: sqlite3.Connection) -> tuple[int, int]:
    page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
    return page_size, page_size * int(db.execute("PRAGMA page_count").fetchone()[0])


def _vacuum_postgres(engine: Engine, tables: list[str], full: bool, lock_wait: float) -> VacuumResult:
    done, skipped = [], []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # (VACUUM: no transaction)
        size = text("SELECT pg_total_relation_size(CAST(:t AS regclass))")
        before = sum(int(conn.execute(size, {"t": table}).scalar() or 0) for table in tables)
        if full:
            conn.execute(text(f"SET lock_timeout = '{int(lock_wait * 1000)}ms'"))
        for table in tables:
            quoted = conn.dialect.identifier_preparer.quote(table)
            try:
                conn.execute(text(f"VACUUM ({'FULL, ' if full else ''}ANALYZE) {quoted}"))
                done.append(table)
            except OperationalError as exc:
                if "lock timeout" not in str(exc):
                    raise
                skipped.append(table)
        if full:
            conn.execute(text("RESET lock_timeout"))
        after = sum(int(conn.execute(size, {"t": table}).scalar() or 0) for table in tables)
    return VacuumResult(before, after, tables=done, skipped=skipped)
