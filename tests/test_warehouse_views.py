"""Views from leadrank/sql/views/, re-created by the upgrade (issue 20): an edited file needs no
migration, "the latest published run" is written once, and on PostgreSQL the re-created marts
keep their grants and their security barrier."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from leadrank.warehouse import views
from leadrank.warehouse.access import grant_sales
from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.migrate import upgrade
from leadrank.warehouse.views import ViewError, defined
from tests.conftest import PG_URL


@pytest.fixture
def view_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of leadrank/sql/views that the upgrade reads instead, to edit."""
    copy = tmp_path / "views"
    shutil.copytree(views.VIEWS_DIR, copy)
    monkeypatch.setattr(views, "VIEWS_DIR", copy)
    return copy


def columns(engine, view: str) -> list[str]:
    return [c["name"] for c in inspect(engine).get_columns(view)]


def test_every_view_file_is_created_after_the_views_it_reads(warehouse_url):
    engine = make_engine(warehouse_url)
    upgrade(engine)
    order = [v.name for v in defined(engine.dialect.name)]
    assert order.index("latest_published_run") < order.index("ranked_leads") < order.index("mart_segment_leads")
    assert set(order) <= set(inspect(engine).get_view_names())
    with engine.connect() as conn:
        assert set(dict(conn.execute(text("SELECT name, checksum FROM schema_views")).all())) == set(order)


def test_the_latest_published_run_is_written_once():
    texts = {v.name: v.sql() for v in defined("sqlite")}
    writing_it = [name for name, sql in texts.items() if "ORDER BY r.published_at DESC" in sql]
    assert writing_it == ["latest_published_run"]
    for mart in ("ranked_leads", "mart_dropped_leads"):
        assert "FROM latest_published_run" in texts[mart]


def test_an_edited_view_file_is_re_created_without_a_migration(warehouse_url, view_files):
    engine = make_engine(warehouse_url)
    upgrade(engine)
    assert "config_hash" not in columns(engine, "mart_runs")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO pipeline_runs (run_id, started_at, status, published_at, config_hash) "
                          "VALUES ('r1', '2026-01-01T00:00:00+00:00', 'published', '2026-01-01T01:00:00+00:00', 'h')"))
    path = view_files / "mart_runs.sql"
    path.write_text(path.read_text().replace("AS ranking_kept\n", "AS ranking_kept, r.config_hash\n"))
    assert upgrade(engine) == []
    assert columns(engine, "mart_runs")[-1] == "config_hash"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT config_hash FROM mart_runs")).scalar() == "h"
        assert conn.execute(text("SELECT run_id FROM latest_published_run")).scalar() == "r1"
        created = conn.execute(text("SELECT created_at FROM schema_views WHERE name = 'mart_runs'")).scalar()
    upgrade(engine)  # nothing changed: nothing re-created
    with engine.connect() as conn:
        assert conn.execute(text("SELECT created_at FROM schema_views WHERE name = 'mart_runs'")).scalar() == created

    (view_files / "mart_region_tiers.sql").unlink()
    upgrade(engine)
    assert "mart_region_tiers" not in inspect(engine).get_view_names()
    assert "mart_runs" in inspect(engine).get_view_names()


def test_a_dialect_twin_replaces_the_view_file_on_its_dialect(view_files):
    (view_files / "mart_runs.sqlite.sql").write_text(
        "CREATE VIEW mart_runs AS SELECT r.run_id FROM pipeline_runs r;\n")
    assert {v.name: v.path.name for v in defined("sqlite")}["mart_runs"] == "mart_runs.sqlite.sql"
    assert {v.name: v.path.name for v in defined("postgresql")}["mart_runs"] == "mart_runs.sql"


@pytest.mark.parametrize(("name", "sql", "says"), [
    ("mart_a", "CREATE VIEW mart_b AS SELECT 1 AS x;", "exactly one CREATE VIEW mart_a"),
    ("mart_a", "CREATE VIEW mart_a AS SELECT 1 AS x;\nCREATE VIEW mart_c AS SELECT 2 AS y;", "exactly one"),
    ("mart_a", "CREATE VIEW mart_a AS SELECT * FROM mart_runs;", "cycle"),
])
def test_a_bad_view_file_is_refused_by_name(view_files, name, sql, says):
    (view_files / f"{name}.sql").write_text(sql)
    if says == "cycle":
        (view_files / "mart_runs.sql").write_text("CREATE VIEW mart_runs AS SELECT * FROM mart_a;")
    with pytest.raises(ViewError, match=says):
        defined("sqlite")


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("LEADRANK_TEST_PG_URL is not set")
    from tests.conftest import _pg_database

    yield from _pg_database()


@pytest.fixture
def role(pg_url) -> Iterator[str]:
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    name = f"leadrank_views_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {name}")
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {name}")
            conn.exec_driver_sql(f"DROP ROLE {name}")
        admin.dispose()


def privileges(engine, role: str) -> dict[str, set[str]]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT table_name, privilege_type || CASE WHEN is_grantable = 'YES' THEN '+' ELSE '' END "
            "FROM information_schema.role_table_grants WHERE grantee = :r"), {"r": role}).all()
    found: dict[str, set[str]] = {}
    for view, privilege in rows:
        found.setdefault(view, set()).add(privilege)
    return found


@pytest.mark.postgres
def test_re_created_marts_keep_their_grants_and_security_barrier(pg_url, role, view_files):
    engine = make_engine(pg_url)
    upgrade(engine)
    granted = grant_sales(engine, role).views
    with engine.begin() as conn:
        conn.exec_driver_sql(f"GRANT SELECT ON latest_published_run TO {role} WITH GRANT OPTION")
    before = privileges(engine, role)
    assert set(before) == set(granted) | {"latest_published_run"}
    path = view_files / "ranked_leads.sql"  # every mart reads it: all are dropped and re-created
    path.write_text(path.read_text().replace("l.industry\n", "l.industry, l.domain\n"))
    upgrade(engine)
    assert columns(engine, "ranked_leads")[-1] == "domain"
    assert privileges(engine, role) == before
    with engine.connect() as conn:
        unguarded = conn.execute(text(
            "SELECT relname FROM pg_class WHERE relkind = 'v' AND (relname = 'ranked_leads' OR relname LIKE 'mart\\_%') "
            "AND NOT COALESCE('security_barrier=true' = ANY(reloptions), false)")).all()
    assert unguarded == []


@pytest.mark.postgres
def test_a_foreign_view_on_a_mart_stops_the_upgrade_and_leaves_the_marts(pg_url, view_files):
    engine = make_engine(pg_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE VIEW my_report AS SELECT lead_id FROM ranked_leads")
    path = view_files / "ranked_leads.sql"
    path.write_text(path.read_text().replace("l.industry\n", "l.industry, l.domain\n"))
    with pytest.raises(ViewError, match="my_report"):
        upgrade(engine)
    assert "domain" not in columns(engine, "ranked_leads")
    assert {"ranked_leads", "mart_runs", "my_report"} <= set(inspect(engine).get_view_names())


@pytest.mark.postgres
def test_a_warehouse_from_before_the_view_files_keeps_its_sales_grants(pg_url, role, tmp_path, monkeypatch):
    from leadrank.warehouse import migrate

    old = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, old)
    for later in [*old.glob("0070_*.sql"), *old.glob("0080_*.sql")]:
        later.unlink()
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", old)
    monkeypatch.setattr(migrate, "recreate_views", lambda conn, force, **_: [])  # the upgrade as it was
    engine = make_engine(pg_url)
    upgrade(engine)
    grant_sales(engine, role)
    before = privileges(engine, role)
    assert "ranked_leads" in before and "latest_published_run" not in inspect(engine).get_view_names()
    monkeypatch.undo()
    assert upgrade(engine) == ["0070", "0080"]  # 0080 drops the views that read lead_scores
    assert privileges(engine, role) == before
    with engine.connect() as conn:
        definition = conn.execute(text("SELECT pg_get_viewdef('ranked_leads'::regclass)")).scalar()
    assert "latest_published_run" in definition
