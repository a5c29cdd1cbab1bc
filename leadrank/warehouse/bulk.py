"""Bulk writes of DataFrames inside the caller's transaction: COPY on PostgreSQL, one batched
executemany on SQLite, or for large frames an INSERT ... SELECT from a side database ADBC wrote.
They run on the same connection as the rest of a publish, so they commit or roll back with it.

Per-row Python work is what makes a million-row load slow, so there is none: on PostgreSQL the
COPY stream is CSV written by pyarrow in C++ (strings quoted, NULL as an unquoted empty field,
so an empty string and a NULL stay apart); on SQLite the rows are tuples zipped from whole
column lists (SQLite stores a NaN float as NULL by itself).
"""

from __future__ import annotations

import io
import itertools
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Connection, text

from leadrank.contracts import is_arrow_text
from leadrank.memory import paused_gc

BATCH_ROWS = 25_000  # rows turned into Python values (SQLite) or CSV (COPY) at a time: 100,000 cost 140 MB more at peak, no faster
_CSV = pa_csv.WriteOptions(include_header=False, batch_size=8192)


def quote(name: str) -> str:
    """A SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def _plain_column(values: pd.Series) -> pd.Series:
    """A column whose values every driver binds: datetimes as ISO text, missing values as None
    (NaN floats may stay: both databases read them as NULL through these paths)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.map(lambda v: v.isoformat() if pd.notna(v) else None).astype(object)
    if pd.api.types.is_float_dtype(values.dtype) and isinstance(values.dtype, np.dtype):
        return values
    if pd.api.types.is_bool_dtype(values.dtype) and isinstance(values.dtype, np.dtype):
        return values
    if pd.api.types.is_integer_dtype(values.dtype) and isinstance(values.dtype, np.dtype):
        return values
    missing = values.isna()
    out = values.astype(object)
    if missing.any():
        out = out.where(~missing, None)
    return out


def _arrow_column(values: pd.Series) -> pa.Array:
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in an object column: send text
        plain = _plain_column(values)
        return pa.array([None if v is None else str(v) for v in plain], type=pa.string())


def csv_chunks(frame: pd.DataFrame) -> Iterator[bytes]:
    """The frame as CSV for COPY ... (FORMAT csv), in batches."""
    for chunk in _slices(frame, BATCH_ROWS):
        table = pa.Table.from_arrays([_arrow_column(chunk[c]) for c in chunk.columns], names=list(chunk.columns))
        buffer = io.BytesIO()
        pa_csv.write_csv(table, buffer, _CSV)
        yield buffer.getvalue()


def _python_values(values: pd.Series) -> list[object]:
    """A column as a list of values every driver binds: Arrow text straight to Python strings
    and None (one pass in C++: 2.5 times as fast as through an object column and a `where`)."""
    if is_arrow_text(values):
        return pa.array(values, from_pandas=True).to_pylist()
    return _plain_column(values).tolist()


def _slices(frame: pd.DataFrame, rows: int) -> Iterator[pd.DataFrame]:
    """The frame `rows` rows at a time (views, not copies)."""
    for start in range(0, len(frame), rows):
        yield frame.iloc[start : start + rows]


def row_tuples(frame: pd.DataFrame) -> Iterator[tuple[object, ...]]:
    """The frame's rows as tuples of plain Python values, batch by batch."""
    for chunk in _slices(frame, BATCH_ROWS):
        yield from zip(*[_python_values(chunk[c]) for c in chunk.columns], strict=True)


def copy_into(conn: Connection, table: str, frame: pd.DataFrame) -> None:
    """COPY the frame into `table` (PostgreSQL)."""
    columns = ", ".join(quote(c) for c in frame.columns)
    with conn.connection.driver_connection.cursor() as cursor, \
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        for chunk in csv_chunks(frame):
            copy.write(chunk)


def insert_frame(
    conn: Connection,
    table: str,
    frame: pd.DataFrame,
    *,
    conflict: list[str] | None = None,
    update: list[str] | None = None,
    sets: dict[str, str] | None = None,
) -> int:
    """Insert `frame` (its columns are the table's) into `table`.

    With `conflict` (the key columns), rows whose key exists update the `update` columns
    (all non-key columns when omitted) instead of failing; `sets` gives SQL expressions for
    the update instead (column -> expression over `excluded.col` and `table.col`).
    """
    if frame.empty:
        return 0
    columns = list(frame.columns)
    upsert = ""
    if conflict:
        if sets is None:
            targets = update if update is not None else [c for c in columns if c not in conflict]
            sets = {c: f"excluded.{quote(c)}" for c in targets}
        assignments = ", ".join(f"{quote(c)} = {expression}" for c, expression in sets.items())
        upsert = f" ON CONFLICT ({', '.join(map(quote, conflict))}) " + (
            f"DO UPDATE SET {assignments}" if assignments else "DO NOTHING")
    large = len(frame) >= INDEX_AFTER_ROWS
    empty = bool(conflict or large) and _is_empty(conn, table)
    if empty:
        conflict, upsert = None, ""  # an empty table (a first load) has nothing to conflict with
    with _indexes_built_after(conn, table) if empty and large else nullcontext():
        if conn.dialect.name == "postgresql":
            _copy_or_upsert(conn, table, frame, upsert)
        elif not (len(frame) >= SIDE_LOAD_ROWS and _through_side_database(conn, table, _slices(frame, SIDE_SLICE_ROWS), upsert)):
            _insert_rows(conn, table, frame, upsert)
    return len(frame)


def insert_batches(conn: Connection, table: str, batches: Iterable[pd.DataFrame]) -> int:
    """Insert a stream of frames (the same columns, the table's) into `table`, never holding
    more than one: staging's extraction files, batch by batch. On SQLite they all go through one
    side database (`_through_side_database`): 1.4M staged records in batches of 25,000 took 15.7 s
    of executemany. Returns how many rows were inserted."""
    counted = _Counted(batches)
    if conn.dialect.name == "postgresql" or not _through_side_database(conn, table, counted, ""):
        for batch in counted:
            insert_frame(conn, table, batch)
    return counted.rows


class _Counted:
    """The frames of a stream, counting their rows as they pass."""

    def __init__(self, frames: Iterable[pd.DataFrame]) -> None:
        self.frames, self.rows = iter(frames), 0

    def __iter__(self) -> Iterator[pd.DataFrame]:
        for frame in self.frames:
            self.rows += len(frame)
            yield frame


def _insert_rows(conn: Connection, table: str, frame: pd.DataFrame, upsert: str) -> None:
    """SQLite: the frame's rows bound one by one (executemany)."""
    if frame.empty:
        return
    col_sql = ", ".join(quote(c) for c in frame.columns)
    placeholders = ", ".join("?" for _ in frame.columns)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.executemany(f"INSERT INTO {table} ({col_sql}) VALUES ({placeholders}){upsert}", row_tuples(frame))
    finally:
        cursor.close()


def _copy_or_upsert(conn: Connection, table: str, frame: pd.DataFrame, upsert: str) -> None:
    """PostgreSQL: COPY the frame into `table`, or (with an `upsert` clause) into a temporary
    table first and from there with INSERT ... ON CONFLICT."""
    if not upsert:
        copy_into(conn, table, frame)
        return
    col_sql = ", ".join(quote(c) for c in frame.columns)
    staging = f"_bulk_{table}"
    conn.exec_driver_sql(f"CREATE TEMP TABLE {staging} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
    copy_into(conn, staging, frame)
    conn.exec_driver_sql(f"INSERT INTO {table} ({col_sql}) SELECT {col_sql} FROM {staging}{upsert}")
    conn.exec_driver_sql(f"DROP TABLE {staging}")


# From this many rows a load into SQLite goes through a side database (`_through_side_database`),
# SIDE_SLICE_ROWS of them made Arrow at a time (the whole frame at once cost the load step
# ~150 MB at 1.4M records).
SIDE_LOAD_ROWS = 50_000
SIDE_SLICE_ROWS = 200_000
SIDE_SCHEMA = "_bulk_side_"  # (attached as _bulk_side_0, _bulk_side_1, ...)
# A side database is a scratch file read once and removed: it needs no journal and no sync to
# disk, and with SQLite's largest pages there are fewer of them to encode and to read back.
# 1M rows of 32 text columns took 2.9 s to write with the defaults, 2.1 s with these.
SIDE_PRAGMAS = ("PRAGMA page_size=65536", "PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF")
_side_ids = itertools.count()


def _through_side_database(conn: Connection, table: str, frames: Iterable[pd.DataFrame], upsert: str) -> bool:
    """SQLite: the frames written by ADBC (Arrow's database driver, which binds whole columns in
    C) into a side database file in the temporary directory, attached to the connection, and
    copied into `table` with one INSERT ... SELECT in the caller's transaction; the file is
    removed at once (the attached copy lives until it is detached, at a later load or when the
    connection closes). Why: executemany turns every cell into a Python value and binds it one
    by one; 1.4M records of 46 columns took 20.9 s that way against 10.5 s through a side
    database (bench/README.md, issue 19's tenth round).

    False, with nothing read from `frames`, when no side database can be made or attached
    (SQLite's limit is 10, and a database read in an open transaction stays attached until it
    ends): the caller inserts the rows itself. A frame ADBC cannot write (the temporary
    directory is full) and the frames after it go in row by row, after the ones written."""
    from adbc_driver_sqlite import dbapi as adbc

    raw = conn.connection.driver_connection
    _detach_spent(raw)
    try:
        handle, path = tempfile.mkstemp(prefix="leadrank-bulk-", suffix=".db")
    except OSError:  # no temporary directory to write to
        return False
    os.close(handle)
    schema = f"{SIDE_SCHEMA}{next(_side_ids)}"
    try:
        try:  # attached empty: SQLite reads its schema again once ADBC has written it
            raw.execute(f"ATTACH DATABASE ? AS {schema}", (path,))
        except sqlite3.OperationalError:
            return False
        frames, written, pending = iter(frames), None, None
        try:  # autocommit: each frame written stays written whatever happens to the next
            with adbc.connect(path, autocommit=True) as side, side.cursor() as cursor:
                for pragma in SIDE_PRAGMAS:
                    cursor.execute(pragma)
                for pending in frames:
                    cursor.adbc_ingest("frame", _arrow_table(pending), mode="create_append")
                    written, pending = list(pending.columns), None
        except adbc.Error:  # e.g. the temporary directory is full
            pass
        refused = [] if pending is None else [pending]
        if written:
            columns = ", ".join(quote(c) for c in written)
            # WHERE true: SQLite's grammar needs it before an upsert clause after a SELECT.
            raw.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {schema}.frame WHERE true{upsert}")
        for frame in itertools.chain(refused, frames):
            _insert_rows(conn, table, frame, upsert)
    finally:
        os.unlink(path)
    return True


def _detach_spent(raw: Any) -> None:
    """Detach the side databases of earlier loads that no open transaction reads any more."""
    for _, name, _ in raw.execute("PRAGMA database_list").fetchall():
        if name.startswith(SIDE_SCHEMA):
            with suppress(sqlite3.OperationalError):  # read in the open transaction: detached later
                raw.execute(f"DETACH DATABASE {name}")


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    """The frame as Arrow columns SQLite stores as executemany would: datetimes as ISO text,
    booleans as 0/1, missing values and NaN as NULL, mixed object columns as text."""
    arrays = []
    for name in frame.columns:
        values = frame[name]
        array = _arrow_column(_plain_column(values) if pd.api.types.is_datetime64_any_dtype(values) else values)
        arrays.append(array.dictionary_decode() if pa.types.is_dictionary(array.type) else array)
    return pa.Table.from_arrays(arrays, names=[str(name) for name in frame.columns])


# From this many rows a load into an empty table builds the table's own indexes once, after the
# rows: kept up row by row they cost more. Night 1's load step at 1.4M records: 80.7 -> 68.4 s on
# SQLite; COPY of the records on PostgreSQL 17.5-18.5 -> 10.3-12.9 s (bench/README.md, issue 19's
# ninth round). Smaller loads (a night's events into a table still empty) keep them.
INDEX_AFTER_ROWS = 50_000


def _is_empty(conn: Connection, table: str) -> bool:
    return conn.exec_driver_sql(f"SELECT 1 FROM {quote(table)} LIMIT 1").first() is None


@contextmanager
def _indexes_built_after(conn: Connection, table: str) -> Iterator[None]:
    """Around a large load into the empty `table`: its own indexes (not those of its primary key
    or UNIQUE constraints) are dropped before and created again after, in the caller's
    transaction, so a failed load rolls them back with its rows. On SQLite (WAL) readers see the
    table as it was until the commit; on PostgreSQL the dropped index locks the table (empty: a
    first load) until the commit."""
    indexes = _own_indexes(conn, table)
    for name, _ in indexes:
        conn.exec_driver_sql(f"DROP INDEX {name}")
    yield
    for _, ddl in indexes:
        conn.exec_driver_sql(ddl)


def _own_indexes(conn: Connection, table: str) -> list[tuple[str, str]]:
    """(quoted name, CREATE statement) of the table's own indexes."""
    if conn.dialect.name == "postgresql":
        return [(row[0], row[1]) for row in conn.execute(text(
            "SELECT CAST(CAST(x.indexrelid AS regclass) AS text), pg_get_indexdef(x.indexrelid) FROM pg_index x "
            "WHERE x.indrelid = CAST(:t AS regclass) AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"), {"t": table}).all()]
    return [(quote(row[0]), row[1]) for row in conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (table,)).all()]


@contextmanager
def _raw_cursor(conn: Connection, sql: str, params: tuple[object, ...]) -> Iterator[Any]:
    """The driver's own cursor on `conn`, `sql` executed (`?` placeholders, as either driver
    takes them), closed afterwards."""
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(sql.replace("?", "%s" if conn.dialect.name == "postgresql" else "?"), params)
        yield cursor
    finally:
        cursor.close()


FETCH_ROWS = 100_000  # rows fetched into Python at a time by `fetch_arrow` (SQLite)


def fetch_arrow(conn: Connection, sql: str, types: list[pa.DataType], params: tuple[object, ...] = ()
                ) -> list[pa.Array]:
    """The columns of a query's rows (`?` placeholders) as Arrow arrays of `types`: the warehouse
    reads of a million rows (the load's stored keys and fingerprints, the previous run's scores,
    the stored records' leads).

    - PostgreSQL: COPY (query) TO STDOUT as CSV on the connection itself (in its transaction),
      parsed by Arrow in C++, without a Python value per cell.
    - SQLite: the driver's cursor, FETCH_ROWS rows at a time, each batch made Arrow and let go
      before the next, so that a million rows' Python strings never exist at once (fetched
      whole, 1.4M records' keys, leads and runs cost ~0.56 GB resident, 0.34 GB of it staying
      once let go). Reading the file through ADBC instead was five times as fast but is unsafe:
      a second SQLite library in the process that closes the file drops the POSIX locks of
      Python's connections to it (a load killed midway left a malformed database)."""
    if conn.dialect.name == "postgresql":
        return _copied_out(conn, sql, types, params)
    parts: list[list[pa.Array]] = [[] for _ in types]
    with _raw_cursor(conn, sql, params) as cursor, paused_gc():
        while rows := cursor.fetchmany(FETCH_ROWS):
            for part, kind, values in zip(parts, types, zip(*rows, strict=True), strict=True):
                part.append(pa.array(values, type=kind))
            del rows
    return [pa.concat_arrays(part) if part else pa.array([], type=kind) for part, kind in zip(parts, types, strict=True)]


def _copied_out(conn: Connection, sql: str, types: list[pa.DataType], params: tuple[object, ...]) -> list[pa.Array]:
    """PostgreSQL: the query's rows through COPY ... TO STDOUT (FORMAT csv), read by Arrow's CSV
    reader: NULL is an unquoted empty field and an empty string a quoted one, booleans t / f."""
    buffer = io.BytesIO()
    with conn.connection.driver_connection.cursor() as cursor, \
            cursor.copy(f"COPY ({sql.replace('?', '%s')}) TO STDOUT (FORMAT csv)", params or None) as copy:
        for block in copy:
            buffer.write(block)
    if not buffer.tell():
        return [pa.array([], type=kind) for kind in types]
    names = [f"c{i}" for i in range(len(types))]
    buffer.seek(0)
    table = pa_csv.read_csv(
        buffer,
        read_options=pa_csv.ReadOptions(column_names=names),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict(zip(names, types, strict=True)), null_values=[""], strings_can_be_null=True,
            quoted_strings_can_be_null=False, true_values=["t"], false_values=["f"]))
    return [table.column(name).combine_chunks() for name in names]


def temp_table(conn: Connection, name: str, frame: pd.DataFrame, types: dict[str, str]) -> None:
    """A temporary table `name` (dropped at commit on PostgreSQL, replaced if it exists) holding
    the frame, for set-based UPDATEs and joins instead of row-by-row statements."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    ddl = ", ".join(f"{quote(c)} {types[c]}" for c in frame.columns)
    suffix = " ON COMMIT DROP" if conn.dialect.name == "postgresql" else ""
    conn.exec_driver_sql(f"CREATE TEMP TABLE {name} ({ddl}){suffix}")
    insert_frame(conn, name, frame)
