"""Countries from addresses' last lines, against the geocoded country of the real exhibitor lists.

    .venv/bin/python bench/eval_country_lines.py [--realdata DIR]   # default ../shared/realdata

The CAAT exhibitor files give most addresses as lines ("…\\nVilnius\\nLT-08237\\nLithuania") with
an `iso2` geocoded independently of the text. For every multi-line address with an iso2, as if
the source declared the address and no country:
  - taken: the last line was taken off as the country (leadrank.extractors.fields.split_country_line),
    and how often that country is the geocoded one (precision);
  - country_iso2 after normalisation (every kind of evidence: address line, website ccTLD, …)
    equal to the geocoded one, beside the same records normalised with the address left whole
    (the behaviour before country lines were read; the baseline);
  - the commonest last lines not taken, for checking by hand which of them name a country.
Skips cleanly when the real data is absent.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from pathlib import Path

import pandas as pd

from leadrank.contracts import EXTRACTED
from leadrank.countries import country_code
from leadrank.extractors.fields import split_country_line
from leadrank.transform.normalise import normalise_records

ROOT = Path(__file__).resolve().parents[1]


def entries(realdata: Path) -> pd.DataFrame:
    rows = []
    for path in sorted((realdata / "exhibitions").glob("caat_*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8"))["exhibitor"]:
            address = entry.get("address")
            if not isinstance(address, dict) or not address.get("iso2") or not isinstance(address.get("text"), str):
                continue
            if len([line for line in address["text"].splitlines() if line.strip()]) < 2:
                continue
            rows.append({"file": path.stem, "company_name": entry.get("name"), "address": address["text"],
                         "website": entry.get("website"), "iso2": address["iso2"].upper()})
    return pd.DataFrame(rows)


def normalised_countries(frame: pd.DataFrame, address: pd.Series, country: pd.Series) -> pd.Series:
    records = pd.DataFrame({c: pd.Series([None] * len(frame), dtype=object) for c in EXTRACTED})
    records["company_name"], records["website"] = frame["company_name"].to_numpy(), frame["website"].to_numpy()
    records["address"], records["country"] = address.to_numpy(), country.to_numpy()
    records["run_id"], records["source"], records["source_kind"] = "eval", "caat", "exhibition"
    records["record_key"] = [str(i) for i in range(len(records))]
    return normalise_records(records)["country_iso2"].reset_index(drop=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--realdata", default=os.environ.get("LEADRANK_REALDATA", str(ROOT.parent / "shared" / "realdata")))
    realdata = Path(parser.parse_args().realdata)
    if not (realdata / "exhibitions").is_dir():
        print(f"real data not found at {realdata}: nothing to evaluate (set LEADRANK_REALDATA)")
        return 0
    frame = entries(realdata)
    split = [split_country_line(a, None) for a in frame["address"]]
    frame["rest"] = [s[0] for s in split]
    frame["line_country"] = [s[1] for s in split]
    taken = frame["line_country"].notna()
    right = frame.loc[taken, "line_country"].map(country_code) == frame.loc[taken, "iso2"]
    after = normalised_countries(frame, frame["rest"], frame["line_country"])
    before = normalised_countries(frame, frame["address"], pd.Series([None] * len(frame)))
    print(f"multi-line addresses with a geocoded country: {len(frame)} in {frame['file'].nunique()} files")
    print(f"last line taken as the country: {int(taken.sum())} ({taken.mean():.1%}); "
          f"of those the geocoded country: {int(right.sum())} ({right.mean():.1%})")
    print(f"country_iso2 = geocoded country: {(after == frame['iso2']).mean():.1%} "
          f"(filled {after.notna().mean():.1%}); baseline, address left whole: {(before == frame['iso2']).mean():.1%} "
          f"(filled {before.notna().mean():.1%})")
    for file, part in frame.assign(ok=(after == frame["iso2"]).to_numpy()).groupby("file"):
        print(f"  {file}: {len(part)} addresses, country_iso2 right {part['ok'].mean():.1%}")
    wrong = frame.loc[taken].loc[~right.to_numpy()]
    print("taken but not the geocoded country (line → code, geocoded):",
          Counter(f"{a.splitlines()[-1].strip()} → {country_code(c)}, {g}"
                  for a, c, g in zip(wrong["address"], wrong["line_country"], wrong["iso2"], strict=True)).most_common(8))
    print("commonest last lines not taken:",
          Counter(a.strip().splitlines()[-1].strip() for a in frame.loc[~taken, "address"]).most_common(15))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
