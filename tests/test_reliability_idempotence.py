"""Idempotence, on SQLite and PostgreSQL: the same inputs again give identical marts (every
mart, every column but the run's own identity and timestamps), identical exports, and no
growth of the warehouse beyond the new run's scores."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import text

from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.export import export_ranked
from tests.helpers import marts, run_pipeline, same_marts
from tests.reliability_log import record

RUN_IDENTITY = ("run_id", "last_seen_at")  # which run published it, and when sources last listed a lead
TABLES = ["leads", "lead_records", "lead_events", "lead_dropouts", "outcomes", "suppressed_leads"]


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in TABLES}


def test_the_same_inputs_twice_give_identical_marts_and_exports(warehouse_url, demo_config, tmp_path: Path):
    engine = make_engine(warehouse_url)
    config = str(demo_config)
    first = run_pipeline(config, warehouse_url)
    after_first = marts(engine)
    second = run_pipeline(config, warehouse_url)
    after_second, rows, csv_second = marts(engine), counts(engine), tmp_path / "second.csv"
    export_ranked(engine, csv_second)
    third = run_pipeline(config, warehouse_url)
    after_third, csv_third = marts(engine), tmp_path / "third.csv"
    export_ranked(engine, csv_third)

    # Night 2 against night 1: the same list; only what is relative to the night before moved.
    relative = ("movement", "prev_rank", "prev_tier", "new_leads", *RUN_IDENTITY)
    before, now = dict(after_first), dict(after_second)
    assert len(now.pop("mart_runs")) == len(before.pop("mart_runs")) + 1
    same_marts(now, before, ignore=relative)
    assert set(after_second["ranked_leads"]["movement"]) == {"unchanged"}
    assert (after_second["ranked_leads"]["prev_rank"] == after_second["ranked_leads"]["rank"]).all()

    # Night 3 against night 2: identical, all of it.
    now, before = dict(after_third), dict(after_second)
    now.pop("mart_runs"), before.pop("mart_runs")
    same_marts(now, before, ignore=RUN_IDENTITY)
    assert counts(engine) == rows  # nothing added but the run's scores
    assert csv_third.read_bytes() == csv_second.read_bytes()
    assert second["records"] == third["records"] == first["records"]
    assert second["leads"] == third["leads"] == {"new": 0, "updated": 0, "unchanged": len(after_first["ranked_leads"]),
                                                 "merged": 0, "dropped": 0}
    with engine.connect() as conn:
        scores = pd.read_sql_query(text("SELECT run_id, COUNT(*) AS n FROM lead_scores GROUP BY run_id"), conn)
    assert sorted(scores["n"]) == [len(after_first["ranked_leads"])] * 3
    record("idempotence", "the same inputs run again", runs=3, survived=3, lost=0,
           detail="marts and CSV export identical from the second night on")
