"""Bulk writes of DataFrames inside the caller's transaction: COPY on PostgreSQL, one batched
executemany on SQLite. These are the fastest paths each database offers, and they run on the
same connection as the rest of a publish, so they commit or roll back with it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from sqlalchemy import Connection

BATCH_ROWS = 50_000


def _rows(frame: pd.DataFrame) -> Iterator[tuple[object, ...]]:
    """Rows as tuples of plain Python values, NaN/NA as None."""
    for start in range(0, len(frame), BATCH_ROWS):
        chunk = frame.iloc[start : start + BATCH_ROWS].astype(object)
        chunk = chunk.where(chunk.notna(), None)
        yield from chunk.itertuples(index=False, name=None)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def insert_frame(
    conn: Connection,
    table: str,
    frame: pd.DataFrame,
    *,
    conflict: list[str] | None = None,
    update: list[str] | None = None,
) -> int:
    """Insert `frame` (its columns are the table's) into `table`.

    With `conflict` (the key columns), rows whose key exists update the `update` columns
    (all non-key columns when omitted) instead of failing.
    """
    if frame.empty:
        return 0
    columns = list(frame.columns)
    col_sql = ", ".join(_quote(c) for c in columns)
    upsert = ""
    if conflict:
        targets = update if update is not None else [c for c in columns if c not in conflict]
        sets = ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in targets)
        upsert = f" ON CONFLICT ({', '.join(map(_quote, conflict))}) " + (f"DO UPDATE SET {sets}" if sets else "DO NOTHING")
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        target = table
        with raw.cursor() as cursor:
            if conflict:
                target = f"_bulk_{table}"
                cursor.execute(f"CREATE TEMP TABLE {target} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
            with cursor.copy(f"COPY {target} ({col_sql}) FROM STDIN") as copy:
                for row in _rows(frame):
                    copy.write_row(row)
            if conflict:
                cursor.execute(f"INSERT INTO {table} ({col_sql}) SELECT {col_sql} FROM {target}{upsert}")
                cursor.execute(f"DROP TABLE {target}")
        return len(frame)
    placeholders = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table} ({col_sql}) VALUES ({placeholders}){upsert}"
    cursor = raw.cursor()
    try:
        cursor.executemany(sql, _rows(frame))
    finally:
        cursor.close()
    return len(frame)


def to_python(value: object) -> object:
    """A numpy scalar as the plain Python value drivers accept."""
    if isinstance(value, np.generic):
        return value.item()
    return value
