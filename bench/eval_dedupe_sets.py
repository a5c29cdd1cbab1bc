"""Entity resolution on every labelled set, each reported on its own and the minimum across them.

    python bench/eval_dedupe_sets.py [--realdata DIR] [--sizes 10k] [--no-splink] [--sets chicago dsei ...]

Issue 14's discipline: a matcher is only as good as its worst set. The sets are
- chicago: the Chicago childcare providers (real, hand-made `True Id`; columns mapped as in bench/README.md),
- dsei: DSEI 2023 ↔ 2025 exhibitors (real; truth from bench/labels/dsei_2023_2025.csv, see bench/labels/README.md),
- generated-SIZE: bench/generate.py (the project's own generator),
- independent-SIZE and independent-names-SIZE: bench/generate_independent.py, full and names-only.
Sets whose real data is absent are skipped. Every set is first written as one CSV with the field
names `leadrank dedupe` reads and a `truth` column, so that each method reads the same rows:
- leadrank: `leadrank dedupe` as a whole process (wall seconds and peak RSS of the child);
- baseline: rapidfuzz token_set_ratio ≥ 95 on plainly normalised names (NFKC, case-folded,
  punctuation to spaces) + connected components; identical names are one node, and names are
  compared when they share a token carried by at most BLOCK_CAP distinct names (single-token
  names also by their first four characters), so it runs in seconds;
- splink: bench/splink_dedupe.py (Splink 5, DuckDB), unless --no-splink or not installed.
Pairwise P/R/F1 as bench/pairwise_f1.py counts them. Prints a markdown table and writes JSON
to bench/results/eval-sets-<time>.json. Nothing is tuned here: every method runs as shipped.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import unicodedata
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate_independent  # noqa: E402
from dsei_editions import evaluation_frame  # noqa: E402
from generate import generate, parse_size  # noqa: E402
from pairwise_f1 import pairwise_scores  # noqa: E402
from run import measure, splink_alone  # noqa: E402

import leadrank  # noqa: E402

FIELDS = ["company_name", "website", "phone", "email", "address", "city", "province", "country", "uscc", "source"]
CHICAGO_MAP = {"Site name": "company_name", "Address": "address", "Phone": "phone", "Website": "website",
               "Email Address": "email", "Source": "source", "True Id": "truth"}
BLOCK_CAP = 300
THRESHOLD = 95
METHODS = ["leadrank", "baseline", "splink"]


# --- the sets ---------------------------------------------------------------------------------------

def canonical(frame: pd.DataFrame, truth: str) -> pd.DataFrame:
    """Every field leadrank reads ('' where the set has none: Splink's script wants them all) and
    `truth`, as strings."""
    return frame.reindex(columns=FIELDS, fill_value="").fillna("").astype(str).assign(truth=frame[truth].astype(str).to_numpy())


def build_sets(realdata: Path, sizes: list[str], seed: int, wanted: set[str] | None) -> dict[str, pd.DataFrame]:
    sets: dict[str, pd.DataFrame] = {}

    def want(name: str) -> bool:
        return wanted is None or name in wanted or name.rsplit("-", 1)[0] in wanted

    chicago = realdata / "dedupe" / "chicago_childcare_with_true_ids.csv"
    if want("chicago"):
        if chicago.exists():
            raw = pd.read_csv(chicago, dtype=str, keep_default_na=False)
            sets["chicago"] = canonical(raw.rename(columns=CHICAGO_MAP), "truth")
        else:
            print(f"skipping chicago: {chicago} not found", file=sys.stderr)
    if want("dsei"):
        dsei = evaluation_frame(realdata)
        if dsei is None:
            print(f"skipping dsei: DSEI lists not found under {realdata}", file=sys.stderr)
        else:
            sets["dsei"] = canonical(dsei, "truth")
    for size in sizes:
        if want(f"generated-{size}"):
            sets[f"generated-{size}"] = canonical(generate(parse_size(size), seed), "true_id")
        if want(f"independent-{size}"):
            sets[f"independent-{size}"] = canonical(generate_independent.generate(parse_size(size), seed), "true_id")
        if want(f"independent-names-{size}"):
            names = generate_independent.generate(parse_size(size), seed, names_only=True)
            sets[f"independent-names-{size}"] = canonical(names, "true_id")
    return sets


# --- the plain baseline ---------------------------------------------------------------------------------

def plain_name(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).casefold()
    return " ".join(re.sub(r"[^\w]+|_", " ", text).split())


def baseline_clusters(names: pd.Series, threshold: int = THRESHOLD, cap: int = BLOCK_CAP) -> np.ndarray:
    """Cluster labels: token_set_ratio ≥ threshold between blocked distinct names, then
    connected components. Identical plain names share a label; empty names are each alone."""
    plain = names.fillna("").astype(str).map(plain_name)
    distinct, node = np.unique(plain.to_numpy(), return_inverse=True)
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(distinct):
        tokens = set(name.split())
        for token in tokens:
            blocks[token].append(i)
        if len(tokens) == 1:
            blocks["\0" + name[:4]].append(i)
    left, right = [], []
    seen: set[tuple[int, int]] = set()
    for members in blocks.values():
        if len(members) < 2 or len(members) > cap:
            continue
        for x in range(len(members)):
            a = members[x]
            for b in members[x + 1:]:
                if (a, b) in seen:
                    continue
                seen.add((a, b))
                if distinct[a] and distinct[b] and fuzz.token_set_ratio(distinct[a], distinct[b]) >= threshold:
                    left.append(a)
                    right.append(b)
    n = len(distinct)
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    labels = labels[node]
    empty = np.flatnonzero(plain.to_numpy() == "")
    labels[empty] = labels.max(initial=0) + 1 + np.arange(len(empty))
    return labels


# --- running -----------------------------------------------------------------------------------------

def leadrank_command() -> str:
    candidate = Path(sys.executable).parent / "leadrank"
    return str(candidate) if candidate.exists() else "leadrank"


def scores(truth: pd.Series, pred: pd.Series | np.ndarray) -> dict:
    found = pairwise_scores(truth.reset_index(drop=True), pd.Series(pred))
    return {k: found[k] for k in ("rows", "precision", "recall", "f1")}


def run_set(name: str, frame: pd.DataFrame, workdir: Path, use_splink: bool) -> dict:
    folder = workdir / name
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "input.csv"
    frame.to_csv(csv, index=False)
    truth = frame["truth"]
    result: dict = {"records": len(frame), "entities": int(truth.nunique())}

    out = folder / "leadrank.csv"
    figures = measure([leadrank_command(), "dedupe", str(csv), "-o", str(out)])
    lead = pd.read_csv(out, dtype=str, keep_default_na=False, usecols=["lead_id"])["lead_id"]
    result["leadrank"] = {**{k: figures[k] for k in ("seconds", "cpu_seconds", "peak_mb")}, **scores(truth, lead)}

    started = time.perf_counter()
    labels = baseline_clusters(frame["company_name"])
    result["baseline"] = {"seconds": round(time.perf_counter() - started, 2), **scores(truth, labels)}

    if use_splink:
        found = splink_alone(csv, folder, truth.reset_index(drop=True), sys.executable)
        result["splink"] = {k: found[k] for k in ("skipped", "seconds", "cpu_seconds", "peak_mb", "version",
                                                  "precision", "recall", "f1") if k in found}
    return result


def minimum(report: dict, method: str) -> dict | None:
    scored = {name: r[method] for name, r in report.items() if "f1" in r.get(method, {})}
    if not scored:
        return None
    worst = min(scored, key=lambda name: scored[name]["f1"])
    return {"set": worst, **{k: scored[worst][k] for k in ("precision", "recall", "f1")}}


def markdown(report: dict) -> str:
    methods = [m for m in METHODS if any(m in r for r in report.values())]
    lines = ["| set | records | entities | " + " | ".join(f"{m} P / R / F1" for m in methods) + " | leadrank s, MB | splink s, MB |",
             "|---|---|---|" + "---|" * len(methods) + "---|---|"]
    for name, r in report.items():
        cells = []
        for m in methods:
            got = r.get(m, {})
            cells.append(f"{got['precision']:.3f} / {got['recall']:.3f} / **{got['f1']:.3f}**" if "f1" in got
                         else got.get("skipped", "–")[:70])
        resources = [f"{r[m]['seconds']}, {r[m]['peak_mb']}" if "peak_mb" in r.get(m, {}) else "–"
                     for m in ("leadrank", "splink")]
        lines.append(f"| {name} | {r['records']:,} | {r['entities']:,} | " + " | ".join(cells + resources) + " |")
    worst = []
    for m in methods:
        low = minimum(report, m)
        worst.append(f"**{low['f1']:.3f}** ({low['set']})" if low else "–")
    lines.append("| **minimum** | | | " + " | ".join(worst) + " | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path,
                        default=Path(os.environ.get("LEADRANK_REALDATA", HERE.parent / ".." / "shared" / "realdata")))
    parser.add_argument("--sizes", nargs="+", default=["10k"], help="companies per generated set")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--splink", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the Splink 5 reference (bench/requirements-splink.txt)")
    parser.add_argument("--sets", nargs="+", help="only these sets (chicago, dsei, generated, independent, "
                        "independent-names, or a name with its size)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/leadrank-eval-sets"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    sets = build_sets(args.realdata, args.sizes, args.seed, set(args.sets) if args.sets else None)
    if not sets:
        parser.error(f"no set to run (--sets {' '.join(args.sets or [])}; real data under {args.realdata})")
    report = {}
    for name, frame in sets.items():
        print(f"{name}: {len(frame):,} records …", file=sys.stderr, flush=True)
        report[name] = run_set(name, frame, args.workdir, args.splink)
        print(json.dumps({name: report[name]}), file=sys.stderr, flush=True)
    table = markdown(report)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    code = Path(leadrank.__file__).resolve().parents[1]  # which checkout's matcher ran (PYTHONPATH decides)
    commit = subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    summary = {"sets": report, "minimum": {m: minimum(report, m) for m in METHODS},
               "leadrank": {"path": str(code), "commit": commit.stdout.strip()}}
    (args.out / f"eval-sets-{stamp}.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(f"\nwritten to {args.out}/eval-sets-{stamp}.json", file=sys.stderr)


if __name__ == "__main__":
    main()
