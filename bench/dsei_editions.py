"""Which DSEI 2023 exhibitors come back in 2025: cross-edition links and near-misses for hand checking.

    python bench/dsei_editions.py [--out /tmp/dsei]   # reads ../shared/realdata (env LEADRANK_REALDATA)

Both exhibitor lists go through the same stage as `leadrank dedupe` (normalise_records →
resolve). A link is a lead holding records of both editions; a near-miss is a cross-edition
pair whose names are alike, scored within 4 points below the threshold but not joined. Writes
links.csv and near_misses.csv (name 2023, name 2025, countries, score, evidence) and, because
some organisations share one website (several army units on one domain) and must stay apart,
shared_websites.csv: every domain of the 2019 and 2025 lists used by more than one lead. Skips cleanly when the
real data is absent.

The labelled cross-edition set of issue 14 (truth that no matcher under test made; bench/labels/README.md):

    python bench/dsei_editions.py --propose /tmp/dsei_review.csv   # candidate pairs with names, for review
    python bench/dsei_editions.py --eval-csv /tmp/dsei_eval.csv    # both editions + `truth` from the labels
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from leadrank.config import ResolutionConfig
from leadrank.contracts import EXTRACTED
from leadrank.transform.matching import Features, candidate_pairs, score_pairs
from leadrank.transform.normalise import normalise_records
from leadrank.transform.resolve import resolve

REALDATA = Path(os.environ.get("LEADRANK_REALDATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata"))
LABELS = Path(__file__).resolve().parent / "labels" / "dsei_2023_2025.csv"
LABEL_COLUMNS = ["edition_a", "row_a", "edition_b", "row_b", "same", "how", "check"]
# Legal forms and fillers dropped before proposing pairs, so that "X Ltd" and "X" meet.
_FILLERS = re.compile(r"\b(ltd|limited|plc|gmbh|co kg|kg|ag|inc|llc|corp|corporation|sa|sas|sarl|srl|spa|bv|nv|"
                      r"ab|as|oy|oyj|pty|pte|sp z o o|sro|a s|kft|co|company|group|the)\b")


def edition(year: int) -> pd.DataFrame:
    data = json.loads((REALDATA / "exhibitions" / f"caat_dsei-{year}.json").read_text(encoding="utf-8"))
    rows = []
    for i, item in enumerate(data["exhibitor"]):
        place = item.get("address") or item.get("country") or {}
        place = place if isinstance(place, dict) else {"text": place}
        rows.append({"record_key": f"dsei{year}-{i:05d}", "source": f"dsei-{year}", "source_kind": "exhibition",
                     "company_name": item.get("name"), "website": item.get("website"),
                     "country": place.get("iso2"), "address": None})
    return pd.DataFrame(rows).reindex(columns=EXTRACTED).astype(object)


# --- the labelled 2023 ↔ 2025 set ------------------------------------------------------------------

def editions_for_labels(realdata: Path) -> pd.DataFrame | None:
    """Both editions' rows as published, by edition and row index (the labels' key); None when absent."""
    rows = []
    for year in (2023, 2025):
        path = realdata / "exhibitions" / f"caat_dsei-{year}.json"
        if not path.exists():
            return None
        for i, item in enumerate(json.loads(path.read_text(encoding="utf-8"))["exhibitor"]):
            place = item.get("address") or item.get("country") or {}
            place = place if isinstance(place, dict) else {"text": place}
            address = place.get("text") if item.get("address") else None
            rows.append({"edition": year, "row": i, "company_name": item.get("name") or "",
                         "country": place.get("iso2") or "", "website": item.get("website") or "",
                         "address": ", ".join((address or "").split("\n")), "source": f"dsei-{year}",
                         "category": "; ".join(item.get("category") or [])})
    return pd.DataFrame(rows)


def _plain(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return " ".join(_FILLERS.sub(" ", re.sub(r"[^a-z0-9]+", " ", text)).split())


def pair_check(name_a: str, name_b: str) -> str:
    """A short hash of the two names: the labels stay free of names yet notice a changed file."""
    return hashlib.sha1(f"{name_a}\x1f{name_b}".encode()).hexdigest()[:10]


def propose_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    """Every pair of rows whose names could be one company, for a person to decide: the plain
    names are equal once spaces are dropped ("Blackspace" / "Black Space", "E M" / "EM"), or
    nearly so (Levenshtein ratio ≥ 90 without spaces), or their distinctive words (those in
    fewer than 8 names) are alike (ratio ≥ 80, or one set of them inside the other). Generous
    on purpose; the decision is the reviewer's, and "identical plain name, same country" is
    decided as same."""
    plain = [_plain(n) for n in frame["company_name"]]
    frequency = Counter(t for n in plain for t in set(n.split()))
    distinct = [" ".join(t for t in n.split() if frequency[t] < 8) for n in plain]
    upper = np.triu_indices(len(frame), 1)
    ratio = process.cdist(distinct, distinct, scorer=fuzz.ratio, workers=-1, dtype=np.uint8)[upper]
    inside = process.cdist(distinct, distinct, scorer=fuzz.token_set_ratio, workers=-1, dtype=np.uint8)[upper]
    a, b = upper
    joined = [n.replace(" ", "") for n in plain]
    close = process.cdist(joined, joined, scorer=fuzz.ratio, workers=-1, dtype=np.uint8)[upper] >= 90
    equal = np.array([joined[x] == joined[y] and joined[x] != "" for x, y in zip(a, b, strict=True)])
    worded = np.array([bool(distinct[x]) and bool(distinct[y]) for x, y in zip(a, b, strict=True)])
    keep = np.flatnonzero(equal | close | (worded & ((ratio >= 80) | (inside >= 100))))
    left, right = frame.iloc[a[keep]].reset_index(drop=True), frame.iloc[b[keep]].reset_index(drop=True)
    same_country = (left["country"] == right["country"]) & (left["country"] != "")
    proposals = pd.DataFrame({"edition_a": left["edition"], "row_a": left["row"], "edition_b": right["edition"],
                              "row_b": right["row"], "auto": np.where(equal[keep] & same_country, "identical-name", ""),
                              "name_a": left["company_name"], "name_b": right["company_name"],
                              "country_a": left["country"], "country_b": right["country"],
                              "evidence_a": (left["address"] + " " + left["website"]).str.strip(),
                              "evidence_b": (right["address"] + " " + right["website"]).str.strip()})
    proposals["check"] = [pair_check(x, y) for x, y in zip(proposals["name_a"], proposals["name_b"], strict=True)]
    return proposals


def evaluation_frame(realdata: Path, labels: Path = LABELS) -> pd.DataFrame | None:
    """Both editions with `truth`: connected components of the pairs labelled same (1); rows in a
    pair the reviewer could not decide (-1) are left out. Raises when a label's names no longer
    hash as labelled (the published file changed under the labels) or when a pair labelled
    different (0) ends up in one component through other pairs (labels contradicting each other)."""
    frame = editions_for_labels(realdata)
    if frame is None:
        return None
    pairs = pd.read_csv(labels, dtype={"how": str, "check": str})
    position = {(e, r): i for i, (e, r) in enumerate(zip(frame["edition"], frame["row"], strict=True))}
    a = np.array([position[k] for k in zip(pairs["edition_a"], pairs["row_a"], strict=True)])
    b = np.array([position[k] for k in zip(pairs["edition_b"], pairs["row_b"], strict=True)])
    names = frame["company_name"].to_numpy()
    stale = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if pair_check(names[x], names[y]) != pairs["check"][i]]
    if stale:
        raise ValueError(f"{len(stale)} DSEI labels no longer match the published names (first: line {stale[0] + 2} "
                         f"of {labels}); the lists under {realdata} changed")
    same = pairs["same"].to_numpy()
    linked = same == 1
    graph = coo_matrix((np.ones(int(linked.sum())), (a[linked], b[linked])), shape=(len(frame), len(frame)))
    _, component = connected_components(graph, directed=False)
    apart = same == 0
    contradicted = np.flatnonzero(apart & (component[a] == component[b]))
    if len(contradicted):
        raise ValueError(f"{len(contradicted)} pairs labelled different are joined through other labels "
                         f"(first: line {contradicted[0] + 2} of {labels})")
    frame["truth"] = [f"dsei-{c:05d}" for c in component]
    undecided = np.zeros(len(frame), dtype=bool)
    undecided[a[same == -1]] = undecided[b[same == -1]] = True
    return frame[~undecided].drop(columns=["category"]).reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/dsei"))
    parser.add_argument("--propose", type=Path, help="write candidate pairs (with names: keep outside the repo)")
    parser.add_argument("--eval-csv", type=Path, help="write the labelled 2023 + 2025 evaluation CSV")
    args = parser.parse_args()
    if args.propose or args.eval_csv:
        frame = editions_for_labels(REALDATA)
        if frame is None:
            print(f"skipping: DSEI lists not found under {REALDATA} (set LEADRANK_REALDATA)", file=sys.stderr)
        elif args.propose:
            propose_pairs(frame).to_csv(args.propose, index=False)
        else:
            evaluation_frame(REALDATA).to_csv(args.eval_csv, index=False)
        return
    if not (REALDATA / "exhibitions" / "caat_dsei-2023.json").exists():
        print(f"skipping: DSEI lists not found under {REALDATA} (set LEADRANK_REALDATA)", file=sys.stderr)
        return
    cfg = ResolutionConfig()
    records = pd.concat([edition(2023), edition(2025)], ignore_index=True)
    records = records.where(records.notna(), None)
    normalised = normalise_records(records)
    result = resolve(normalised, cfg).records
    year = result["source"].str[-4:]
    editions = result.groupby("lead_id")["source"].nunique()
    both = set(editions[editions == 2].index)
    args.out.mkdir(parents=True, exist_ok=True)

    links = []
    for lead, group in result[result["lead_id"].isin(both)].groupby("lead_id"):
        old, new = group[year[group.index] == "2023"], group[year[group.index] == "2025"]
        links.append({"lead_id": lead, "name_2023": " | ".join(old["company_name"]), "name_2025": " | ".join(new["company_name"]),
                      "country_2023": old["country_iso2"].iloc[0], "country_2025": new["country_iso2"].iloc[0],
                      "evidence": "; ".join(e for e in group["match_evidence"] if e)})
    links = pd.DataFrame(links)
    links.to_csv(args.out / "links.csv", index=False)

    features = Features(normalised, cfg.shared_key_names)
    left, right = candidate_pairs(features, cfg)
    pairs = score_pairs(features, left, right, cfg)
    lead = result["lead_id"].to_numpy()
    src = normalised["source"].to_numpy()
    named = pairs.features["name~"] | pairs.features["name="] | pairs.features["name⊂"]  # names alike, not just a country
    near = np.flatnonzero((pairs.score < cfg.match_threshold) & (pairs.score >= cfg.match_threshold - 4) & named
                          & (src[pairs.left] != src[pairs.right]) & (lead[pairs.left] != lead[pairs.right]))
    names = normalised["company_name"].to_numpy()
    country = normalised["country_iso2"].to_numpy()
    misses = pd.DataFrame({
        "name_2023": names[pairs.left[near]], "name_2025": names[pairs.right[near]],
        "country_2023": country[pairs.left[near]], "country_2025": country[pairs.right[near]],
        "score": pairs.score[near], "evidence": pairs.evidence(near)}).sort_values("score", ascending=False)
    misses.to_csv(args.out / "near_misses.csv", index=False)

    # Websites: 2025 as linked above, and 2019 (the other edition that lists them) on its own.
    older = resolve(normalise_records(edition(2019).where(lambda f: f.notna(), None)), cfg).records
    web = pd.concat([result[(year == "2025") & result["domain"].notna()].assign(edition=2025),
                     older[older["domain"].notna()].assign(edition=2019)], ignore_index=True)
    by_domain = web.groupby(["edition", "domain"])
    shared = web[by_domain["lead_id"].transform("nunique") > 1]
    shared[["edition", "domain", "lead_id", "company_name", "website"]].sort_values(["edition", "domain", "lead_id"]).to_csv(
        args.out / "shared_websites.csv", index=False)
    merged_on_shared = web[by_domain["lead_id"].transform("size") > by_domain["lead_id"].transform("nunique")]

    print(f"DSEI 2023: {int((year == '2023').sum())} exhibitors, 2025: {int((year == '2025').sum())}")
    print(f"companies in both editions (linked): {len(links)}")
    print(f"near-misses (cross-edition pairs within 4 points of the threshold): {len(misses)}")
    print(f"DSEI 2019 and 2025 domains used by several leads: {len(shared.groupby(['edition', 'domain']))} "
          f"({len(shared)} records kept apart, e.g. the units on mod.uk); records of one lead sharing a domain: "
          f"{len(merged_on_shared)}")
    print(f"written to {args.out}/links.csv, near_misses.csv, shared_websites.csv")


if __name__ == "__main__":
    main()
