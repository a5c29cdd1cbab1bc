"""The outcome model on the real X Education CRM export, exactly as a user would check it.

    python bench/eval_model.py [--realdata ../shared/realdata] [--repeats 1] [--fold-draws 1]

Runs `leadrank model evaluate` (the installed command, in a subprocess, so the wall time
includes start-up and reading the file) with the identifiers and every field that sales fill in
after contact dropped — they leak the outcome (AUC ≈ 0.98 with them). Prints the command, its
JSON figures and the wall time of each repeat. With --fold-draws N it then re-validates the same
pipeline in-process on N-1 other shuffles of the cross-validation folds: how far the AUC moves
with the draw of the folds alone, to read a difference of a few thousandths against. Without
the real data it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

LEAKY_OR_IDS = [
    "Prospect ID", "Lead Number", "Tags", "Lead Quality", "Lead Profile", "Asymmetrique Activity Index",
    "Asymmetrique Profile Index", "Asymmetrique Activity Score", "Asymmetrique Profile Score", "Last Activity",
    "Last Notable Activity",
]


def command(data: Path) -> list[str]:
    leadrank = Path(sys.executable).with_name("leadrank")
    args = [str(leadrank), "model", "evaluate", "--data", str(data), "--target", "Converted", "--positive", "1"]
    for column in LEAKY_OR_IDS:
        args += ["--drop", column]
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--realdata", type=Path, default=Path(os.environ.get("LEADRANK_REALDATA", "../shared/realdata")))
    parser.add_argument("--repeats", type=int, default=1, help="run the evaluation this many times (timings are noisy)")
    parser.add_argument("--fold-draws", type=int, default=1,
                        help="also validate on this many shuffles of the folds in all (the command uses the first)")
    args = parser.parse_args()
    data = args.realdata / "outcomes" / "x_education_leads.csv"
    if not data.is_file():
        print(f"no real data at {data}; nothing to evaluate")
        sys.exit(0)
    cmd = command(data)
    print("command:", shlex.join(cmd))
    for attempt in range(1, args.repeats + 1):
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            sys.exit(done.returncode)
        out = json.loads(done.stdout)
        figures = {k: out.get(k) for k in ("auc", "auc_pooled", "auc_by_fold", "auc_fold_mean_sd", "n_rows",
                                           "n_positive", "validation", "precision_at_top_k", "brier",
                                           "calibration_error", "base_rate", "classifier")}
        print(json.dumps({"repeat": attempt, "wall_seconds": round(wall, 1), **figures}, ensure_ascii=False))
    print("calibration (validation deciles):", json.dumps(out["calibration"]))
    if args.fold_draws > 1:
        fold_draws(data, args.fold_draws)


def fold_draws(data: Path, draws: int) -> None:
    """The same table and pipeline as the command, validated on other shuffles of the folds."""
    import pandas as pd

    from leadrank.scoring.model import evaluate_and_fit, outcome_table

    raw = pd.read_csv(data, dtype=str, keep_default_na=False)
    table = outcome_table(raw, "Converted", positive="1", drop=LEAKY_OR_IDS)
    aucs, pooled = [], []
    for seed in range(draws):
        metrics = evaluate_and_fit(table.frame, table.y, table.numeric, table.categorical, fit_final=False,
                                   cv_seed=seed).metrics
        aucs.append(metrics["auc"])
        pooled.append(metrics["auc_pooled"])
        print(json.dumps({"fold_draw": seed, "auc": metrics["auc"], "auc_pooled": metrics["auc_pooled"],
                          "auc_by_fold": metrics["auc_by_fold"]}))
    print(json.dumps({"fold_draws": draws, "auc_min_mean_max": [min(aucs), round(sum(aucs) / draws, 4), max(aucs)],
                      "auc_pooled_min_mean_max": [min(pooled), round(sum(pooled) / draws, 4), max(pooled)]}))


if __name__ == "__main__":
    main()
