"""The warehouse on SQLite and PostgreSQL: migrations, atomic publishing, idempotence."""

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from leadrank.warehouse import load
from leadrank.warehouse.engine import display_url, make_engine
from leadrank.warehouse.migrate import applied, available, upgrade
from leadrank.warehouse.read import ranked_leads
from tests.helpers import demo_records, run_pipeline

TABLE_KEYS = {
    "leads": ["lead_id"], "lead_records": ["record_key"], "lead_scores": ["run_id", "lead_id"],
    "stg_prospects": ["run_id", "record_key"], "outcomes": ["outcome_id"], "pipeline_runs": ["run_id"],
}


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in
                ["leads", "lead_records", "lead_events", "outcomes"]}


def test_migrations_apply_once(warehouse_url):
    engine = make_engine(warehouse_url)
    versions = [m.version for m in available(engine.dialect.name)]
    assert versions[:2] == ["0001", "0002"]
    assert upgrade(engine) == versions
    assert upgrade(engine) == []
    assert set(applied(engine)) == set(versions)


def test_publish_idempotent_and_one_row_per_company(warehouse_url, demo_config):
    truth = demo_records()["truth"].nunique()
    first = run_pipeline(str(demo_config), warehouse_url)
    engine = make_engine(warehouse_url)
    ranked_1 = ranked_leads(engine)
    assert len(ranked_1) == truth and ranked_1["lead_id"].is_unique
    assert list(ranked_1["rank"]) == list(range(1, truth + 1))
    assert first["leads"]["new"] == truth
    before = counts(engine)

    second = run_pipeline(str(demo_config), warehouse_url)
    ranked_2 = ranked_leads(engine)
    assert second["leads"] == {"new": 0, "updated": 0, "unchanged": truth, "merged": 0, "dropped": 0}
    assert counts(engine) == before
    same = ["lead_id", "rank", "tier", "priority", "company_name"]
    pd.testing.assert_frame_equal(ranked_1[same], ranked_2[same])
    assert set(ranked_2["movement"]) == {"unchanged"}
    with engine.connect() as conn:
        for table, key in TABLE_KEYS.items():
            dupes = conn.execute(text(f"SELECT COUNT(*) FROM (SELECT {', '.join(key)} FROM {table} "
                                      f"GROUP BY {', '.join(key)} HAVING COUNT(*) > 1) d")).scalar()
            assert dupes == 0, table


def test_failed_publish_leaves_published_marts_unchanged(warehouse_url, demo_config, monkeypatch, demo_night):
    demo_night(str(demo_config), warehouse_url)
    engine = make_engine(warehouse_url)
    before = ranked_leads(engine)
    table_counts = counts(engine)

    def explode(*_args, **_kwargs):
        raise RuntimeError("disk full (simulated) after leads and records were written")

    monkeypatch.setattr(load, "_write_scores", explode)
    with pytest.raises(RuntimeError, match="simulated"):
        run_pipeline(str(demo_config), warehouse_url, run_id="20990101T000000Z-dead00")
    monkeypatch.undo()
    pd.testing.assert_frame_equal(ranked_leads(engine), before)
    assert counts(engine) == table_counts  # the half-done publish rolled back entirely

    after = run_pipeline(str(demo_config), warehouse_url)
    assert len(ranked_leads(engine)) == len(before)
    with engine.connect() as conn:
        status = dict(conn.execute(text("SELECT run_id, status FROM pipeline_runs")).all())
    assert status["20990101T000000Z-dead00"] == "running"  # never published
    assert status[after["run_id"]] == "published"


def test_unknown_outcomes_and_bad_financials_are_counted(warehouse_url, demo_config):
    result = run_pipeline(str(demo_config), warehouse_url)
    assert result["scoring"]["outcomes_rejected"] == 1  # the demo's unknown company
    assert result["scoring"]["financials_rejected"] == 1  # its 未披露 cell
    engine = make_engine(warehouse_url)
    with engine.connect() as conn:
        reasons = [r[0] for r in conn.execute(text("SELECT reason FROM stg_rejects")).all()]
    assert any("不存在科技有限公司" in r for r in reasons) and any("未披露" in r for r in reasons)


def test_display_url_hides_password():
    assert "s3cret" not in display_url("postgresql+psycopg://sales:s3cret@db.example.com/leads")


def test_bulk_insert_keeps_values_apart_on_both_dialects(warehouse_url):
    """Empty text is not NULL, NaN is NULL, and odd column types survive COPY and executemany."""
    from leadrank.warehouse.bulk import insert_frame

    engine = make_engine(warehouse_url)
    frame = pd.DataFrame({
        "k": ["a", "b", "c", "d"],
        "t": ["", None, 'x,"y"\nz', "=1+1"],
        "n": pd.array([1, None, 3, 4], dtype="Int64"),
        "f": [1.5, float("nan"), 2.0, -0.25],
        "b": [True, False, None, True],
        "mixed": [1, "two", 3.5, None],
        "at": pd.to_datetime(["2026-05-01T02:30:00Z", None, "2026-05-02T00:00:00Z", "2026-05-03T00:00:00Z"]),
    })
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE bulk_probe (k TEXT PRIMARY KEY, t TEXT, n INTEGER, f DOUBLE PRECISION, "
                             "b BOOLEAN, mixed TEXT, at TEXT)")
        insert_frame(conn, "bulk_probe", frame)
        insert_frame(conn, "bulk_probe", frame.assign(t="again"), conflict=["k"], update=["t"])
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT k, t, n, f, b, mixed, at FROM bulk_probe ORDER BY k")).all()
    assert [r[1] for r in rows] == ["again"] * 4
    assert [r[2] for r in rows] == [1, None, 3, 4]
    assert [r[3] for r in rows] == [1.5, None, 2.0, -0.25]
    assert [None if r[4] is None else bool(r[4]) for r in rows] == [True, False, None, True]
    assert [r[5] for r in rows] == ["1", "two", "3.5", None]
    assert rows[0][6].startswith("2026-05-01") and rows[1][6] is None
    for dtype in ("str", object):  # text as stage files hand it on (Arrow-backed) and as Python objects
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM bulk_probe")
            insert_frame(conn, "bulk_probe", frame[["k", "t"]].astype({"t": dtype}))
            texts = [r[0] for r in conn.execute(text("SELECT t FROM bulk_probe ORDER BY k")).all()]
        assert texts == ["", None, 'x,"y"\nz', "=1+1"]


def test_a_first_bulk_load_builds_the_indexes_after_the_rows_and_a_failed_one_keeps_them(warehouse_url, monkeypatch):
    from leadrank.warehouse import bulk
    from leadrank.warehouse.bulk import insert_frame

    monkeypatch.setattr(bulk, "INDEX_AFTER_ROWS", 100)
    dropped = []
    real_own = bulk._own_indexes
    monkeypatch.setattr(bulk, "_own_indexes", lambda conn, table: dropped.append(table) or real_own(conn, table))
    engine = make_engine(warehouse_url)
    keys = [f"k{n:03d}" for n in range(300)][::-1]
    frame = pd.DataFrame({"k": keys, "g": [n % 7 for n in range(300)], "t": ["x"] * 300})
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE index_probe (k TEXT PRIMARY KEY, g INTEGER NOT NULL, t TEXT)")
        conn.exec_driver_sql("CREATE INDEX ix_index_probe_g ON index_probe (g)")
    with pytest.raises(Exception, match="(?i)null"), engine.begin() as conn:
        insert_frame(conn, "index_probe", frame.assign(g=frame["g"].where(frame.index < 299)))
    with engine.begin() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM index_probe")).scalar() == 0
        insert_frame(conn, "index_probe", frame)
        insert_frame(conn, "index_probe", frame.assign(t="y").head(5), conflict=["k"])
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT k, g, t FROM index_probe ORDER BY k")).all()
        if conn.dialect.name == "sqlite":
            indexes = [r[0] for r in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'index_probe' AND sql IS NOT NULL")]
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN SELECT k FROM index_probe "
                                                                     "WHERE g = 3").all())
            assert indexes == ["ix_index_probe_g"] and "ix_index_probe_g" in plan
        else:
            assert conn.execute(text("SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'ix_index_probe_g'")).scalar() == 1
    assert dropped == ["index_probe", "index_probe"]  # the failed load and the first one; not the upsert
    assert [r[0] for r in rows] == sorted(keys)
    assert dict((r[0], r[1]) for r in rows) == dict(zip(frame["k"], frame["g"], strict=True))
    assert [r[2] for r in rows] == ["x"] * 295 + ["y"] * 5  # (the frame's first five: the last keys)


def _side_probe_frame(n: int) -> pd.DataFrame:
    """Every kind of column a load hands over: text with NULL and '', numbers with NaN, nullable
    integers, booleans, datetimes, a mixed object column and a category."""
    frame = pd.DataFrame({
        "k": [f"k{i:05d}" for i in range(n)][::-1],
        "t": pd.Series(["维 text", None, "", "x"] * (n // 4), dtype=object),
        "a": pd.Series(["a", None, "b", "c"] * (n // 4), dtype="string[pyarrow]"),
        "f": [1.5, float("nan"), -2.0, 1e300] * (n // 4),
        "i": pd.array([7, None, -3, 2**62] * (n // 4), dtype="Int64"),
        "b": [True, False, True, False] * (n // 4),
        "d": pd.to_datetime(["2026-12-06 01:02:03", None, "2026-01-01 00:00:00", "1999-12-31 23:59:59"] * (n // 4)),
        "m": pd.Series([1, "two", 3.5, None] * (n // 4), dtype=object),
        "c": pd.Categorical(["p", "q", None, "p"] * (n // 4)),
    })
    return frame


def _side_loads(monkeypatch) -> list[bool]:
    """What each side-database load returned (whether it took the rows), in order."""
    from leadrank.warehouse import bulk

    sides: list[bool] = []
    real_side = bulk._through_side_database
    monkeypatch.setattr(bulk, "_through_side_database", lambda *a: sides.append(real := real_side(*a)) or real)
    return sides


def test_large_sqlite_loads_through_a_side_database_store_what_row_inserts_store(tmp_path, monkeypatch):
    """From SIDE_LOAD_ROWS rows a SQLite load is written by ADBC into a side database and copied in
    SQL: every column kind is stored as executemany stores it (value and storage class), an upsert
    updates, a failed load leaves neither rows nor files behind, and past SQLite's limit of
    attached databases in one transaction the rows are inserted one by one."""
    import glob
    import tempfile

    from leadrank.warehouse import bulk
    from leadrank.warehouse.bulk import insert_frame

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    sides = _side_loads(monkeypatch)
    frame = _side_probe_frame(400)
    ddl = "(k TEXT PRIMARY KEY, t TEXT, a TEXT, f REAL, i INTEGER, b BOOLEAN, d TEXT, m TEXT, c TEXT)"
    engine = make_engine(f"sqlite:///{tmp_path / 'side.db'}")
    with engine.begin() as conn:
        for table in ("by_rows", "by_side", "many"):
            conn.exec_driver_sql(f"CREATE TABLE {table} {ddl}")
    with engine.begin() as conn:
        insert_frame(conn, "by_rows", frame)
        monkeypatch.setattr(bulk, "SIDE_LOAD_ROWS", 100)
        monkeypatch.setattr(bulk, "SIDE_SLICE_ROWS", 150)  # made Arrow 150 rows at a time: three slices
        insert_frame(conn, "by_side", frame)
        insert_frame(conn, "by_side", frame.head(150).assign(t="new"), conflict=["k"], update=["t"])
    assert sides == [True, True]
    query = "SELECT k, t, typeof(t), a, f, typeof(f), i, typeof(i), b, typeof(b), d, m, typeof(m), c FROM {} ORDER BY k"
    with engine.connect() as conn:
        by_rows = conn.exec_driver_sql(query.format("by_rows")).all()
        by_side = conn.exec_driver_sql(query.format("by_side")).all()
    updated = set(frame["k"].head(150))
    assert [r for r in by_side if r[0] not in updated] == [r for r in by_rows if r[0] not in updated]
    assert [r[1:] for r in by_side if r[0] in updated] == [("new", "text", *r[3:]) for r in by_rows if r[0] in updated]
    assert by_rows[0][1:] == ("x", "text", "c", 1e300, "real", 2**62, "integer", 0, "integer", "1999-12-31T23:59:59",
                              None, "null", "p")  # k00000 is the frame's last row
    with pytest.raises(Exception, match="(?i)null"), engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE strict_probe (k TEXT PRIMARY KEY, t TEXT NOT NULL)")
        insert_frame(conn, "strict_probe", frame[["k", "t"]])
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM sqlite_master WHERE name = 'strict_probe'").scalar() == 0
    assert glob.glob(str(tmp_path / "leadrank-bulk-*")) == []
    sides.clear()
    with engine.begin() as conn:  # twelve side loads in one transaction: ten can be attached at most
        for part in range(12):
            insert_frame(conn, "many", frame.assign(k=frame["k"] + f"-{part}"))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*), COUNT(DISTINCT k) FROM many").one() == (4800, 4800)
    assert sides.count(True) == 10 and sides[10:] == [False, False]
    with engine.begin() as conn:  # the next load detaches what the committed transaction read
        insert_frame(conn, "many", frame.assign(k=frame["k"] + "-last"))
        attached = [r[1] for r in conn.exec_driver_sql("PRAGMA database_list").all()]
    assert sides[-1] is True and len([name for name in attached if name.startswith(bulk.SIDE_SCHEMA)]) == 1
    import adbc_driver_manager
    from adbc_driver_sqlite import dbapi as adbc

    def full_disk(*args, **kwargs):
        raise adbc_driver_manager.OperationalError("database or disk is full", status_code=adbc_driver_manager.AdbcStatusCode.IO)

    monkeypatch.setattr(adbc, "connect", full_disk)
    with engine.begin() as conn:  # a side database that cannot be written: the rows go in one by one
        insert_frame(conn, "many", frame.assign(k=frame["k"] + "-full"))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM many WHERE k LIKE '%-full'").scalar() == 400
    assert glob.glob(str(tmp_path / "leadrank-bulk-*")) == []


def test_a_side_database_is_written_with_large_pages(tmp_path, monkeypatch):
    """The side database, a scratch file read once, is written with SQLite's largest pages
    (SIDE_PRAGMAS): fewer pages to encode and to read back than SQLite's default 4 KiB."""
    import glob
    import tempfile

    from leadrank.warehouse import bulk

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen = []
    real_table = bulk._arrow_table

    def arrow_table(frame):  # the second slice is made Arrow once the first is written
        seen.extend(Path(path).read_bytes()[16:18] for path in glob.glob(str(tmp_path / "leadrank-bulk-*")))
        return real_table(frame)

    monkeypatch.setattr(bulk, "_arrow_table", arrow_table)
    monkeypatch.setattr(bulk, "SIDE_LOAD_ROWS", 100)
    monkeypatch.setattr(bulk, "SIDE_SLICE_ROWS", 200)
    engine = make_engine(f"sqlite:///{tmp_path / 'pages.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
        bulk.insert_frame(conn, "t", pd.DataFrame({"k": [f"k{i}" for i in range(400)], "v": "x" * 50}))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM t").scalar() == 400
    assert seen == [b"", b"\x00\x01"]  # empty, then 65536 (stored as 1)


def test_a_stream_of_batches_is_inserted_whole_and_in_order(warehouse_url, tmp_path, monkeypatch):
    """insert_batches: on SQLite every batch through one side database, on PostgreSQL batch by
    batch; on SQLite a batch ADBC cannot write and the ones after it go in row by row, after
    the ones written, and nothing is lost or doubled."""
    import tempfile

    import adbc_driver_manager
    from adbc_driver_sqlite import dbapi as adbc

    from leadrank.warehouse.bulk import insert_batches

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    frame = _side_probe_frame(400)
    batches = [frame.iloc[start:start + 100] for start in range(0, 400, 100)]
    batches[1] = batches[1].assign(m=None)  # a column with no value in one batch (Arrow's null type)
    engine = make_engine(warehouse_url)
    ddl = "(k TEXT PRIMARY KEY, t TEXT, a TEXT, f DOUBLE PRECISION, i BIGINT, b BOOLEAN, d TEXT, m TEXT, c TEXT)"
    with engine.begin() as conn:
        for table in ("stream_probe", "stream_refused"):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
            conn.exec_driver_sql(f"CREATE TABLE {table} {ddl}")
    sides = _side_loads(monkeypatch)
    with engine.begin() as conn:
        assert insert_batches(conn, "stream_probe", iter(batches)) == 400
        assert insert_batches(conn, "stream_probe", iter([])) == 0
    sqlite = warehouse_url.startswith("sqlite")
    assert sides == ([True, True] if sqlite else [])
    if sqlite:  # the third batch cannot be written to the side database
        real_ingest, calls = adbc.Cursor.adbc_ingest, []

        def ingest(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                raise adbc.OperationalError("database or disk is full", status_code=adbc_driver_manager.AdbcStatusCode.IO)
            return real_ingest(self, *args, **kwargs)

        monkeypatch.setattr(adbc.Cursor, "adbc_ingest", ingest)
        with engine.begin() as conn:
            assert insert_batches(conn, "stream_refused", iter(batches)) == 400
        assert len(calls) == 3  # the fourth batch was not offered to the side database
    with engine.connect() as conn:
        for table in ("stream_probe", "stream_refused") if sqlite else ("stream_probe",):
            stored = conn.exec_driver_sql(f"SELECT k, t, f, i FROM {table} ORDER BY k").all()
            assert [r[0] for r in stored] == sorted(frame["k"]), table
            assert stored[0][1:] == ("x", 1e300, 2**62), table
            assert conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table} WHERE m IS NULL").scalar() == 100 + 75, table


def test_a_run_published_within_the_same_second_is_the_one_sales_see(warehouse_url, demo_config, monkeypatch):
    """Publication order, not run-id order, decides which run the marts show, even when two runs
    publish within one second and the later one's id sorts first."""
    from datetime import UTC, datetime

    from leadrank.warehouse import engine as engine_module

    frozen = datetime(2026, 11, 26, 3, 0, 0, tzinfo=UTC)
    ticks = iter(range(1, 1000))

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return frozen.replace(microsecond=next(ticks))  # every call later, all in one second

    monkeypatch.setattr(engine_module, "datetime", Clock)
    run_pipeline(str(demo_config), warehouse_url, run_id="20261126T030000Z-ffffff")
    run_pipeline(str(demo_config), warehouse_url, run_id="20261126T030000Z-000000")
    engine = make_engine(warehouse_url)
    assert set(ranked_leads(engine)["run_id"]) == {"20261126T030000Z-000000"}
    with engine.connect() as conn:
        tonight = conn.execute(text("SELECT SUM(records_tonight), SUM(records) FROM mart_source_yield")).one()
    assert tonight[0] == tonight[1] > 0  # every record was seen by the run the marts show


def test_resolution_looks_up_only_the_lead_ids_it_asks_about(warehouse_url, demo_config):
    """The dedupe step asks the warehouse which of the IDs it would mint were ever issued, and
    when the leads it merges were first seen, instead of reading every lead (merged and expired
    IDs stay issued)."""
    from leadrank.warehouse.read import issued_lead_ids, lead_first_seen

    engine = make_engine(warehouse_url)
    upgrade(engine)
    assert issued_lead_ids(engine, ["L000000000001"]) == set()  # an empty warehouse: nothing issued
    run_pipeline(str(demo_config), warehouse_url)
    stored = ranked_leads(engine)["lead_id"].tolist()[:3]
    with engine.begin() as conn:
        conn.execute(text("UPDATE leads SET status = 'merged', merged_into = :b WHERE lead_id = :a"),
                     {"a": stored[0], "b": stored[1]})
    assert issued_lead_ids(engine, [*stored, "LNOTISSUED000"]) == set(stored)
    assert issued_lead_ids(engine, []) == set()
    seen = lead_first_seen(engine, [stored[2], "LNOTISSUED000"])
    assert list(seen) == [stored[2]] and seen[stored[2]].startswith("20")


def test_staging_keeps_the_usual_small_page_cache(warehouse_url, monkeypatch):
    """Staging runs beside the night's largest steps: on SQLite its connection caches at most
    PAGE_CACHE_KIB (not a large write's WRITE_CACHE_KIB) while it stages and after; the rows are
    staged either way."""
    from leadrank.contracts import EXTRACTED
    from leadrank.warehouse.engine import PAGE_CACHE_KIB

    engine = make_engine(warehouse_url)
    upgrade(engine)
    load.start_run(engine, "r-stage")
    seen, real_insert = [], load.insert_batches

    def insert(conn, table, batches):
        if conn.dialect.name == "sqlite":
            seen.append((conn.exec_driver_sql("PRAGMA cache_size").scalar(), id(conn.connection.driver_connection)))
        return real_insert(conn, table, batches)

    monkeypatch.setattr(load, "insert_batches", insert)
    batch = pd.DataFrame({c: [None, None] for c in EXTRACTED}).astype(object)
    batch["run_id"], batch["record_key"] = "r-stage", ["k1", "k2"]
    batch["source"], batch["source_kind"], batch["company_name"] = "expo", "exhibition", ["甲公司", "Beta Ltd"]
    assert load.stage_run(engine, "r-stage", [batch.iloc[:1], batch.iloc[1:]], pd.DataFrame(), []) == 2
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM stg_prospects WHERE run_id = 'r-stage'")).scalar() == 2
        if conn.dialect.name == "sqlite":  # the staging connection, back in the pool
            assert seen == [(-PAGE_CACHE_KIB, id(conn.connection.driver_connection))]
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -PAGE_CACHE_KIB


def test_fetch_arrow_reads_postgresql_through_copy(warehouse_url, monkeypatch):
    """bulk.fetch_arrow on PostgreSQL: the rows come through COPY in the transaction itself (its
    own uncommitted rows too), none through the cursor; NULL, the empty string, text with commas,
    quotes and line breaks, big numbers and booleans come back as stored, parameters bound."""
    import pyarrow as pa

    from leadrank.warehouse import bulk

    engine = make_engine(warehouse_url)
    if engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    monkeypatch.setattr(bulk, "_raw_cursor", None)  # (called, it would fail the test)
    types = [pa.large_string(), pa.int64(), pa.bool_()]
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE _fetched (k TEXT, n BIGINT, flag BOOLEAN)")
        conn.exec_driver_sql("INSERT INTO _fetched VALUES ('a', 1, TRUE), ('', NULL, FALSE), (NULL, -7, NULL), "
                             "('x, \"y\"' || CHR(10) || 'z', 9223372036854775807, TRUE)")
        keys, numbers, flags = bulk.fetch_arrow(conn, "SELECT k, n, flag FROM _fetched ORDER BY COALESCE(n, 0)", types)
        assert [a.type for a in (keys, numbers, flags)] == types
        assert keys.to_pylist() == [None, "", "a", "x, \"y\"\nz"]
        assert numbers.to_pylist() == [-7, None, 1, 2**63 - 1]
        assert flags.to_pylist() == [None, False, True, True]
        some = bulk.fetch_arrow(conn, "SELECT k FROM _fetched WHERE n = ?", [pa.large_string()], (1,))
        assert some[0].to_pylist() == ["a"]
        none = bulk.fetch_arrow(conn, "SELECT k, n FROM _fetched WHERE n = ?", types[:2], (5,))
        assert [(len(a), a.type) for a in none] == [(0, pa.large_string()), (0, pa.int64())]


def test_fetch_arrow_gives_each_column_as_arrow_batch_after_batch(warehouse_url, monkeypatch):
    """bulk.fetch_arrow: a query's columns in row order as Arrow arrays of the given types, made
    a batch of rows at a time (here two rows: batches meet mid-column), nulls kept, no rows
    giving empty arrays; record_leads reads its keys and leads so, as Arrow-backed text, with
    each record's nights unlisted counted from the published runs, newest first."""
    import gc

    import pyarrow as pa

    from leadrank.warehouse import bulk, read

    monkeypatch.setattr(bulk, "FETCH_ROWS", 2)
    engine = make_engine(warehouse_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS _fetched")
        conn.exec_driver_sql("CREATE TABLE _fetched (k TEXT, n INTEGER)")
        conn.exec_driver_sql("INSERT INTO _fetched VALUES ('a', 1), ('b', NULL), ('c', 3), ('d', NULL), ('e', 5)")
        keys, numbers = bulk.fetch_arrow(conn, "SELECT k, n FROM _fetched ORDER BY k", [pa.large_string(), pa.int64()])
        assert (keys.type, numbers.type) == (pa.large_string(), pa.int64())
        assert (keys.to_pylist(), numbers.to_pylist()) == (list("abcde"), [1, None, 3, None, 5])
        empty = bulk.fetch_arrow(conn, "SELECT k FROM _fetched WHERE k = ?", [pa.large_string()], ("z",))
        assert [(len(a), a.type) for a in empty] == [(0, pa.large_string())]
        conn.exec_driver_sql("DROP TABLE _fetched")
    assert gc.isenabled()

    upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO pipeline_runs (run_id, status, started_at, published_at) VALUES "
                             "('r1', 'published', '2026-01-01', '2026-01-01'), "
                             "('r2', 'published', '2026-01-02', '2026-01-02'), "
                             "('r3', 'failed', '2026-01-03', NULL)")
        for key, listed, last in [("k1", True, "r2"), ("k2", False, "r2"), ("k3", False, "r1"), ("k4", False, "r3"),
                                  ("k5", False, "r0")]:
            conn.execute(text("INSERT INTO lead_records (record_key, lead_id, source, source_kind, first_seen_run, "
                              "last_seen_run, listed) VALUES (:k, :lead, 'expo', 'exhibition', 'r1', :last, :listed)"),
                         {"k": key, "lead": f"L{key}", "listed": listed, "last": last})
    leads = read.record_leads(engine).sort_values("record_key", ignore_index=True)
    assert [str(leads[c].dtype) for c in ("record_key", "lead_id")] == ["str", "str"]
    assert leads["lead_id"].tolist() == ["Lk1", "Lk2", "Lk3", "Lk4", "Lk5"]
    # listed: 0; last seen in the newest published run: 0 nights gone by since, the one before: 1;
    # a run that was not published or is not stored: every published run
    assert leads["nights_unlisted"].tolist() == [0, 0, 1, 2, 2]


def test_large_staging_runs_in_a_worker_process_and_its_errors_reach_the_step(warehouse_url, demo_config, monkeypatch):
    """From STAGE_APART_FROM_ROWS records staging runs in a process of its own (here: this
    process's stage_run is broken, and the rows are staged all the same); a worker that cannot
    start leaves it to this process; an error of the staging itself is raised by the step."""
    import joblib.externals.loky as loky

    from leadrank import pipeline
    from leadrank.run_files import RunFiles

    started = pipeline.begin(str(demo_config), "r-apart", warehouse_url)
    for source in started["sources"]:
        pipeline.extract_step("r-apart", source)
    records = RunFiles("r-apart").extracted_rows(started["sources"])
    assert records > 0
    monkeypatch.setattr(pipeline, "STAGE_APART_FROM_ROWS", 1)
    real_stage_run = load.stage_run

    def broken(*args, **kwargs):
        raise AssertionError("staged in the step's own process")

    monkeypatch.setattr(load, "stage_run", broken)
    assert pipeline.stage_step("r-apart", started["sources"], warehouse_url)["records"] == records
    with make_engine(warehouse_url).connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM stg_prospects WHERE run_id = 'r-apart'")).scalar() == records

    class NoProcesses:
        def __init__(self, *args, **kwargs):
            raise OSError("no processes here")

    real_pool = loky.ProcessPoolExecutor
    monkeypatch.setattr(load, "stage_run", real_stage_run)
    monkeypatch.setattr(loky, "ProcessPoolExecutor", NoProcesses)
    assert pipeline.stage_step("r-apart", started["sources"], warehouse_url)["records"] == records
    monkeypatch.setattr(loky, "ProcessPoolExecutor", real_pool)
    report = RunFiles("r-apart").report(started["sources"][0])
    report.write_text("not json", encoding="utf-8")  # read by the worker
    with pytest.raises(ValueError):
        pipeline.stage_step("r-apart", started["sources"], warehouse_url)


def test_a_new_sqlite_warehouse_has_large_pages_and_an_existing_one_keeps_its_own(tmp_path):
    """A new SQLite warehouse is made with PAGE_BYTES pages (a night's millions of rows: fewer
    pages to split, log and check-point); a warehouse made with SQLite's default 4 KiB pages is
    opened, migrated and written as it is."""
    import sqlite3

    from leadrank.warehouse.engine import PAGE_BYTES

    new = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    upgrade(new)
    old_path = tmp_path / "old.db"
    sqlite3.connect(old_path).execute("CREATE TABLE made_before (x INTEGER)").connection.close()
    old = make_engine(f"sqlite:///{old_path}")
    upgrade(old)
    load.start_run(old, "r-old")
    for engine, size in ((new, PAGE_BYTES), (old, 4096)):
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == size
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert PAGE_BYTES > 4096
    with old.connect() as conn:
        assert conn.execute(text("SELECT status FROM pipeline_runs WHERE run_id = 'r-old'")).scalar() == "running"
