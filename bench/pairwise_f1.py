"""Pairwise precision, recall and F1 of a clustering against a truth column.

    python bench/pairwise_f1.py OUT.csv --truth "True Id" [--pred lead_id]

Two rows form a pair when they share a label; precision is the share of predicted pairs that
are true pairs, recall the share of true pairs that were predicted. Counting is done per
cluster pair (sizes multiplied), so it is exact and fast at a million rows.
"""

from __future__ import annotations

import argparse
import json

import pandas as pd


def pair_count(sizes: pd.Series) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def pairwise_scores(truth: pd.Series, pred: pd.Series) -> dict[str, float]:
    frame = pd.DataFrame({"t": truth.astype(str).to_numpy(), "p": pred.astype(str).to_numpy()})
    true_pairs = pair_count(frame.groupby("t").size())
    pred_pairs = pair_count(frame.groupby("p").size())
    both = pair_count(frame.groupby(["t", "p"]).size())
    precision = both / pred_pairs if pred_pairs else 1.0
    recall = both / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"rows": len(frame), "true_pairs": true_pairs, "predicted_pairs": pred_pairs, "correct_pairs": both,
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--truth", required=True, help="column with the true entity id")
    parser.add_argument("--pred", default="lead_id", help="column with the predicted cluster id")
    args = parser.parse_args()
    frame = pd.read_csv(args.csv, dtype=str, keep_default_na=False)
    print(json.dumps(pairwise_scores(frame[args.truth], frame[args.pred])))


if __name__ == "__main__":
    main()
