"""The five key-account ratios, each scored against the company's industry peers.

  current_asset_ratio = current assets / total assets        (流动资产率: can they pay?)
  net_margin          = net profit / revenue                  (净利润率: do they earn?)
  roa                 = net profit / total assets             (资产回报率)
  collection_days     = accounts receivable / revenue × 365   (回款周期: how fast they pay)
  inventory_days      = inventory / cost of sales × 365       (存货周期: how fast stock moves)
  revenue_growth      = revenue / last year's revenue − 1

A ratio with a zero or negative denominator is undefined (NaN), never infinite. Scores are
percentiles within the industry (banks and property developers are not comparable), falling
back to all companies when an industry has too few peers; collection and inventory days score
higher when shorter. A missing ratio scores a neutral 0.5 and lowers `ratio_coverage`; it is
never a silent zero. Companies without inventory (banks, brokers, insurers: inventory reported
as zero, or missing in a financial industry) get "not applicable", not a score. A revenue that
jumps or collapses tenfold in a year is flagged as a structural break (a reverse merger such as
002352 鼎泰新材 → 顺丰控股), not celebrated as growth.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from leadrank.config import ScoringConfig
from leadrank.scoring.lead_index import LeadIndex

RATIOS = ["current_asset_ratio", "net_margin", "roa", "collection_days", "inventory_days"]
HIGHER_IS_BETTER = {"current_asset_ratio": True, "net_margin": True, "roa": True,
                    "collection_days": False, "inventory_days": False, "revenue_growth": True}
MIN_PEERS = 5
NEUTRAL = 0.5
WINSOR = (0.01, 0.99)  # ratios are clipped to these quantiles before ranking
BREAK_FACTOR = 10.0  # revenue ×10 or ÷10 in a year: a different company, not growth
FINANCIAL_INDUSTRY = re.compile(r"银行|证券|保险|信托|期货|多元金融|金融|bank|broker|securities|insurance", re.I)


def _safe_div(num: pd.Series, den: pd.Series) -> pd.Series:
    num = pd.to_numeric(num, errors="coerce")
    den = pd.to_numeric(den, errors="coerce")
    return (num / den.where(den > 0)).astype(float)


def compute_ratios(statements: pd.DataFrame) -> pd.DataFrame:
    """Ratios per statement row (latest year per company first)."""
    out = statements.copy()
    out["current_asset_ratio"] = _safe_div(out["current_assets"], out["total_assets"])
    out["net_margin"] = _safe_div(out["net_profit"], out["revenue"])
    out["roa"] = _safe_div(out["net_profit"], out["total_assets"])
    out["collection_days"] = _safe_div(out["accounts_receivable"], out["revenue"]) * 365
    out["inventory_days"] = _safe_div(out["inventory"], out["cost_of_sales"]) * 365
    out["revenue_growth"] = _safe_div(out["revenue"], out["revenue_prev"]) - 1
    # Ready-made figures fill gaps only; computed ones win.
    out["collection_days"] = out["collection_days"].fillna(pd.to_numeric(out["collection_days_src"], errors="coerce"))
    out["inventory_days"] = out["inventory_days"].fillna(pd.to_numeric(out["inventory_days_src"], errors="coerce"))
    out["net_margin"] = out["net_margin"].fillna(pd.to_numeric(out["net_margin_percent"], errors="coerce") / 100)
    inventory = pd.to_numeric(out["inventory"], errors="coerce")
    financial = out["industry"].fillna("").astype(str).str.contains(FINANCIAL_INDUSTRY)
    src_days = pd.to_numeric(out["inventory_days_src"], errors="coerce")
    out["inventory_na"] = src_days.isna() & (inventory.eq(0) | (financial & inventory.isna()))
    out["inventory_days"] = out["inventory_days"].where(~out["inventory_na"])
    growth = out["revenue_growth"]
    out["structural_break"] = (growth + 1 >= BREAK_FACTOR) | (growth + 1 <= 1 / BREAK_FACTOR)
    return out


def score_ratios(frame: pd.DataFrame, cfg: ScoringConfig) -> pd.DataFrame:
    """Per-ratio peer percentiles (0..1, higher is better), `ratio_score` and coverage."""
    weights = cfg.ratio_weights
    directions = {**HIGHER_IS_BETTER, **cfg.ratio_higher_is_better}
    out = frame.copy()
    industry = out["industry"].fillna("(unknown)")
    peers = industry.map(industry.value_counts()) >= MIN_PEERS
    for ratio in [*RATIOS, "revenue_growth"]:
        values = out[ratio].astype(float)
        if ratio == "revenue_growth":
            values = values.where(~out["structural_break"])
        low, high = values.quantile(WINSOR[0]), values.quantile(WINSOR[1])
        clipped = values.clip(low, high)
        ascending = directions[ratio]
        within = clipped.groupby(industry).rank(pct=True, ascending=ascending)
        overall = clipped.rank(pct=True, ascending=ascending)
        out[f"{ratio}_pct"] = within.where(peers, overall)
    total_weight = sum(weights.get(r, 0.0) for r in RATIOS) or 1.0
    score = pd.Series(0.0, index=out.index)
    covered = pd.Series(0.0, index=out.index)
    for ratio in RATIOS:
        weight = weights.get(ratio, 0.0)
        pct = out[f"{ratio}_pct"]
        applicable = ~out["inventory_na"] if ratio == "inventory_days" else pd.Series(True, index=out.index)
        score += weight * pct.fillna(NEUTRAL).where(applicable, NEUTRAL)
        covered += weight * (pct.notna() & applicable)
    out["ratio_score"] = score / total_weight
    out["ratio_coverage"] = covered / total_weight
    out["risk_flags"] = _risk_flags(out, cfg)
    return out


def _risk_flags(frame: pd.DataFrame, cfg: ScoringConfig) -> pd.Series:
    flags = pd.DataFrame(index=frame.index)
    flags["negative_margin"] = frame["net_margin"] < 0
    flags["slow_collection"] = frame["collection_days"] > cfg.collection_days_limit
    flags["illiquid"] = frame["current_asset_ratio"] < cfg.liquidity_low
    flags["cash_heavy"] = frame["current_asset_ratio"] > cfg.liquidity_high
    flags["negative_assets"] = pd.to_numeric(frame["total_assets"], errors="coerce") <= 0
    flags["no_revenue"] = pd.to_numeric(frame["revenue"], errors="coerce") <= 0
    flags["structural_break"] = frame["structural_break"].astype(bool)
    flags = flags.fillna(False).astype(bool)
    names = np.array(flags.columns)
    return pd.Series([";".join(names[row]) for row in flags.to_numpy()], index=frame.index, dtype=object)


def match_to_leads(statements: pd.DataFrame, leads: pd.DataFrame, index: LeadIndex | None = None) -> pd.DataFrame:
    """The statement of each lead, matched by the lead index (lead_index: valid 统一社会信用代码,
    then name cores; one lead per company). A lead reached by several statements keeps the one
    matched by the best rule, then the latest year. One row per matched lead with `lead_id`."""
    if statements.empty or leads.empty:
        return pd.DataFrame(columns=["lead_id", *statements.columns])
    lead, level = (index or LeadIndex(leads)).match(statements["uscc"], statements["company_name"])
    matched = statements.assign(lead_id=lead, _level=level)[lead.notna()]
    matched = matched.sort_values(["_level", "year"], ascending=[True, False], na_position="last", kind="stable")
    return matched.drop_duplicates("lead_id")[["lead_id", *statements.columns]].reset_index(drop=True)


def lead_ratios(statements: pd.DataFrame, leads: pd.DataFrame, cfg: ScoringConfig,
                index: LeadIndex | None = None) -> pd.DataFrame:
    """One row per lead: ratios, percentiles, ratio_score, coverage, risk flags (NaN where
    a lead has no statements)."""
    base = statements.rename(columns={"collection_days": "collection_days_src", "inventory_days": "inventory_days_src"})
    if base.empty:
        out = pd.DataFrame({"lead_id": leads["lead_id"]})
        for ratio in [*RATIOS, "revenue_growth"]:
            out[ratio] = np.nan
            out[f"{ratio}_pct"] = np.nan
        out["ratio_score"] = NEUTRAL
        out["ratio_coverage"] = 0.0
        out["risk_flags"] = ""
        out["inventory_na"] = False
        out["fin_year"] = np.nan
        out["stock_code"] = None
        out["revenue"] = np.nan
        out["total_assets"] = np.nan
        return out
    # Percentiles come from every company in the statements (the peer universe), not only leads.
    scored = score_ratios(compute_ratios(base), cfg)
    matched = match_to_leads(scored, leads, index)
    out = pd.DataFrame({"lead_id": leads["lead_id"]}).merge(matched, on="lead_id", how="left")
    out["ratio_score"] = out["ratio_score"].fillna(NEUTRAL)
    out["ratio_coverage"] = out["ratio_coverage"].fillna(0.0)
    out["risk_flags"] = out["risk_flags"].fillna("")
    out["inventory_na"] = out["inventory_na"].astype("boolean").fillna(False).astype(bool)
    out["fin_year"] = out["year"]
    return out
