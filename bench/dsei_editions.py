"""Which DSEI 2023 exhibitors come back in 2025: cross-edition links and near-misses for hand checking.

    python bench/dsei_editions.py [--out /tmp/dsei]   # reads ../shared/realdata (env LEADRANK_REALDATA)

Both exhibitor lists go through the same stage as `leadrank dedupe` (normalise_records →
resolve). A link is a lead holding records of both editions; a near-miss is a cross-edition
pair whose names are alike, scored within 4 points below the threshold but not joined. Writes
links.csv and near_misses.csv (name 2023, name 2025, countries, score, evidence) and, because
some organisations share one website (several army units on one domain) and must stay apart,
shared_websites.csv: every domain of the 2019 and 2025 lists used by more than one lead. Skips cleanly when the
real data is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from leadrank.config import ResolutionConfig
from leadrank.contracts import EXTRACTED
from leadrank.transform.matching import Features, candidate_pairs, score_pairs
from leadrank.transform.normalise import normalise_records
from leadrank.transform.resolve import resolve

REALDATA = Path(os.environ.get("LEADRANK_REALDATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata"))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/dsei"))
    args = parser.parse_args()
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
