"""Scratch PostgreSQL databases for the benchmarks: created empty on the server of a URL the
user gives (its own database is never touched) and dropped afterwards."""

from __future__ import annotations

from sqlalchemy import create_engine, make_url, text


def create_database(server_url: str, name: str) -> str:
    """A fresh, empty database `name` on the server of `server_url` (dropped first if it is
    left over from an interrupted run); returns its URL."""
    drop_database(server_url, name)
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
