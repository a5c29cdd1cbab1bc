"""Whole-process time, peak memory and pairwise F1 of `leadrank dedupe` on generated prospects.

    python bench/dedupe_scale.py                      # 10k, 100k and 1m companies (~1.4 records each)
    python bench/dedupe_scale.py --sizes 10k 100k --workdir /tmp/leadrank-bench

Each size is generated once (bench/generate.py, fixed seed) into the work directory and then
deduplicated by the real command in a fresh process, as a user would run it: reading the CSV,
normalising, matching, clustering and writing the output all count. Peak memory is the
child's maximum resident set size; CPU seconds (user + system, all threads) are printed too,
because on a shared machine wall time mostly measures the neighbours. Prints one line per size
and a markdown table; the script is cheap to re-run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import generate, parse_size  # noqa: E402
from pairwise_f1 import pairwise_scores  # noqa: E402

# A fresh parent per measurement, so the child's peak RSS is not mixed with earlier children.
_MEASURE = """
import resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(time.perf_counter() - started, usage.ru_maxrss, usage.ru_utime + usage.ru_stime, code)
"""


def leadrank_command() -> str:
    candidate = Path(sys.executable).parent / "leadrank"
    return str(candidate) if candidate.exists() else "leadrank"


def measure(csv: Path, out: Path) -> dict[str, float]:
    result = subprocess.run([sys.executable, "-c", _MEASURE, leadrank_command(), "dedupe", str(csv), "-o", str(out)],
                            capture_output=True, text=True, check=True)
    seconds, max_kb, cpu, code = result.stdout.split()
    if code != "0":
        raise SystemExit(f"leadrank dedupe failed on {csv} (exit {code})")
    return {"seconds": round(float(seconds), 1), "cpu_seconds": round(float(cpu), 1), "peak_mb": round(int(max_kb) / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["10k", "100k", "1m"], help="companies per run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/leadrank-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes:
        csv = args.workdir / f"prospects-{size}-seed{args.seed}.csv"
        if not csv.exists():
            started = time.perf_counter()
            generate(parse_size(size), args.seed).to_csv(csv, index=False)
            print(f"generated {csv} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
        out = args.workdir / f"deduped-{size}.csv"
        figures = measure(csv, out)
        result = pd.read_csv(out, dtype=str, keep_default_na=False, usecols=["true_id", "lead_id"])
        scores = pairwise_scores(result["true_id"], result["lead_id"])
        row = {"companies": size, "records": scores["rows"], **figures,
               **{k: scores[k] for k in ("precision", "recall", "f1")}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| companies | records | wall s | CPU s | peak MB | precision | recall | F1 |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['companies']} | {r['records']} | {r['seconds']} | {r['cpu_seconds']} | {r['peak_mb']} | "
              f"{r['precision']} | {r['recall']} | {r['f1']} |")


if __name__ == "__main__":
    main()
