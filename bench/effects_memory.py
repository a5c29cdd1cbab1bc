"""Peak memory of the per-lead explanations (`scoring.model.Explainer`) on leads whose
feature vectors are all distinct, the worst case: a model trained on 3,000 generated outcomes
(10 numbers, 3 categories), then the effects of every feature for N leads.

    python bench/effects_memory.py [--rows 200000] [--chunk ROWS]

`--chunk` overrides PREDICT_CHUNK_ROWS (a huge value gathers every feature's variants in one
frame, as before the batching). Prints peak RSS before and after the effects, CPU seconds and
a checksum of the effects (equal whatever the chunk)."""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from leadrank.scoring import model

NUMERIC = [f"x{i}" for i in range(10)]
CATEGORICAL = ["segment", "size", "region"]


def leads(rng: np.random.Generator, n: int) -> pd.DataFrame:
    frame = pd.DataFrame({col: rng.normal(size=n).round(3) for col in NUMERIC})
    frame["segment"] = rng.choice(list("abcdefg"), n)
    frame["size"] = rng.choice(["small", "medium", "large"], n)
    frame["region"] = rng.choice([f"r{i}" for i in range(30)], n)
    return frame


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=model.PREDICT_CHUNK_ROWS)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    train = leads(rng, 3000)
    won = pd.Series((train["x0"] + (train["segment"] == "a") + rng.normal(0, 1, len(train)) > 0.5).astype(int))
    result = model.evaluate_and_fit(train, won, NUMERIC, CATEGORICAL)
    frame = leads(rng, args.rows)
    model.PREDICT_CHUNK_ROWS = args.chunk
    before, started = peak_mb(), time.process_time()
    X = model.model_inputs(frame, NUMERIC, CATEGORICAL)
    effects = model.Explainer(result, model.typical_values(result, X)).explain(X)[1]
    print(f"rows {args.rows:,} chunk {args.chunk:,}: peak {before:,.0f} MB before the effects, {peak_mb():,.0f} MB after; "
          f"{time.process_time() - started:.1f} CPU s; checksum {effects.to_numpy().sum():.6f}")


if __name__ == "__main__":
    main()
