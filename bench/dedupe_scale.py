"""Whole-process time, peak memory and pairwise F1 of `leadrank dedupe` on generated prospects.

    python bench/dedupe_scale.py                      # 10k, 100k and 1m companies (~1.4 records each)
    python bench/dedupe_scale.py --sizes 10k 100k --workdir /tmp/leadrank-bench

Each size is generated once (bench/generate.py, fixed seed) into the work directory and then
deduplicated by the real command in a fresh process, as a user would run it: reading the CSV,
normalising, matching, clustering and writing the output all count. Peak memory is the
process's largest resident set size, its worker processes' added (bench/measure.py); CPU
seconds (user + system, all threads) are printed too, because on a shared machine wall time
mostly measures the neighbours. Prints one line per size and a markdown table; the script is
cheap to re-run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import generate, parse_size  # noqa: E402
from measure import measure  # noqa: E402
from pairwise_f1 import pairwise_scores  # noqa: E402


def leadrank_command() -> str:
    candidate = Path(sys.executable).parent / "leadrank"
    return str(candidate) if candidate.exists() else "leadrank"


def measure_dedupe(csv: Path, out: Path) -> dict[str, float]:
    figures = measure([leadrank_command(), "dedupe", str(csv), "-o", str(out)])
    return {"seconds": round(figures["seconds"], 1), "cpu_seconds": round(figures["cpu_seconds"], 1),
            "peak_mb": figures["peak_mb"]}


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
        figures = measure_dedupe(csv, out)
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
