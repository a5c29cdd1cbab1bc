"""How close validation on later data comes to the AUC the deployed model then reaches: the
blocks of later outcomes that leadrank validates dated outcomes on, against one split of the
later quarter (leadrank's rule until 7 December 2026).

    python bench/eval_time_validation.py [--realdata DIR] [--public-tables DIR] [--held-out-tables DIR]
        [--sizes 60,120,240] [--draws 8] [--future 2000] [--per-day 1] [--no-drifting]

A key-account team's outcomes are a few dozen to a few hundred dated deals; the validated AUC
decides whether the model is deployed at all (the guard: below 0.5 or below the fit score's own
AUC on the same outcomes). Each sample is `size` consecutive outcomes, `--per-day` a day; the
truth is the AUC, on the `future` outcomes that follow them, of the model fitted on the whole
sample (what a night deploys). The drifting table (bench/eval_model.py: the won share drifts
5 % -> 50 % along the file) is cut at random places of its own order; the other tables have no
time, so a random permutation of their rows is their order. Prints per table and size the root
mean square and the mean (bias) of each estimate's error, then per size over all tables and the
worst table's. Figures in docs/scoring.md ("Validation") and bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_model import LEAKY_OR_IDS, drifting_table, with_outcome  # noqa: E402
from eval_small_tables import by_size  # noqa: E402
from public_outcome_tables import table_arguments  # noqa: E402

from leadrank.scoring import model as M  # noqa: E402

ESTIMATES = ("later_quarter", "later_blocks")


def later_quarter(pipeline, X: pd.DataFrame, y: np.ndarray) -> float:
    """The former rule: trained on the earlier 75 % (rows are in date order), tested on the rest."""
    cut = int(len(y) * 0.75)
    if len(set(y[:cut])) < 2 or len(set(y[cut:])) < 2:
        return np.nan
    return roc_auc_score(y[cut:], clone(pipeline).fit(X.iloc[:cut], y[:cut]).predict_proba(X.iloc[cut:])[:, 1])


def later_blocks(pipeline, X: pd.DataFrame, y: np.ndarray, dates: pd.Series) -> float:
    """leadrank's validation of dated outcomes, as `evaluate_and_fit` reports it (`auc`)."""
    name, _, rows, p, _, groups = M._validate(clone(pipeline), X, y, dates)
    if not name.startswith("time"):
        return np.nan
    return M.validated_auc(y[rows], p, groups, by_pairs=True)[0]


def sample_errors(X0: pd.DataFrame, y0: np.ndarray, numeric: list[str], categorical: list[str], size: int,
                  future: int, draw: int, in_time: bool, per_day: int) -> dict[str, float] | None:
    rng = np.random.default_rng(draw)
    if in_time:  # a window of the table's own order, starting at a random place
        start = int(rng.integers(0, len(y0) - size - future))
        rows = np.arange(start, start + size + future)
    else:
        rows = rng.permutation(len(y0))[: size + future]
    sample, later = rows[:size], rows[size:]
    X, y = X0.iloc[sample].reset_index(drop=True), y0[sample]
    if min(y.sum(), size - y.sum()) < 8 or len(set(y0[later])) < 2:  # cold start: no model to validate
        return None
    dates = pd.Series(pd.date_range("2024-01-01", periods=-(-size // per_day), freq="D").repeat(per_day)[:size])
    pipeline = M.build_pipeline(numeric, categorical, size, M.onehot_width(X, numeric, categorical))
    with threadpool_limits(1):
        deployed = clone(pipeline).fit(X, y)
        truth = roc_auc_score(y0[later], deployed.predict_proba(X0.iloc[later].reset_index(drop=True))[:, 1])
        estimates = {"later_quarter": later_quarter(pipeline, X, y),
                     "later_blocks": later_blocks(pipeline, X, y, dates)}
    return {"truth": truth, **{k: v - truth for k, v in estimates.items()}}


def table_lines(name: str, raw: pd.DataFrame, target: str, positive: str, drop: list[str], sizes: list[int],
                draws: int, future: int, in_time: bool, per_day: int) -> list[dict]:
    table = M.outcome_table(raw.reset_index(drop=True), target, positive=[positive], drop=drop)
    X0 = M._as_frame(table.frame, table.numeric, table.categorical).reset_index(drop=True)
    y0 = table.y.astype(int).to_numpy()
    lines = []
    for size in sizes:
        future_here = min(future, len(y0) - size)  # (a small table: the rows it has after the sample)
        if future_here < 200:
            continue
        runs = [r for d in range(draws) if (r := sample_errors(X0, y0, table.numeric, table.categorical, size,
                                                               future_here, d, in_time, per_day))]
        if not runs:
            continue
        line = {"table": name, "size": size, "draws": len(runs),
                "truth": round(float(np.mean([r["truth"] for r in runs])), 4)}
        for k in ESTIMATES:
            errors = np.array([r[k] for r in runs], dtype=float)
            line[f"{k}_rmse"] = round(float(np.sqrt(np.nanmean(errors ** 2))), 4)
            line[f"{k}_bias"] = round(float(np.nanmean(errors)), 4)
        print(json.dumps(line), flush=True)
        lines.append(line)
    return lines


def summary(lines: list[dict]) -> None:
    for size, at in by_size(lines):
        parts = []
        for k in ESTIMATES:
            rmse = [line[f"{k}_rmse"] for line in at]
            worst = int(np.argmax(rmse))
            parts.append(f"{k} RMSE mean {np.mean(rmse):.4f}, worst {rmse[worst]:.4f} ({at[worst]['table']}), "
                         f"bias mean {np.mean([line[f'{k}_bias'] for line in at]):+.4f}")
        better = sum(line["later_blocks_rmse"] < line["later_quarter_rmse"] for line in at)
        print(f"{size} rows, {len(at)} tables: " + "; ".join(parts) + f"; blocks closer on {better} of {len(at)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--realdata", type=Path, default=Path(os.environ.get("LEADRANK_REALDATA", "../shared/realdata")))
    parser.add_argument("--public-tables", type=Path, metavar="DIR")
    parser.add_argument("--held-out-tables", type=Path, metavar="DIR")
    parser.add_argument("--sizes", default="60,120,240", help="outcomes validated, comma-separated")
    parser.add_argument("--draws", type=int, default=8, help="samples per table and size")
    parser.add_argument("--future", type=int, default=2000, help="outcomes after each sample the truth is taken on")
    parser.add_argument("--per-day", type=int, default=1,
                        help="outcomes sharing each date (a CRM's close dates: several deals a day)")
    parser.add_argument("--no-drifting", action="store_true", help="leave out the generated drifting table")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    warnings.filterwarnings("ignore", category=UserWarning)  # KBins on near-constant columns of small samples
    tables: list[tuple[str, pd.DataFrame, str, str, list[str], bool]] = []
    if not args.no_drifting:
        tables.append(("drifting", drifting_table(45_000), "y", "yes", [], True))
    x_education = args.realdata / "outcomes" / "x_education_leads.csv"
    if x_education.is_file():
        tables.append(("x_education", pd.read_csv(x_education, dtype=str, keep_default_na=False), "Converted", "1",
                       list(LEAKY_OR_IDS), False))
    else:
        print(f"no real data at {args.realdata}: X Education left out")
    for folder, held_out in ((args.public_tables, False), (args.held_out_tables, True)):
        if folder:
            for path, target, positive in table_arguments(folder, held_out):
                tables.append((Path(path).stem, pd.read_csv(path, dtype=str, keep_default_na=False), target, positive,
                               [], False))
    lines = []
    for name, raw, target, positive, drop, in_time in tables:
        raw = with_outcome(raw, target)
        raw = raw.drop(columns=[c for c in raw.columns if c == "" or c.startswith("Unnamed: ")])
        lines += table_lines(name, raw, target, positive, drop, sizes, args.draws, args.future, in_time, args.per_day)
    if not lines:
        raise SystemExit("no table large enough")
    summary(lines)


if __name__ == "__main__":
    main()
