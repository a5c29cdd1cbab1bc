"""The `demo_night` fixture (tests/demo_nights.py): a copy of one published demo night is what
`run_pipeline` leaves, and each copy is a test's own."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import text

from leadrank.paths import data_dir
from leadrank.warehouse.engine import make_engine
from tests.helpers import marts, run_pipeline


def test_a_copied_demo_night_is_a_published_night_of_the_tests_own(warehouse_url, demo_config, demo_night):
    engine = make_engine(warehouse_url)
    copied = demo_night(str(demo_config), warehouse_url)
    assert (data_dir() / "runs" / copied["run_id"] / "scores.parquet").is_file()  # the run's files, here
    with engine.begin() as conn:  # a change to this copy ...
        conn.execute(text("DELETE FROM lead_ranks"))
    assert marts(engine)["ranked_leads"].empty

    again = demo_night(str(demo_config), warehouse_url)  # ... is not in the next one
    assert again == copied
    published = marts(engine)
    assert len(published["ranked_leads"]) == copied["leads"]["new"] > 0
    # The next night reads the copy as its base run, as after a night run here.
    second = run_pipeline(str(demo_config), warehouse_url)
    assert second["leads"]["new"] == 0 and second["resolution"]["mode"] == "incremental"
    kept = ["lead_id", "rank", "priority", "tier", "company_name"]
    pd.testing.assert_frame_equal(marts(engine)["ranked_leads"][kept], published["ranked_leads"][kept])


def test_the_copy_of_a_sqlite_night_is_a_file_of_its_own(tmp_path: Path, demo_config, demo_night):
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    demo_night(str(demo_config), f"sqlite:///{first}")
    demo_night(str(demo_config), f"sqlite:///{second}")
    assert first.stat().st_size == second.stat().st_size > 0 and not first.samefile(second)
