"""Pairwise precision, recall and F1 of `leadrank dedupe` on real and generated data with known truth.

    python bench/eval_dedupe.py                       # Chicago childcare + generated 10k
    python bench/eval_dedupe.py --generated 100k --no-chicago
    python bench/eval_dedupe.py --errors 20           # also print missed and wrong pairs

Runs the same stage as `leadrank dedupe` (normalise_records → dedupe_frame) in-process, so it
can show the pairs it got wrong. The Chicago file is read from the real-data folder (default
../shared/realdata, env LEADRANK_REALDATA) and skipped cleanly when absent; the generated
benchmark comes from bench/generate.py with a fixed seed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import generate, parse_size  # noqa: E402
from pairwise_f1 import pairwise_scores  # noqa: E402

from leadrank.config import ResolutionConfig  # noqa: E402
from leadrank.transform.normalise import normalise_records  # noqa: E402
from leadrank.transform.resolve import dedupe_frame  # noqa: E402
from leadrank.transform.table_input import records_from_table  # noqa: E402

REALDATA = Path(os.environ.get("LEADRANK_REALDATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata"))
CHICAGO_MAP = {"Site name": "company_name", "Address": "address", "Phone": "phone", "Website": "website",
               "Email Address": "email", "Source": "source"}


def run(table: pd.DataFrame, mapping: dict[str, str] | None = None) -> tuple[pd.DataFrame, float]:
    started = time.perf_counter()
    records = records_from_table(table, mapping)
    resolved = dedupe_frame(normalise_records(records), ResolutionConfig())
    return resolved, time.perf_counter() - started


def show_errors(table: pd.DataFrame, resolved: pd.DataFrame, truth: str, columns: list[str], limit: int) -> None:
    """Print true pairs that were split and predicted pairs that are wrong, with their evidence."""
    frame = table[columns].copy()
    frame["truth"] = table[truth].astype(str).to_numpy()
    frame["lead"] = resolved["lead_id"].to_numpy()
    frame["why"] = resolved["match_evidence"].to_numpy()
    shown = 0
    print("\n-- true companies split over several leads --")
    for _, group in frame.groupby("truth"):
        if group["lead"].nunique() > 1 and shown < limit:
            print(group.to_string(header=False, max_colwidth=50), "\n")
            shown += 1
    shown = 0
    print("\n-- leads mixing several true companies --")
    for _, group in frame.groupby("lead"):
        if group["truth"].nunique() > 1 and shown < limit:
            print(group.to_string(header=False, max_colwidth=50), "\n")
            shown += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", default="10k", help="companies in the generated benchmark (0 to skip)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-chicago", action="store_true")
    parser.add_argument("--errors", type=int, default=0, help="print this many split and mixed clusters")
    args = parser.parse_args()
    results = {}
    chicago = REALDATA / "dedupe" / "chicago_childcare_with_true_ids.csv"
    if not args.no_chicago:
        if chicago.exists():
            table = pd.read_csv(chicago, dtype=str, keep_default_na=False, na_values=[""])
            resolved, seconds = run(table, CHICAGO_MAP)
            results["chicago"] = {**pairwise_scores(table["True Id"], resolved["lead_id"]), "seconds": round(seconds, 2)}
            if args.errors:
                show_errors(table, resolved, "True Id", ["Source", "Site name", "Address", "Phone"], args.errors)
        else:
            print(f"skipping Chicago: {chicago} not found (set LEADRANK_REALDATA)", file=sys.stderr)
    size = parse_size(args.generated)
    if size:
        table = generate(size, args.seed)
        resolved, seconds = run(table.drop(columns=["true_id"]))
        results[f"generated_{args.generated}"] = {**pairwise_scores(table["true_id"], resolved["lead_id"]),
                                                  "seconds": round(seconds, 2)}
        if args.errors:
            show_errors(table, resolved, "true_id", ["source", "company_name", "phone", "website", "email", "city", "uscc"],
                        args.errors)
    for name, figures in results.items():
        print(f"{name}: " + json.dumps(figures))


if __name__ == "__main__":
    main()
