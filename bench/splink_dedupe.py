"""The reference: the same generated prospects deduplicated by Splink 5 with DuckDB.

    python bench/splink_dedupe.py IN.csv -o OUT.csv [--threshold 0.9]

Reads the CSV `leadrank dedupe` reads (company_name, website, phone, email, address, city,
province, country, uscc, source), writes the same rows with a `cluster_id` column. A reasonable
model, as Splink's own examples build one: light normalisation in pandas (the lower-cased name
without legal form and region, digits of the phone, registered domain, email domain, code, city
without 市), blocking rules on code, phone, domain, exact name, name prefix plus city, comparisons
on name (Jaro-Winkler levels), phone, domain, code and city; u by random sampling, m by
expectation maximisation blocked on two different rules, predictions clustered at a match
probability threshold. Needs `pip install -r bench/requirements-splink.txt`.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import pandas as pd

FORMS = re.compile(
    r"(股份有限公司|有限责任公司|集团有限公司|有限公司|集团|company limited|co\.?,? ?ltd\.?|limited|ltd\.?|inc\.?|corp\.?|"
    r"corporation|group|company)$")
REGION = re.compile(r"^(\(?[\u4e00-\u9fff]{2,3}(省|市)\)?)+")
FREE = {"qq.com", "163.com", "126.com", "gmail.com", "hotmail.com", "sina.com", "foxmail.com", "outlook.com",
        "yahoo.com", "139.com", "aliyun.com", "sohu.com", "yeah.net"}


def _name(value: str) -> str:
    text = value.translate({c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}).replace("\u3000", " ").lower().strip()
    text = re.sub(r"[（(].*?[)）]", "", text)
    text = FORMS.sub("", text).strip(" ,.")
    return REGION.sub("", text).strip()


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"unique_id": range(len(frame))})
    out["name"] = frame["company_name"].fillna("").map(_name).replace("", None)
    digits = frame["phone"].fillna("").str.replace(r"\D", "", regex=True).str.replace(r"^(0086|86)", "", regex=True)
    out["phone"] = digits.str.lstrip("0").replace("", None)
    host = frame["website"].fillna("").str.lower().str.replace(r"^[a-z]+://", "", regex=True).str.split("/").str[0]
    out["domain"] = host.str.replace(r"^www\.", "", regex=True).replace("", None)
    email_domain = frame["email"].fillna("").str.lower().str.split("@").str[-1]
    out["email_domain"] = email_domain.where(~email_domain.isin(FREE) & (email_domain != ""), None)
    out["domain"] = out["domain"].fillna(out["email_domain"])
    out["uscc"] = frame["uscc"].fillna("").str.upper().str.strip().replace("", None)
    out["city"] = frame["city"].fillna("").str.replace("市", "", regex=False).str.lower().replace("", None)
    return out


def dedupe(frame: pd.DataFrame, threshold: float) -> pd.Series:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("uscc"), block_on("phone"), block_on("domain"), block_on("name"),
            block_on("substr(name, 1, 4)", "city"),
        ],
        comparisons=[
            cl.JaroWinklerAtThresholds("name", [0.95, 0.88, 0.8]),
            cl.ExactMatch("phone"),
            cl.ExactMatch("domain"),
            cl.ExactMatch("uscc"),
            cl.ExactMatch("city"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    db_api = DuckDBAPI()
    linker = Linker(prepare(frame), settings, db_api)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("phone"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("name"))
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold).as_pandas_dataframe()
    return clusters.set_index("unique_id")["cluster_id"].reindex(range(len(frame))).astype(str)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--threshold", type=float, default=0.9, help="match probability that links two records")
    args = parser.parse_args()
    started = time.perf_counter()
    frame = pd.read_csv(args.input, dtype=str, keep_default_na=False).replace("", None)
    frame["cluster_id"] = dedupe(frame, args.threshold).to_numpy()
    frame.to_csv(args.output, index=False)
    print(f"{len(frame)} records → {frame['cluster_id'].nunique()} clusters in {time.perf_counter() - started:.1f}s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
