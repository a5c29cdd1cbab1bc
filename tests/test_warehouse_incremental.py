"""Incremental publishing (migration 0080), on SQLite and PostgreSQL: a night writes only the
leads, records and score versions that changed, its marts are those of writing everything, and a
warehouse written by the old schema migrates with its marts unchanged."""

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Integer, inspect, text

from leadrank import night, pipeline
from leadrank.paths import DEMO_DIR
from leadrank.run_files import RunFiles
from leadrank.warehouse import load, migrate, read
from leadrank.warehouse.bulk import insert_frame
from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.sql_files import split_statements
from tests.helpers import marts, prepare_run, run_pipeline, same_marts

OLD_VIEWS = Path(__file__).parent / "fixtures" / "views_0070"  # leadrank/sql/views as they were before 0080
WRITTEN = ("leads", "lead_records", "score_versions", "lead_ranks")


class Clock:
    """load.now, fixed: two warehouses publishing the same run stamp it alike."""

    def __init__(self) -> None:
        self.night = 1

    def __call__(self, *, precise: bool = False) -> str:
        return f"2026-12-0{self.night}T02:30:00" + (".000000" if precise else "") + "+00:00"


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fixed = Clock()
    monkeypatch.setattr(load, "now", fixed)
    return fixed


def demo_copy(tmp_path: Path) -> Path:
    """The demo's sources in a folder of their own (night 2 edits them); leads expire after one
    night unlisted, so that a company a source stops listing drops out at once."""
    demo = tmp_path / "demo"
    shutil.copytree(DEMO_DIR, demo)
    config = demo / "sources.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "\nlead_expiry_nights: 1\n", encoding="utf-8")
    return config


def change_sources(config: Path) -> None:
    """Night 2's sources: one company's phone changed, one no longer listed, one new one near the top
    (a bank: every rank below it moves)."""
    members = config.parent / "association" / "members.html"
    page = members.read_text(encoding="utf-8")
    page = page.replace("0755-35795659", "0755-35795650")
    page, removed = re.subn(r"<tr>\s*<td>13</td>.*?</tr>", "", page, flags=re.S)  # listed there only
    row = re.search(r"<tr>\s*<td>11</td>.*?</tr>", page, flags=re.S).group(0)
    newcomer = (row.replace("<td>11</td>", "<td>99</td>").replace("深圳市南山商业银行股份有限公司", "深圳市前海新兴银行股份有限公司")
                .replace("914403006HKGX6C90X", "91440300MA5FNEW01X").replace("nsbank-demo.com", "qhnewbank-demo.com")
                .replace("0755-35795650", "0755-86000001"))
    assert removed == 1 and newcomer != row
    members.write_text(page.replace(row, row + "\n" + newcomer), encoding="utf-8")


def publish(run_id: str, warehouse: str, sources: list[str], *, full: bool = False) -> dict:
    """Reconcile and publish a prepared run (the declared steps), writing everything with `full`."""
    tonight = night.Night(run_id, warehouse, tuple(sources), {"run_id": run_id})
    done = night.run_steps(tonight, "reconcile", "reconcile")
    return pipeline.publish_step(run_id, warehouse, {**tonight.summary, **done}, full=full)


def history(engine) -> pd.DataFrame:
    """Every run's scores, as the table lead_scores held them (now a view)."""
    with engine.connect() as conn:
        return pd.read_sql_query(text("SELECT * FROM lead_scores ORDER BY run_id, rank"), conn)


def versions_since(engine, run_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM score_versions WHERE since_run = :r"), {"r": run_id}).scalar()


def second_warehouse(warehouse_url: str, tmp_path: Path) -> str:
    """Another empty warehouse on the same server (a SQLite file, or a database beside the test's)."""
    if warehouse_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'second.db'}"
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    url = make_url(warehouse_url)
    name = f"{url.database}_b"
    with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return url.set(database=name).render_as_string(hide_password=False)


def drop_second(url: str) -> None:
    if not url.startswith("sqlite"):
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        make_engine(url).dispose()
        admin = make_url(url).set(database=make_url(url).database.removesuffix("_b"))
        with create_engine(admin, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))


@pytest.mark.parametrize("side", [False, True], ids=["rows", "side_database"])
def test_an_incremental_night_gives_the_marts_of_writing_everything(warehouse_url, tmp_path, clock, side, monkeypatch):
    """side_database (SQLite): the incremental warehouse loads every frame through a side
    database (bulk.SIDE_LOAD_ROWS = 1), the other one row by row, and the marts still agree."""
    from leadrank.warehouse import bulk

    if side and not warehouse_url.startswith("sqlite"):
        pytest.skip("the side database is SQLite's path")

    def publish_by(warehouse, *args, **kwargs):
        monkeypatch.setattr(bulk, "SIDE_LOAD_ROWS", 1 if side and warehouse == warehouse_url else 10**12)
        return publish(*args, **kwargs)

    config = demo_copy(tmp_path)
    other = second_warehouse(warehouse_url, tmp_path)
    try:
        first = prepare_run(str(config), warehouse_url)
        sources = first["source_names"]
        migrate.upgrade(make_engine(other))
        load.start_run(make_engine(other), first["run_id"])
        for warehouse in (warehouse_url, other):  # night 1, the same run files published into both
            publish_by(warehouse, first["run_id"], warehouse, sources)

        change_sources(config)
        clock.night = 2
        second = prepare_run(str(config), warehouse_url)  # resolved against the first warehouse's history
        load.start_run(make_engine(other), second["run_id"])
        rebuilt = RunFiles(second["run_id"]).read_stage("leads_rebuilt")  # the dedupe step's hand-off
        compared, contacts = [], load.other_contacts  # (called for the phones, then the emails, of the leads compared)
        monkeypatch.setattr(load, "other_contacts",
                            lambda records, leads, *args: compared.append(len(leads)) or contacts(records, leads, *args))
        delta = publish_by(warehouse_url, second["run_id"], warehouse_url, sources)
        full = publish_by(other, second["run_id"], other, sources, full=True)
        leads = RunFiles(second["run_id"]).read_stage("leads", ["lead_id"])
        assert set(rebuilt["base_run_id"]) == {first["run_id"]} and 0 < len(rebuilt) < len(leads)
        # incremental: the rebuilt leads (new ones among them); full: all
        assert compared == [len(rebuilt), len(rebuilt), len(leads), len(leads)]

        incremental, everything = make_engine(warehouse_url), make_engine(other)
        assert delta == full and delta["new"] >= 1 and delta["updated"] >= 1 and delta["dropped"] >= 1
        same_marts(marts(incremental), marts(everything))
        pd.testing.assert_frame_equal(history(incremental), history(everything))
        pd.testing.assert_frame_equal(read.record_leads(incremental).sort_values("record_key", ignore_index=True),
                                      read.record_leads(everything).sort_values("record_key", ignore_index=True))
        ranked = read.ranked_leads(incremental)
        assert set(ranked["movement"]) >= {"new", "down"} and ranked["last_seen_at"].notna().all()
        # A version per lead whose scores changed (here all: the model learnt from a changed
        # population) and a tombstone per lead that dropped out; everything: one per lead.
        changed = versions_since(incremental, second["run_id"])
        assert 0 < changed <= versions_since(everything, second["run_id"]) == len(ranked) + delta["dropped"]
    finally:
        drop_second(other)


COUNT_WRITES = {
    "sqlite": ["CREATE TRIGGER _count_{t}_{op} AFTER {op} ON {t} BEGIN "
               "UPDATE _writes SET n = n + 1 WHERE tbl = '{t}'; END"],
    "postgresql": ["CREATE TRIGGER _count_{t}_{op} AFTER {op} ON {t} FOR EACH ROW EXECUTE FUNCTION _count_write()"],
}


def count_writes(engine) -> None:
    """Count every row inserted into or updated in WRITTEN (in _writes), by triggers."""
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE _writes (tbl TEXT PRIMARY KEY, n INTEGER NOT NULL)")
        for table in WRITTEN:
            conn.execute(text("INSERT INTO _writes (tbl, n) VALUES (:t, 0)"), {"t": table})
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("CREATE FUNCTION _count_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                                 "UPDATE _writes SET n = n + 1 WHERE tbl = TG_TABLE_NAME; RETURN NULL; END $$")
        for table in WRITTEN:
            for op in ("INSERT", "UPDATE"):
                for statement in COUNT_WRITES[conn.dialect.name]:
                    conn.exec_driver_sql(statement.format(t=table, op=op))


def writes(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT tbl, n FROM _writes")).all())


def test_an_unchanged_night_writes_no_lead_record_or_score_version(warehouse_url, demo_config, demo_night):
    demo_night(str(demo_config), warehouse_url)
    engine = make_engine(warehouse_url)
    before = {name: frame for name, frame in marts(engine).items() if name != "mart_runs"}
    count_writes(engine)
    second = run_pipeline(str(demo_config), warehouse_url)
    ranked = read.ranked_leads(engine)
    assert writes(engine) == {"leads": 0, "lead_records": 0, "score_versions": 0, "lead_ranks": len(ranked)}
    assert second["leads"]["unchanged"] == len(ranked) and (ranked["movement"] == "unchanged").all()
    same_marts(marts(engine), before, ignore=("run_id", "movement", "new_leads", "prev_rank", "prev_tier",
                                              "published_at", "started_at", "finished_at", "last_seen_at",
                                              "records_tonight"))
    assert ranked["prev_rank"].tolist() == ranked["rank"].tolist()
    with engine.connect() as conn:  # the records listed again are listed by the latest run, unwritten
        records = conn.execute(text("SELECT COUNT(*) FROM lead_records WHERE listed")).scalar()
        tonight = conn.execute(text("SELECT SUM(records_tonight) FROM mart_source_yield")).scalar()
    assert records == tonight > 0


# --- a warehouse written by the old schema ------------------------------------------------------

def old_schema(engine) -> None:
    """The migrations before 0080 and the views as they were then (tests/fixtures/views_0070)."""
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, name TEXT NOT NULL, "
                             "checksum TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")
        for migration in migrate.available(conn.dialect.name):
            if migration.version >= "0080":
                continue
            for statement in split_statements(migration.sql()):
                conn.exec_driver_sql(statement)
            conn.execute(text("INSERT INTO schema_migrations VALUES (:v, :n, :c, '2026-01-01T00:00:00+00:00')"),
                         {"v": migration.version, "n": migration.name, "c": migration.checksum()})
        for view in inspect(conn).get_view_names():
            conn.exec_driver_sql(f"DROP VIEW IF EXISTS {view}" + (" CASCADE" if conn.dialect.name == "postgresql" else ""))
        for name in ("latest_published_run", "ranked_leads", "mart_segment_leads", "mart_region_leads",
                     "mart_segment_tiers", "mart_region_tiers", "mart_source_yield", "mart_dropped_leads", "mart_runs"):
            conn.exec_driver_sql(split_statements((OLD_VIEWS / f"{name}.sql").read_text(encoding="utf-8"))[0])


# What the old schema stored, read from a warehouse of the new one: last-seen runs written on
# every row, and lead_scores a table of full copies.
AS_STORED = {
    "leads": "SELECT l.*, CASE WHEN l.listed THEN p.run_id ELSE l.last_seen_run END AS seen_run, "
             "CASE WHEN l.listed THEN p.seen_at ELSE l.last_seen_at END AS seen_at "
             "FROM leads l CROSS JOIN latest_published_run p",
    "lead_records": "SELECT r.*, CASE WHEN r.listed THEN p.run_id ELSE r.last_seen_run END AS seen_run "
                    "FROM lead_records r CROSS JOIN latest_published_run p",
    "pipeline_runs": "SELECT * FROM pipeline_runs",
    "lead_dropouts": "SELECT * FROM lead_dropouts",
    "suppressed_leads": "SELECT * FROM suppressed_leads",
    "lead_scores": "SELECT * FROM lead_scores",
}


def copy_as_old(new, old) -> None:
    with new.connect() as conn:
        frames = {table: pd.read_sql_query(text(sql), conn) for table, sql in AS_STORED.items()}
    frames["leads"] = frames["leads"].assign(last_seen_run=frames["leads"]["seen_run"],
                                             last_seen_at=frames["leads"]["seen_at"])
    frames["lead_records"]["last_seen_run"] = frames["lead_records"]["seen_run"]
    with old.begin() as conn:
        inspector = inspect(conn)
        for table, frame in frames.items():
            columns = inspector.get_columns(table)
            frame = frame[[c["name"] for c in columns]].copy()
            for column in columns:  # integers read with NULLs among them come back as floats
                if isinstance(column["type"], Integer):
                    frame[column["name"]] = pd.to_numeric(frame[column["name"]]).astype("Int64")
            insert_frame(conn, table, frame)


def test_a_warehouse_of_the_old_schema_migrates_with_its_marts_unchanged(warehouse_url, tmp_path):
    config = demo_copy(tmp_path)
    run_pipeline(str(config), warehouse_url)
    change_sources(config)
    run_pipeline(str(config), warehouse_url)
    new = make_engine(warehouse_url)
    expected, scores = marts(new), history(new)
    assert scores["run_id"].nunique() == 2 and (scores["movement"] != "new").any()

    other = second_warehouse(warehouse_url, tmp_path)
    try:
        old = make_engine(other)
        old_schema(old)
        copy_as_old(new, old)
        # The old views over the old tables read what the new ones do (but mart_runs' ranking_kept, a
        # column added since).
        same_marts(marts(old), expected, ignore=("ranking_kept",))
        pd.testing.assert_frame_equal(history(old), scores, check_dtype=False)

        assert migrate.upgrade(old) == ["0080"]
        same_marts(marts(old), expected)
        pd.testing.assert_frame_equal(history(old), scores, check_dtype=False)
        third = run_pipeline(str(config), other)  # and the nights go on: all unchanged, versions stored once
        assert third["leads"]["unchanged"] == len(read.ranked_leads(old)) > 0
        assert versions_since(old, third["run_id"]) == len(read.ranked_leads(old))
    finally:
        drop_second(other)


def test_publishing_compares_every_lead_unless_the_hand_off_is_against_the_run_published_last():
    """load._to_compare: with the dedupe step's list of rebuilt leads made against the previous
    published run, the rebuilt leads, the leads new to the warehouse and those whose stored
    fingerprint was reset (NULL) are compared, no other; with no list, a list against another run,
    no run published before, or a full publish, every lead is."""
    ids = pd.Series(["a", "b", "c", "d", "e"], dtype=object)
    at = np.array([0, 1, -1, 2, 3])  # c is new to the warehouse
    hashes = np.array([11, load.NO_HASH, 33, 44])  # b's stored fingerprint was reset
    rebuilt = pd.DataFrame({"lead_id": ["d"], "base_run_id": ["r1"]})
    assert list(load._to_compare(ids, rebuilt, "r1", at, hashes, False)) == [False, True, True, True, False]
    empty = rebuilt.iloc[:0]
    assert list(load._to_compare(ids, empty, "r1", at, hashes, False)) == [False, True, True, False, False]
    for args in ((None, "r1", False), (rebuilt, "r0", False), (rebuilt, None, False), (rebuilt, "r1", True)):
        hand_off, previous, full = args
        assert load._to_compare(ids, hand_off, previous, at, hashes, full).all()
