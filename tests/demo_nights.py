"""A published demo night as a test's starting point, run once and copied.

Dozens of warehouse tests begin with one published night of the bundled demo sources and test
what comes after it (exports, reports, marts, retention, a second night). Each ran that night
itself: ~1.2-1.5 s a test and database. `DemoNights.publish` runs it for real once per xdist
worker, config and database kind, into a warehouse and data directory of its own that no test
touches, and copies both into each test's: SQLite's file by SQLite's backup API, PostgreSQL's
database as a template (CREATE DATABASE ... TEMPLATE), the data directory (run files, caches) as
files. The copies hold the same run: one run ID and publication time for all of them.

A test whose subject is the first night itself (what it publishes, how long it takes, what it
logs, a fault injected into it) runs `run_pipeline` as before."""

from __future__ import annotations

import copy
import os
import secrets
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.helpers import run_pipeline


class DemoNights:
    def __init__(self, root: Path, pg_admin_url: str | None) -> None:
        self._root, self._pg_admin_url = root, pg_admin_url
        self._kept: dict[tuple[str, str], tuple[str, Path, dict[str, Any]]] = {}  # -> warehouse, data, result
        self._templates: list[str] = []
        self._admin_engine = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT") if pg_admin_url else None

    def publish(self, config: str, warehouse: str) -> dict[str, Any]:
        """`run_pipeline(config, warehouse)` on an empty `warehouse` and the test's data directory
        ($LEADRANK_DATA_DIR): the night's warehouse and files, and what run_pipeline returned."""
        kind = make_url(warehouse).get_backend_name()
        if (config, kind) not in self._kept:
            self._kept[config, kind] = self._run(config, kind)
        kept, data, result = self._kept[config, kind]
        if kind == "sqlite":
            _sqlite_copy(make_url(kept).database, make_url(warehouse).database)
        else:
            self._pg_copy(kept, warehouse)
        shutil.copytree(data, os.environ["LEADRANK_DATA_DIR"], dirs_exist_ok=True)
        return copy.deepcopy(result)

    def _run(self, config: str, kind: str) -> tuple[str, Path, dict[str, Any]]:
        where = self._root / f"night-{len(self._kept)}"
        data = where / "data"
        if kind == "sqlite":
            warehouse = f"sqlite:///{where / 'warehouse.db'}"
        else:
            assert self._pg_admin_url, "a PostgreSQL warehouse without LEADRANK_TEST_PG_URL"
            name = f"leadrank_demo_night_{secrets.token_hex(4)}"
            self._admin(f'CREATE DATABASE "{name}"')
            self._templates.append(name)
            warehouse = make_url(self._pg_admin_url).set(database=name).render_as_string(hide_password=False)
        before = os.environ["LEADRANK_DATA_DIR"]
        os.environ["LEADRANK_DATA_DIR"] = str(data)
        try:
            result = run_pipeline(config, warehouse)
        finally:
            os.environ["LEADRANK_DATA_DIR"] = before
        if kind == "postgresql":
            # A template must have no session: the night's own pooled connections are ended, and
            # no new one is let in (as template0), autovacuum's included, which would make a copy
            # fail with "being accessed by other users".
            self._admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name "
                        "AND pid <> pg_backend_pid()", name=name)
            self._admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        return warehouse, data, result

    def _pg_copy(self, kept: str, warehouse: str) -> None:
        """The test's database (created empty by the warehouse_url fixture; a session a test
        opened on it is ended) made again from the kept night's."""
        template, name = make_url(kept).database, make_url(warehouse).database
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

    def _admin(self, sql: str, **params: object) -> None:
        with self._admin_engine.connect() as conn:
            conn.execute(text(sql), params)

    def close(self) -> None:
        for name in self._templates:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if self._admin_engine is not None:
            self._admin_engine.dispose()


def _sqlite_copy(source: str, target: str) -> None:
    """The SQLite warehouse at `source` (in WAL mode, its log included) copied into `target`'s
    file, page by page under SQLite's locks: a connection already open on `target` sees the copy."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()
