"""A sales role granted the marts (`leadrank db grant-sales`) tries to get past them, on a real
PostgreSQL warehouse: a leaky function in its WHERE clause, holding the nightly's advisory locks,
and membership of pg_read_all_data (issue 17, items 5, 6 and 16)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from typer.testing import CliRunner

from leadrank.cli import app
from leadrank.warehouse.engine import LockTimeout, make_engine
from leadrank.warehouse.load import PUBLISH_LOCK
from leadrank.warehouse.migrate import MIGRATE_LOCK, upgrade
from leadrank.warehouse.read import ranked_leads
from tests.conftest import PG_URL
from tests.helpers import run_pipeline
from tests.reliability_log import record

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason="LEADRANK_TEST_PG_URL is not set")]
runner = CliRunner()

LEAK = """CREATE FUNCTION pg_temp.leak(name text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN RAISE NOTICE 'leaked: %%', name; RETURN true; END $$"""


def said(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture
def pg_url(request) -> Iterator[str]:
    from tests.conftest import _pg_database

    yield from _pg_database()


@pytest.fixture
def sales_role(pg_url) -> Iterator[tuple[str, Engine]]:
    """An ordinary login role and an engine connecting as it; dropped afterwards."""
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    role = f"leadrank_sales_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    sales = create_engine(make_url(pg_url).set(username=role, password=None))
    try:
        yield role, sales
    finally:
        sales.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def grant(role: str, url: str):
    return runner.invoke(app, ["db", "grant-sales", role, "--warehouse", url])


def test_a_leaky_function_in_a_sales_query_sees_only_the_marts_rows(pg_url, demo_config, sales_role):
    role, sales = sales_role
    run_pipeline(str(demo_config), pg_url)
    admin = make_engine(pg_url)
    hidden = ranked_leads(admin).iloc[0]["company_name"]
    assert runner.invoke(app, ["suppress", "add", "name", hidden, "--reason", "do not call", "--warehouse", pg_url]).exit_code == 0
    result = grant(role, pg_url)
    assert result.exit_code == 0, result.output
    shown = set(ranked_leads(admin)["company_name"])
    assert hidden not in shown
    with admin.connect() as conn:
        every_name = {r[0] for r in conn.execute(text("SELECT company_name FROM leads")).all()}
    assert hidden in every_name

    leaked: set[str] = set()
    with sales.connect() as conn:
        conn.connection.driver_connection.add_notice_handler(
            lambda notice: leaked.add(notice.message_primary.removeprefix("leaked: ")))
        conn.exec_driver_sql(LEAK)
        for view in ("ranked_leads", "mart_segment_leads", "mart_region_leads", "mart_dropped_leads"):
            conn.execute(text(f"SELECT count(*) FROM {view} WHERE pg_temp.leak(company_name)")).scalar()
    assert leaked and leaked <= shown, f"the function saw rows outside the marts: {sorted(leaked - shown)[:3]}"
    record("secrets", "a sales role's leaky function (cost 1e-7, RAISE NOTICE) in its WHERE clause over the marts",
           runs=1, survived=1, lost=0, detail="mart views are security barriers: it sees only the marts' rows")

    # A migration that re-creates a mart view (CREATE OR REPLACE drops its options) gets it back.
    with admin.begin() as conn:
        definition = conn.execute(text("SELECT pg_get_viewdef('mart_runs'::regclass)")).scalar()
        conn.exec_driver_sql(f"CREATE OR REPLACE VIEW mart_runs AS {definition}")
    upgrade(admin)
    with admin.connect() as conn:
        options = conn.execute(text("SELECT reloptions FROM pg_class WHERE relname = 'mart_runs'")).scalar()
    assert "security_barrier=true" in options


def test_a_sales_role_cannot_hold_the_nightly_locks_and_a_held_lock_fails_clearly(pg_url, sales_role, monkeypatch):
    role, sales = sales_role
    admin = make_engine(pg_url)
    upgrade(admin)
    # Before grant-sales, any role can take the migration lock: the night then waits a bounded time.
    monkeypatch.setenv("LEADRANK_LOCK_TIMEOUT", "1")
    with sales.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATE_LOCK})
        started = time.monotonic()
        with pytest.raises(LockTimeout, match=f"migration lock .* held by session \\d+ of role {role}"):
            upgrade(admin)
        assert time.monotonic() - started < 10
        holder.execute(text("SELECT pg_advisory_unlock_all()"))  # session locks outlive a pooled connection
    assert grant(role, pg_url).exit_code == 0
    for call in ("pg_advisory_lock(:k)", "pg_try_advisory_lock(:k)", "pg_advisory_lock_shared(:k)",
                 "pg_advisory_xact_lock(:k)", "pg_try_advisory_xact_lock_shared(:k)"):
        with sales.connect() as conn, pytest.raises(ProgrammingError, match="permission denied for function"):
            conn.execute(text(f"SELECT {call}"), {"k": PUBLISH_LOCK})
    with admin.begin() as conn:  # the warehouse owner keeps them
        assert conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": PUBLISH_LOCK}).scalar()
    upgrade(admin)
    record("concurrency", "a sales session holding the migration/publish advisory lock", runs=1, survived=1, lost=0,
           warehouse="PostgreSQL",
           detail="the wait is bounded ($LEADRANK_LOCK_TIMEOUT) and names the holder; grant-sales revokes the lock "
                  "functions from PUBLIC")


def test_grant_sales_refuses_a_member_of_pg_read_all_data(pg_url, sales_role):
    role, sales = sales_role
    upgrade(make_engine(pg_url))
    with create_engine(pg_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.exec_driver_sql(f"GRANT pg_read_all_data TO {role}")
    result = grant(role, pg_url)
    assert result.exit_code == 1 and f"role '{role}' is a member of pg_read_all_data" in said(result)
    assert "REVOKE \"pg_read_all_data\" FROM" in said(result)
    record("secrets", "grant-sales on a member of pg_read_all_data", runs=1, survived=1, lost=0, warehouse="PostgreSQL",
           detail="refused, naming the membership to revoke")
