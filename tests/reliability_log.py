"""The reliability suite's results, for the table in docs/reliability.md.

Each reliability test calls `record` with what it tried and what came out (runs started, runs
that completed with the published list intact, records lost). With LEADRANK_RELIABILITY_LOG set
to a file, the rows are appended there as JSON lines; `scripts/reliability_table.py` runs the
suite with it set and prints the table. Without the variable nothing is written.
"""

from __future__ import annotations

import json
import os

LOG_ENV = "LEADRANK_RELIABILITY_LOG"


def record(area: str, fault: str, *, runs: int, survived: int, lost: int, detail: str = "",
           warehouse: str | None = None) -> None:
    """One row: `runs` pipeline runs exposed to the fault, `survived` of them ended as designed
    (completed and published, or refused/failed cleanly leaving the published list as it was),
    `lost` records that vanished (extracted but neither published, merged nor rejected).
    `warehouse`: the warehouse it ran on, when the test is not parametrised by `warehouse_url`."""
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    if warehouse is None:
        warehouse = "PostgreSQL" if "postgresql]" in test else "SQLite" if "sqlite]" in test else "none"
    row = {"area": area, "fault": fault, "runs": runs, "survived": survived, "lost": lost, "detail": detail,
           "test": test, "warehouse": warehouse}
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
