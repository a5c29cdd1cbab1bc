"""Whether two `leadrank dedupe` outputs of one input assign the same leads: row by row the
same lead_id, and the same clusters (a partition check that holds even when IDs were renamed).

    python bench/compare_leads.py before.csv after.csv

Exit status 0 when both hold; used to show that a structural change (memory, speed) left the
resolution untouched, e.g. on `dedupe_scale.py`'s deduped-100k.csv before and after.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    args = parser.parse_args()
    a = pd.read_csv(args.before, dtype=str, keep_default_na=False, usecols=["lead_id"])["lead_id"]
    b = pd.read_csv(args.after, dtype=str, keep_default_na=False, usecols=["lead_id"])["lead_id"]
    if len(a) != len(b):
        sys.exit(f"different row counts: {len(a)} and {len(b)}")
    same_ids = int((a.to_numpy() == b.to_numpy()).sum())
    # Same partition: each cluster of one is exactly one cluster of the other.
    pairs = pd.DataFrame({"a": a, "b": b}).drop_duplicates()
    same_clusters = not pairs["a"].duplicated().any() and not pairs["b"].duplicated().any()
    print(f"{len(a)} rows: {same_ids} with the same lead_id, {a.nunique()} and {b.nunique()} leads, "
          f"same clusters: {same_clusters}")
    sys.exit(0 if same_ids == len(a) and same_clusters else 1)


if __name__ == "__main__":
    main()
