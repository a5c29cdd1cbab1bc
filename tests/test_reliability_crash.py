"""Crash consistency, on SQLite and PostgreSQL: the real `leadrank run` (the Prefect flow, in a
process of its own, reading the demo from a local HTTP fake) is killed with SIGKILL at seven points,
from extraction to the publishing COMMIT and just after it (tests/kill_points.py arms each
point). After each kill the published marts are exactly those of the last successful run; the
next run (resuming the killed one where it can) completes, publishes the same leads under the
same IDs, and nothing is duplicated."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import text

from leadrank import pipeline
from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.read import latest_run
from tests.forked_runs import Forks
from tests.helpers import marts, run_pipeline, same_marts, sigkill_when_marked
from tests.kill_points import POINTS
from tests.ops_fixtures import demo_sources, expected_leads, serve_demo
from tests.reliability_log import record

KILL_POINTS = Path(__file__).with_name("kill_points.py")
DEMO_SOURCES = {"demo-expo", "demo-assoc", "demo-search"}
# Kill points before which the next run resumes the killed one (the others start afresh).
RESUMED = {"after normalisation", "just before publish", "during publish (before COMMIT)", "mid-load (staging)"}


def run_ids(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT run_id, status FROM pipeline_runs")).all())


def kill_at(point: str, config: Path, warehouse: str, marker: Path, forks: Forks) -> None:
    """Start `leadrank run` with the kill point armed (a process of its own, forked with its
    imports done: tests/forked_runs.py), wait until it gets there, SIGKILL it."""
    env = {**os.environ, "LEADRANK_WAREHOUSE_URL": warehouse}
    child = forks.start([str(KILL_POINTS), point, str(marker), "run", "--config", str(config)], env,
                        marker.with_suffix(".log"))
    sigkill_when_marked(child, marker, point)
    assert child.returncode == -signal.SIGKILL


@pytest.mark.prefect
def test_sigkill_at_every_point_leaves_the_published_marts_and_the_next_run_publishes(
        forks, warehouse_url, httpserver, tmp_path):
    config = demo_sources(tmp_path, base_url=serve_demo(httpserver), allow_private_network=["127.0.0.1"])
    engine = make_engine(warehouse_url)
    first = run_pipeline(str(config), warehouse_url)
    companies = expected_leads(DEMO_SOURCES)
    lead_ids = sorted(marts(engine)["ranked_leads"]["lead_id"])
    assert len(lead_ids) == companies
    for number, point in enumerate(POINTS):
        before, runs_before = marts(engine), run_ids(engine)
        kill_at(point, config, warehouse_url, tmp_path / f"kill-{number}", forks)
        killed = next(run for run in run_ids(engine) if run not in runs_before)
        if point == "after publish (COMMIT done)":  # the kill came too late to stop it: it is published
            assert latest_run(engine)["run_id"] == killed
            now = marts(engine)
            assert list(now.pop("mart_runs")["run_id"]) == [*before.pop("mart_runs")["run_id"], killed]
            same_marts(now, before, ignore=("run_id", "last_seen_at"))  # the same list, published again
            with pytest.raises(pipeline.ResumeError, match="already published"):
                run_pipeline(str(config), warehouse_url, run_id=killed, resume=True)
        else:
            assert run_ids(engine)[killed] == "running"  # never published, never marked anything else
            same_marts(marts(engine), before)

        resume = point in RESUMED
        after = run_pipeline(str(config), warehouse_url, run_id=killed if resume else None, resume=resume)
        ranked = marts(engine)["ranked_leads"]
        assert latest_run(engine)["run_id"] == after["run_id"] == ranked["run_id"].iloc[0]
        assert sorted(ranked["lead_id"]) == lead_ids  # the same leads, the same IDs: none duplicated
        assert set(ranked["movement"]) == {"unchanged"}
        with engine.connect() as conn:
            active = conn.execute(text("SELECT COUNT(*) FROM leads WHERE status = 'active'")).scalar()
            linked = conn.execute(text("SELECT COUNT(*) FROM lead_records")).scalar()
        assert active == companies and linked == first["records"]["extracted"] - first["records"]["rejected"]
        assert after["records"] == first["records"]
        if resume:
            assert {r["source"] for r in after["sources"] if r.get("reused")}, "resumed without reusing extractions"
        record("crash", f"SIGKILL {point}", runs=2, survived=2, lost=first["records"]["extracted"] - sum(
            after["records"][k] for k in ("published", "merged", "rejected")),
            detail=("resumed" if resume else "fresh run") + " after the kill")
