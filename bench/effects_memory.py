"""Peak memory of the per-lead explanations (`scoring.model.Explainer`) on leads whose
feature vectors are all distinct, the worst case: a model trained on 3,000 generated outcomes
(10 numbers, 3 categories), then the effects of every feature for N leads.

    python bench/effects_memory.py [--rows 200000] [--chunk ROWS]

`--chunk` overrides PREDICT_CHUNK_ROWS (a huge value gathers every feature's variants in one
frame, as before the batching). `--threads` overrides PREDICT_THREADS (0: the libraries' own
count, one per core) and `--busy N` keeps N other processes busy meanwhile (the other work of a
shared machine, or the staging thread beside the nightly step). Prints peak RSS before and
after the effects, wall and CPU seconds and a checksum of the effects (equal whatever the
chunk or threads)."""

from __future__ import annotations

import argparse
import multiprocessing
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
    parser.add_argument("--threads", type=int, default=model.PREDICT_THREADS or 0,
                        help="BLAS and OpenMP threads while predicting; 0: the libraries' own")
    parser.add_argument("--busy", type=int, default=0, help="other processes kept busy meanwhile")
    args = parser.parse_args()
    busy = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.busy)]
    for process in busy:
        process.start()
    rng = np.random.default_rng(0)
    train = leads(rng, 3000)
    won = pd.Series((train["x0"] + (train["segment"] == "a") + rng.normal(0, 1, len(train)) > 0.5).astype(int))
    result = model.evaluate_and_fit(train, won, NUMERIC, CATEGORICAL)
    frame = leads(rng, args.rows)
    model.PREDICT_CHUNK_ROWS = args.chunk
    model.PREDICT_THREADS = args.threads or None
    before, started, wall = peak_mb(), time.process_time(), time.perf_counter()
    X = model.model_inputs(frame, NUMERIC, CATEGORICAL)
    effects = model.Explainer(result, model.typical_values(result, X)).explain(X)[1]
    print(f"rows {args.rows:,} chunk {args.chunk:,} threads {args.threads or 'default'} busy {args.busy}: "
          f"peak {before:,.0f} MB before the effects, {peak_mb():,.0f} MB after; "
          f"{time.perf_counter() - wall:.1f} s, {time.process_time() - started:.1f} CPU s; "
          f"checksum {effects.to_numpy().sum():.6f}")
    for process in busy:
        process.terminate()


def spin() -> None:
    """A process that keeps one core busy."""
    while True:
        pass


if __name__ == "__main__":
    main()
