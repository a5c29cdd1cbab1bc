"""Stage 4, score: leads → priority, rank, tier and reasons (contract SCORE_COLUMNS).

fit score   = ratios (peer percentiles, weighted) and segment, minus risk penalties;
model score = calibrated probability of winning, learned from outcomes (absent at cold start);
priority    = fit and model combined by configurable weights (the fit alone at cold start).
The two scores are kept apart in the output so that sales can see which one speaks. Ranks break
ties by lead_id, so the same inputs always give the same order. Tiers A–D cut the ranked list
at configurable cumulative shares.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadrank.config import ScoringConfig
from leadrank.scoring import model as model_mod
from leadrank.scoring.explain import MODEL_FEATURE_FACTOR, reasons
from leadrank.scoring.ratios import NEUTRAL, RATIOS, lead_ratios
from leadrank.scoring.segments import classify

RISK_PENALTY = 0.05
SCORE_COLUMNS = [
    "lead_id", "fit_score", "model_score", "priority", "rank", "tier", "customer_type", "channel",
    "product_line", "key_account", "est_monthly_volume", "segment_score", "ratio_score", "ratio_coverage",
    *RATIOS, "revenue_growth", "fin_year", "risk_flags", "reasons_for", "reasons_against", "top_reasons",
]


@dataclass
class ScoreResult:
    scores: pd.DataFrame
    model: model_mod.ModelResult
    stats: dict[str, Any] = field(default_factory=dict)


def lead_features(leads: pd.DataFrame, ratios: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    frame = leads.merge(ratios, on="lead_id", how="left").merge(segments, on="lead_id", how="left")
    frame["log_monthly_volume"] = np.log1p(frame["est_monthly_volume"].astype(float))
    frame["has_website"] = frame["domain"].notna().astype(int)
    frame["has_email"] = frame["email"].notna().astype(int)
    frame["has_phone"] = frame["phone"].notna().astype(int)
    frame["company_email"] = frame["email"].notna() & frame["domain"].notna()
    frame["company_email"] = frame["company_email"].astype(int)
    frame["uscc_valid"] = frame["uscc_valid"].astype(bool).astype(int)
    frame["is_branch"] = frame["is_branch"].astype(bool).astype(int)
    return frame


def training_set(features: pd.DataFrame, outcomes: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Leads with a final outcome (the latest won/lost per lead) and their labels and dates."""
    final = outcomes[outcomes["outcome"].isin(["won", "lost"])].copy()
    final = final.sort_values(["lead_id", "outcome_date"], na_position="first").drop_duplicates("lead_id", keep="last")
    rows = features.merge(final[["lead_id", "outcome", "outcome_date"]], on="lead_id", how="inner")
    dates = rows["outcome_date"] if rows["outcome_date"].notna().all() else None
    return rows, (rows["outcome"] == "won").astype(int), dates


def fit_contributions(features: pd.DataFrame, cfg: ScoringConfig) -> pd.DataFrame:
    """Each fit factor's signed share of the fit score, relative to a neutral lead."""
    total = sum(cfg.ratio_weights.get(r, 0.0) for r in RATIOS) or 1.0
    parts = pd.DataFrame(index=features.index)
    for ratio in RATIOS:
        pct = features[f"{ratio}_pct"].astype(float)
        if ratio == "inventory_days":
            pct = pct.where(~features["inventory_na"].fillna(False).astype(bool))
        parts[ratio] = cfg.fit_ratio_share * cfg.ratio_weights.get(ratio, 0.0) / total * (pct.fillna(NEUTRAL) - NEUTRAL)
    parts["segment"] = (1 - cfg.fit_ratio_share) * (features["segment_score"].astype(float) - NEUTRAL)
    n_flags = features["risk_flags"].fillna("").map(lambda s: len([f for f in s.split(";") if f]))
    parts["risk"] = -RISK_PENALTY * n_flags
    return parts


def score_leads(leads: pd.DataFrame, statements: pd.DataFrame, outcomes: pd.DataFrame, cfg: ScoringConfig) -> ScoreResult:
    ratios = lead_ratios(statements, leads, cfg.ratio_weights)
    segments = classify(leads, ratios, cfg)
    features = lead_features(leads, ratios, segments)

    fit_parts = fit_contributions(features, cfg)
    fit = (NEUTRAL + fit_parts.sum(axis=1)).clip(0, 1)

    numeric = [*model_mod.LEAD_NUMERIC]
    categorical = [*model_mod.LEAD_CATEGORICAL]
    rows, y, dates = training_set(features, outcomes)
    extra = [c for c in cfg.model_features if c in outcomes.columns]
    if extra:
        rows = rows.merge(outcomes.drop_duplicates("lead_id", keep="last")[["lead_id", *extra]], on="lead_id", how="left")
        categorical += extra
    result = model_mod.evaluate_and_fit(rows, y, numeric, categorical, dates=dates,
                                        min_per_class=cfg.min_outcomes_per_class)
    if result.pipeline is not None:
        share = cfg.model_weight / (cfg.fit_weight + cfg.model_weight)
        model_score = pd.Series(model_mod.predict(result, features), index=features.index)
        priority = (1 - share) * fit + share * model_score
        contributions = fit_parts * (1 - share)
        effects = model_mod.feature_effects(result, features, model_score.to_numpy())
        for column in effects.columns:
            factor = MODEL_FEATURE_FACTOR.get(column, "model")
            effect = share * effects[column]
            if column.endswith("_pct"):  # a missing ratio says nothing about the ratio itself
                missing = features[column].isna()
                contributions["model"] = contributions.get("model", 0.0) + effect.where(missing, 0.0)
                effect = effect.where(~missing, 0.0)
            contributions[factor] = contributions.get(factor, 0.0) + effect
    else:
        model_score = pd.Series(np.nan, index=features.index)
        priority = fit
        contributions = fit_parts
    features["fit_score"] = fit.round(6)
    features["model_score"] = model_score.round(6)
    features["priority"] = priority.round(6)
    order = features.sort_values(["priority", "lead_id"], ascending=[False, True]).index
    features.loc[order, "rank"] = np.arange(1, len(order) + 1)
    features["rank"] = features["rank"].astype(int)
    features["tier"] = assign_tiers(features["rank"], cfg.tiers)
    features = features.join(reasons(contributions))
    scores = features[SCORE_COLUMNS].sort_values("rank").reset_index(drop=True)
    stats = {
        "leads_scored": len(scores),
        "with_financials": int((scores["ratio_coverage"] > 0).sum()),
        "model": "trained" if result.pipeline is not None else "cold_start",
        "model_reason": result.reason,
        **{f"model_{k}": v for k, v in result.metrics.items()},
        **{f"tier_{t}": int((scores["tier"] == t).sum()) for t in ["A", "B", "C", "D"]},
    }
    return ScoreResult(scores, result, stats)


def assign_tiers(rank: pd.Series, cutoffs: dict[str, float]) -> pd.Series:
    """Tier letters from cumulative shares of the ranked list, e.g. {A: .1, B: .3, C: .6}; the
    rest are D. The top lead is always A."""
    n = max(len(rank), 1)
    share = (rank - 1) / n
    tier = pd.Series("D", index=rank.index)
    for letter, cut in sorted(cutoffs.items(), key=lambda kv: kv[1], reverse=True):
        tier = tier.where(share >= cut, letter)
    return tier
