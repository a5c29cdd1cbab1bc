"""Financials import and ratios on the real portal and tushare exports.

    python bench/eval_financials.py [--realdata ../shared/realdata]

netease163: every company and year read from the transposed portal files (UTF-8 and GBK), with
the five ratios and growth, and the structural break of 002352 (鼎泰新材 → 顺丰控股).
tushare 2015 Q4: three flat files (basics, profit, operations) merged on the stock code, units
reconciled (net_profits and business_income in millions of yuan, totalAssets and liquidAssets in
万元), the computed net margin compared with tushare's own net_profit_ratio, and its ready-made
receivable and inventory days taken as collection and inventory days. Both are declared in
examples/realdata.yaml (`financials:`), as a user would load them. Prints JSON figures.
The real data is never copied; without it the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from leadrank.config import FinancialsConfig, ScoringConfig, load_config
from leadrank.scoring.financials import load_financials
from leadrank.scoring.ratios import compute_ratios, score_ratios

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "realdata.yaml"


def example_financials(root: Path, prefix: str) -> list[FinancialsConfig]:
    """The statements sources of examples/realdata.yaml whose names start with `prefix`,
    reading the real data at `root`."""
    saved = os.environ.get("LEADRANK_REALDATA")
    os.environ["LEADRANK_REALDATA"] = str(root.resolve())
    try:
        return [f for f in load_config(EXAMPLE).financials if f.name.startswith(prefix)]
    finally:
        if saved is None:
            del os.environ["LEADRANK_REALDATA"]
        else:
            os.environ["LEADRANK_REALDATA"] = saved


def netease_configs(root: Path) -> list[FinancialsConfig]:
    return example_financials(root, "netease163")


def tushare_configs(root: Path) -> list[FinancialsConfig]:
    return example_financials(root, "tushare-")


def ratios_of(configs: list[FinancialsConfig]) -> tuple[pd.DataFrame, pd.DataFrame]:
    statements, rejects = load_financials(configs)
    base = statements.rename(columns={"collection_days": "collection_days_src", "inventory_days": "inventory_days_src"})
    return score_ratios(compute_ratios(base), ScoringConfig()), rejects


def netease(root: Path) -> dict[str, object]:
    started = time.perf_counter()
    frame, rejects = ratios_of(netease_configs(root))
    shown = frame[frame["stock_code"].isin(["000898", "002352", "600340"]) & frame["year"].isin([2015, 2016, 2018])]
    columns = ["stock_code", "year", "current_asset_ratio", "net_margin", "roa", "collection_days", "inventory_days",
               "revenue_growth", "risk_flags"]
    return {
        "companies": int(frame["stock_code"].nunique()),
        "company_years": len(frame),
        "rejects": len(rejects),
        "structural_breaks": frame.loc[frame["structural_break"], ["stock_code", "year"]].astype(str).agg(" ".join, axis=1).tolist(),
        "seconds": round(time.perf_counter() - started, 2),
        "sample": json.loads(shown[columns].round(6).to_json(orient="records", force_ascii=False)),
    }


def tushare(root: Path) -> dict[str, object]:
    started = time.perf_counter()
    frame, rejects = ratios_of(tushare_configs(root))
    published = frame["net_margin_percent"] / 100
    computed = frame["net_profit"] / frame["revenue"].where(frame["revenue"] > 0)
    both = published.notna() & computed.notna()
    abs_pp = (computed - published).abs()[both] * 100  # percentage points
    relative = ((computed - published).abs() / published.abs())[both & (published != 0)]
    within = relative <= 0.01
    # tushare rounds its ratio to 0.01 percentage points: below a 0.5 % margin that rounding alone
    # exceeds 1 % relative, so the rest are compared in percentage points.
    outside = within[~within].index
    worst = (abs_pp.sort_values(ascending=False).head(5).index)
    return {
        "companies": len(frame),
        "rejects": len(rejects),
        "duplicate_rows_reported": int(rejects["reason"].str.startswith("duplicated company row").sum()),
        "net_margin_compared": int(both.sum()),
        "net_margin_within_1pct_relative": int(within.sum()),
        "net_margin_share_within_1pct": round(float(within.mean()), 4),
        "outside_1pct_max_abs_published_margin_pct": round(float(frame.loc[outside, "net_margin_percent"].abs().max()), 4),
        "outside_1pct_max_abs_diff_pp": round(float(abs_pp[outside].max()), 4),
        "net_margin_max_abs_diff_pp": round(float(abs_pp.max()), 4),
        "net_margin_median_abs_diff_pp": round(float(abs_pp.median()), 5),
        "worst": json.loads(frame.loc[worst, ["stock_code", "company_name", "net_profit", "revenue", "net_margin_percent"]]
                            .to_json(orient="records", force_ascii=False)),
        "collection_days_from_arturndays": int(frame["collection_days"].notna().sum()),
        "inventory_days_from_source": int(frame["inventory_days"].notna().sum()),
        "inventory_not_applicable": int(frame["inventory_na"].sum()),
        "inventory_na_industries": frame.loc[frame["inventory_na"], "industry"].value_counts().head(5).to_dict(),
        "negative_margin_flags": int(frame["risk_flags"].str.contains("negative_margin").sum()),
        "roa_median": round(float(frame["roa"].median()), 4),
        "net_margin_p01_p99": [round(float(v), 4) for v in frame["net_margin"].quantile([0.01, 0.99])],
        "seconds": round(time.perf_counter() - started, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--realdata", type=Path, default=Path(os.environ.get("LEADRANK_REALDATA", "../shared/realdata")))
    args = parser.parse_args()
    if not (args.realdata / "financials").is_dir():
        print(f"no real data at {args.realdata}; nothing to evaluate")
        sys.exit(0)
    np.seterr(all="ignore")
    print(json.dumps({"netease163": netease(args.realdata), "tushare_2015q4": tushare(args.realdata)},
                     ensure_ascii=False, indent=1, default=str))


if __name__ == "__main__":
    main()
