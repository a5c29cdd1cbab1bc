"""The outcome model on small outcome tables: random samples of each table (50-450 rows), the
weighted vote of its members against the plain logistic regression alone (the model below 500
outcomes until 7 December 2026, below SMALL_DATA_ROWS = 54 since) and the default
gradient-boosted model, each sample validated by the same shuffled stratified folds for all
three. Below 54 rows the vote is built as at 54 (its trees cannot split there: the 50-row
figures with them; docs/scoring.md's vote of the two logistic regressions alone at 50 rows was
measured with this script at a8e9f12).

    python bench/eval_small_tables.py [--realdata DIR] [--public-tables DIR] [--held-out-tables DIR]
        [--held-out-part development|rest|all] [--sizes 50,100,150,300,450] [--draws 8]

A key-account team has a few hundred won and lost deals. Prints one line per table and size (the
mean AUC over the draws of each model and of each vote member alone) and, per size, each model's
mean, its smallest lead over the default model (which table) and on how many tables it is under
it (docs/scoring.md, "Small outcome tables"). The held-out tables' first eight were developed on
(`--held-out-part development`), the other thirteen were not (`rest`).
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
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_model import LEAKY_OR_IDS, gbm_inputs, with_outcome  # noqa: E402
from public_outcome_tables import table_arguments  # noqa: E402

from leadrank.scoring import model as M  # noqa: E402

DEVELOPMENT_HELD_OUT = 8  # the held-out tables developed on (public_outcome_tables.py's HELD_OUT order)


def sample_aucs(raw: pd.DataFrame, target: str, positive: str, drop: list[str], seed: int) -> dict[str, float]:
    """Mean fold AUC of the vote, the logistic regression alone, the default model and each
    vote member alone, on one sample, all on the same folds."""
    table = M.outcome_table(raw, target, positive=[positive], drop=drop)
    X = M._as_frame(table.frame, table.numeric, table.categorical).reset_index(drop=True)
    y = table.y.astype(int).to_numpy()
    G = gbm_inputs(raw.reset_index(drop=True), target, drop)
    # the folds of leadrank's own validation (`_validate` below, as `model evaluate` draws them)
    cv = StratifiedKFold(n_splits=min(5, int(np.bincount(y).min())), shuffle=True, random_state=seed)
    splits = list(cv.split(np.zeros(len(y)), y))
    alone = Pipeline([("model", M._linear_model(table.numeric, table.categorical, len(y)))])
    vote = M.build_pipeline(table.numeric, table.categorical, max(len(y), M.SMALL_DATA_ROWS),
                            M.onehot_width(X, table.numeric, table.categorical))
    linear, default = np.empty(len(y)), np.empty(len(y))
    for train, test in splits:
        linear[test] = clone(alone).fit(X.iloc[train], y[train]).predict_proba(X.iloc[test])[:, 1]
        gbm = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
        default[test] = gbm.fit(G.iloc[train], y[train]).predict_proba(G.iloc[test])[:, 1]
    _, _, _, voted, scores, _ = M._validate(vote, X, y, None, seed)  # the members' out-of-fold scores beside

    def auc(p: np.ndarray) -> float:
        return float(np.mean([roc_auc_score(y[test], p[test]) for _, test in splits]))

    out = {"vote": auc(voted), "linear_alone": auc(linear), "default_gbm": auc(default)}
    for k, (name, _) in enumerate(vote.named_steps["model"].estimator.estimators):
        out[f"member_{name}"] = auc(scores[:, k])
    return out


def table_lines(path: Path, target: str, positive: str, drop: list[str], sizes: list[int], draws: int
                ) -> list[dict]:
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    drop = [*drop, *(c for c in raw.columns if c == "" or c.startswith("Unnamed: "))]
    raw = with_outcome(raw, target)
    lines = []
    for size in sizes:
        if size >= len(raw):
            continue
        runs = []
        for draw in range(draws):
            sample = raw.sample(n=size, random_state=100 + draw).reset_index(drop=True)
            won = (sample[target].str.strip() == positive).sum()
            if min(won, size - won) < 8:  # the cold-start floor: no model
                continue
            with threadpool_limits(1):
                runs.append(sample_aucs(sample, target, positive, drop, draw))
        if runs:
            line = {"table": path.stem, "size": size, "draws": len(runs),
                    **{k: round(float(np.mean([r[k] for r in runs])), 4) for k in runs[0]}}
            print(json.dumps(line), flush=True)
            lines.append(line)
    return lines


def by_size(lines: list[dict]) -> list[tuple[int, list[dict]]]:
    """The tables' lines grouped by sample size, smallest first (what each summary line is over)."""
    sizes = sorted({line["size"] for line in lines})
    return [(size, [line for line in lines if line["size"] == size]) for size in sizes]


def summary(lines: list[dict]) -> None:
    for size, at in by_size(lines):
        for model in ("vote", "linear_alone"):
            lead = [line[model] - line["default_gbm"] for line in at]
            worst = int(np.argmin(lead))
            print(f"{size} rows, {model}: mean AUC {np.mean([line[model] for line in at]):.4f}, lead over the default "
                  f"model mean {np.mean(lead):+.4f}, min {lead[worst]:+.4f} ({at[worst]['table']}), under it on "
                  f"{sum(v < 0 for v in lead)} of {len(at)} tables")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--realdata", type=Path, default=Path(os.environ.get("LEADRANK_REALDATA", "../shared/realdata")))
    parser.add_argument("--public-tables", type=Path, metavar="DIR")
    parser.add_argument("--held-out-tables", type=Path, metavar="DIR")
    parser.add_argument("--held-out-part", choices=["development", "rest", "all"], default="all",
                        help="the held-out tables' first eight (developed on), the other thirteen, or all")
    parser.add_argument("--sizes", default="50,100,150,300,450", help="sample sizes, comma-separated")
    parser.add_argument("--draws", type=int, default=8, help="samples per table and size")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    tables: list[tuple[Path, str, str, list[str]]] = []
    x_education = args.realdata / "outcomes" / "x_education_leads.csv"
    if x_education.is_file():
        tables.append((x_education, "Converted", "1", list(LEAKY_OR_IDS)))
    else:
        print(f"no real data at {args.realdata}: X Education left out")
    if args.public_tables:
        tables += [(Path(p), t, w, []) for p, t, w in table_arguments(args.public_tables)]
    if args.held_out_tables:
        held = table_arguments(args.held_out_tables, True)
        part = {"development": held[:DEVELOPMENT_HELD_OUT], "rest": held[DEVELOPMENT_HELD_OUT:], "all": held}
        tables += [(Path(p), t, w, []) for p, t, w in part[args.held_out_part]]
    warnings.filterwarnings("ignore", category=UserWarning)  # KBins on near-constant columns of small samples
    lines = [line for path, target, positive, drop in tables
             for line in table_lines(path, target, positive, drop, sizes, args.draws)]
    if not lines:
        raise SystemExit("no table: give --public-tables or --held-out-tables (bench/public_outcome_tables.py)")
    summary(lines)


if __name__ == "__main__":
    main()
