"""Run the reliability suite and print its table (the one in docs/reliability.md).

    .venv/bin/python scripts/reliability_table.py            # print the table
    .venv/bin/python scripts/reliability_table.py --write    # also replace it in docs/reliability.md

The suite is tests/test_reliability_*.py; each test records what it tried and what came out
(tests/reliability_log.py). PostgreSQL runs when LEADRANK_TEST_PG_URL is set (as in CI); the
table says on which warehouses each row ran. Exits non-zero when a test failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- reliability-table -->", "<!-- /reliability-table -->"
AREAS = ["faults", "crash", "idempotence", "hostile input", "reconciliation", "SSRF", "secrets", "concurrency"]


def run_suite(log: Path) -> tuple[int, float]:
    started = time.perf_counter()
    env = {**os.environ, "LEADRANK_RELIABILITY_LOG": str(log)}
    tests = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_reliability_*.py"))
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=ROOT, env=env)
    return code, time.perf_counter() - started


def table(rows: list[dict]) -> str:
    grouped: dict[tuple[str, str], dict] = defaultdict(lambda: {"runs": 0, "survived": 0, "lost": 0, "dialects": set(),
                                                                "tests": [], "detail": ""})
    for row in rows:
        entry = grouped[(row["area"], row["fault"])]
        entry["runs"] += row["runs"]
        entry["survived"] += row["survived"]
        entry["lost"] += row["lost"]
        entry["dialects"].add(row["warehouse"])
        test = row["test"].replace("[sqlite]", "").replace("[postgresql]", "")
        test = test.replace("-sqlite]", "]").replace("-postgresql]", "]")
        if test not in entry["tests"]:
            entry["tests"].append(test)
        entry["detail"] = entry["detail"] or row["detail"]
    lines = ["| area | fault or attack | warehouses | runs | survived | records lost | what happened | reproduce |",
             "|---|---|---|---|---|---|---|---|"]
    for (area, fault), entry in sorted(grouped.items(), key=lambda kv: (AREAS.index(kv[0][0]), kv[0][1])):
        tests = entry["tests"] if len(entry["tests"]) <= 2 else sorted({t.split("[")[0] for t in entry["tests"]})
        command = "<br>".join(f"`.venv/bin/python -m pytest '{t}'`" for t in tests)
        lines.append(f"| {area} | {fault} | {', '.join(sorted(entry['dialects'], reverse=True))} | {entry['runs']} | "
                     f"{entry['survived']} | {entry['lost']} | {entry['detail']} | {command} |")
    total = {k: sum(e[k] for e in grouped.values()) for k in ("runs", "survived", "lost")}
    lines.append(f"| **total** | {len(grouped)} faults and attacks | | **{total['runs']}** | **{total['survived']}** | "
                 f"**{total['lost']}** | | |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"replace the table in {DOC.relative_to(ROOT)}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "reliability.jsonl"
        code, seconds = run_suite(log)
        rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
    out = table(rows)
    pg = "with" if os.environ.get("LEADRANK_TEST_PG_URL") else "without"
    print(out)
    print(f"\n(reliability suite: {seconds:.0f} s {pg} PostgreSQL; pytest exit code {code})")
    if args.write:
        text = DOC.read_text(encoding="utf-8")
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        DOC.write_text(text[:start] + "\n" + out + "\n" + text[end:], encoding="utf-8")
    return code


if __name__ == "__main__":
    sys.exit(main())
