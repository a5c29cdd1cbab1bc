"""Leave-one-set-out choice of a resolution setting: no value is chosen on the set it is scored on.

    python bench/loso_threshold.py --workdir /tmp/leadrank-eval-sets [--setting match_threshold]
        [--grid 4 4.5 5 5.5 6 7] [--learned]

Reads the sets as bench/eval_dedupe_sets.py writes them (WORKDIR/<set>/input.csv with a `truth`
column), deduplicates each in-process at every grid value, and for each set held out picks the
value that maximises the minimum F1 over the other sets (ties: the value nearest the current
default). Prints F1 per set and value, each held-out set's choice and its F1 there, and the value
that maximises the minimum over all sets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pairwise_f1 import pairwise_scores  # noqa: E402

from leadrank.config import ResolutionConfig  # noqa: E402
from leadrank.transform.normalise import normalise_records  # noqa: E402
from leadrank.transform.resolve import dedupe_frame  # noqa: E402
from leadrank.transform.table_input import records_from_table  # noqa: E402


def choose(f1: dict[str, dict[float, float]], held_out: str, default: float) -> float:
    """The grid value with the best minimum F1 over every set but `held_out`."""
    others = [s for s in f1 if s != held_out]
    grid = next(iter(f1.values())).keys()
    return max(grid, key=lambda v: (min(f1[s][v] for s in others), -abs(v - default)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--setting", default="match_threshold")
    parser.add_argument("--grid", type=float, nargs="+", default=[4.0, 4.5, 5.0, 5.5, 6.0, 7.0])
    parser.add_argument("--learned", action="store_true", help="with the learned (Fellegi-Sunter) weights")
    args = parser.parse_args()
    default = float(ResolutionConfig.model_fields[args.setting].default)
    f1: dict[str, dict[float, float]] = {}
    for folder in sorted(p for p in args.workdir.iterdir() if (p / "input.csv").exists()):
        table = pd.read_csv(folder / "input.csv", dtype=str, keep_default_na=False, na_values=[""])
        normalised = normalise_records(records_from_table(table.drop(columns=["truth"]), None))
        f1[folder.name] = {}
        for value in args.grid:
            cfg = ResolutionConfig(**{args.setting: value, "learned": args.learned})
            f1[folder.name][value] = pairwise_scores(table["truth"], dedupe_frame(normalised, cfg)["lead_id"])["f1"]
        print(folder.name, f1[folder.name], flush=True)
    for held in f1:
        value = choose(f1, held, default)
        print(f"held out {held}: {args.setting} {value} chosen on the others -> F1 {f1[held][value]}")
    best = max(args.grid, key=lambda v: (min(f1[s][v] for s in f1), -abs(v - default)))
    print(f"on all sets: {args.setting} {best} (minimum F1 {min(f1[s][best] for s in f1)})")


if __name__ == "__main__":
    main()
