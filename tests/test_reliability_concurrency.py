"""Two runs at once, on SQLite and PostgreSQL: never two publishers. Two real `leadrank run`
processes started together on a new warehouse (so they also race to create its schema) both get
to publishing at the same moment (tests/kill_points.py holds each at a barrier until the other
arrives): one publishes, the other refuses with PublishConflict and says how to resume."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.migrate import applied, available, upgrade
from leadrank.warehouse.read import latest_run, ranked_leads
from tests.helpers import run_pipeline
from tests.ops_fixtures import demo_sources, expected_leads, serve_demo
from tests.reliability_log import record

KILL_POINTS = Path(__file__).with_name("kill_points.py")


def test_processes_migrating_a_new_warehouse_at_once_apply_each_migration_once(warehouse_url):
    """Each run begins by upgrading the schema; several at once on a new warehouse used to fail
    (SQLite: 'table already exists' or 'database is locked'; PostgreSQL: a duplicate pg_type row)."""
    barrier = threading.Barrier(4)
    outcomes: list[object] = []

    def migrate() -> None:
        engine = make_engine(warehouse_url)  # its own engine: its own connections, as another process has
        barrier.wait()
        try:
            outcomes.append(upgrade(engine))
        except Exception as exc:  # noqa: BLE001 - collected and shown by the assertion
            outcomes.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    versions = [m.version for m in available(make_engine(warehouse_url).dialect.name)]
    assert sorted(v for o in outcomes for v in o) == versions  # every migration applied, each by one process
    assert sorted(applied(make_engine(warehouse_url))) == versions
    record("concurrency", "four processes migrate a new warehouse at once", runs=4, survived=4, lost=0,
           detail="each migration applied once (before: 'table already exists', 'database is locked')")


@pytest.mark.prefect
def test_two_leadrank_runs_started_together_never_both_publish(forks, warehouse_url, httpserver, tmp_path):
    config = demo_sources(tmp_path, base_url=serve_demo(httpserver), allow_private_network=["127.0.0.1"])
    env = {**os.environ, "LEADRANK_WAREHOUSE_URL": warehouse_url}
    meeting = tmp_path / "barrier"
    children = [forks.start([str(KILL_POINTS), "barrier:2", str(meeting), "run", "--config", str(config)], env,
                            tmp_path / f"run-{number}.log") for number in range(2)]  # (processes of their own)
    for child in children:
        child.wait(timeout=300)
    outputs = [" ".join(child.output().split()) for child in children]
    codes = sorted(child.returncode for child in children)
    assert codes == [0, 1], outputs
    refused = outputs[[child.returncode for child in children].index(1)]
    assert "PublishConflict" in refused and "leadrank run --resume" in refused

    engine = make_engine(warehouse_url)
    with engine.connect() as conn:
        runs = {r.run_id: r for r in conn.execute(text("SELECT run_id, status, base_run_id FROM pipeline_runs"))}
    assert sorted(r.status for r in runs.values()) == ["failed", "published"]
    assert all(r.base_run_id is None for r in runs.values())  # they overlapped: both began on an empty list
    winner = next(run_id for run_id, r in runs.items() if r.status == "published")
    loser = next(run_id for run_id, r in runs.items() if r.status == "failed")
    assert latest_run(engine)["run_id"] == winner
    ranked = ranked_leads(engine)
    companies = expected_leads({"demo-expo", "demo-assoc", "demo-search"})
    assert len(ranked) == companies and ranked["lead_id"].is_unique

    resumed = run_pipeline(str(config), warehouse_url, run_id=loser, resume=True)  # as the refusal says
    assert resumed["leads"]["new"] == 0 and resumed["leads"]["unchanged"] == companies
    assert sorted(ranked_leads(engine)["lead_id"]) == sorted(ranked["lead_id"])
    record("concurrency", "two `leadrank run` processes publish at the same moment (new warehouse)", runs=2,
           survived=2, lost=0, detail="one published, one refused with PublishConflict and then resumed")
