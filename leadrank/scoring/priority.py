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
from leadrank.contracts import SCORE_COLUMNS
from leadrank.scoring import model as model_mod
from leadrank.scoring.explain import MODEL_FEATURE_FACTOR, Factors, reasons
from leadrank.scoring.ratios import NEUTRAL, RATIOS, lead_ratios
from leadrank.scoring.segments import classify

RISK_PENALTY = 0.05
INFO_FLAGS = {"structural_break"}  # flags that warn about the data, not about the company


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
    frame["uscc_valid"] = frame["uscc_valid"].astype(int)  # leads are LEADS or LEAD_COLUMNS: bool columns
    frame["is_branch"] = frame["is_branch"].astype(int)
    return frame


def training_set(features: pd.DataFrame, outcomes: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Leads with a final outcome (the latest won/lost per lead) and their labels and dates."""
    final = outcomes[outcomes["outcome"].isin(["won", "lost"])].copy()
    final = final.sort_values(["lead_id", "outcome_date"], na_position="first").drop_duplicates("lead_id", keep="last")
    rows = features.merge(final[["lead_id", "outcome", "outcome_date"]], on="lead_id", how="inner")
    dates = rows["outcome_date"] if rows["outcome_date"].notna().all() else None
    return rows, (rows["outcome"] == "won").astype(int), dates


def fit_factors(features: pd.DataFrame, cfg: ScoringConfig, weight: float) -> tuple[pd.Series, Factors]:
    """The fit score and its factors (each scaled by `weight`, the fit's share of the priority)."""
    total = sum(cfg.ratio_weights.get(r, 0.0) for r in RATIOS) or 1.0
    factors = Factors(features.index)
    fit = pd.Series(NEUTRAL, index=features.index)
    for ratio in RATIOS:
        pct = features[f"{ratio}_pct"].astype(float)
        if ratio == "inventory_days":
            pct = pct.where(~features["inventory_na"].fillna(False).astype(bool))
        part = cfg.fit_ratio_share * cfg.ratio_weights.get(ratio, 0.0) / total * (pct.fillna(NEUTRAL) - NEUTRAL)
        fit += part
        factors.add(ratio, weight * part)
    segment = (1 - cfg.fit_ratio_share) * (features["segment_score"].astype(float) - NEUTRAL)
    fit += segment
    factors.add("segment", weight * segment)
    n_flags = features["risk_flags"].fillna("").map(lambda s: len([f for f in s.split(";") if f and f not in INFO_FLAGS]))
    fit -= RISK_PENALTY * n_flags
    factors.add("risk", weight * -RISK_PENALTY * n_flags)
    return fit.clip(0, 1), factors


def features_of(leads: pd.DataFrame, statements: pd.DataFrame, cfg: ScoringConfig) -> pd.DataFrame:
    """Every lead's model features: ratios, segments, source evidence, contact completeness."""
    ratios = lead_ratios(statements, leads, cfg)
    segments = classify(leads, ratios, cfg)
    return lead_features(leads, ratios, segments)


def train_model(features: pd.DataFrame, outcomes: pd.DataFrame, cfg: ScoringConfig) -> model_mod.ModelResult:
    """Validate and fit the outcome model on the leads that have a final outcome (or cold start).
    Validation is on the later outcomes when every one has a date. A model that the guard
    refuses (validated AUC below 0.5 or below the fit score's on the same outcomes) comes back
    without a pipeline, with its metrics and the reason: the priority is then the fit score."""
    numeric = [*model_mod.LEAD_NUMERIC]
    categorical = [*model_mod.LEAD_CATEGORICAL]
    rows, y, dates = training_set(features, outcomes)
    extra = [c for c in cfg.model_features if c in outcomes.columns]
    if extra:
        rows = rows.merge(outcomes.drop_duplicates("lead_id", keep="last")[["lead_id", *extra]], on="lead_id", how="left")
        categorical += extra
    fit = fit_factors(rows, cfg, 1.0)[0] if len(rows) else None
    result = model_mod.evaluate_and_fit(rows, y, numeric, categorical, dates=dates, baseline=fit,
                                        min_per_class=cfg.min_outcomes_per_class, top_share=cfg.precision_top_share)
    why = model_mod.refusal(result.metrics)
    if why:
        return model_mod.ModelResult(None, {**result.metrics, "deployed": False}, numeric, categorical, why, refused=True)
    return result


def score_leads(leads: pd.DataFrame, statements: pd.DataFrame, outcomes: pd.DataFrame, cfg: ScoringConfig,
                stored: model_mod.ModelResult | None = None) -> ScoreResult:
    """Score every lead. With a `stored` model (a recent retrain) it is used as it is; otherwise
    the model is trained here from `outcomes`, or there is none (cold start)."""
    features = features_of(leads, statements, cfg)
    result = stored if stored is not None else train_model(features, outcomes, cfg)
    categorical = result.categorical
    share = cfg.model_weight / (cfg.fit_weight + cfg.model_weight) if result.pipeline is not None else 0.0
    fit, factors = fit_factors(features, cfg, 1 - share)
    if result.pipeline is not None:
        model_score = pd.Series(model_mod.predict(result, features), index=features.index)
        priority = (1 - share) * fit + share * model_score
        effects, above = model_mod.feature_effects(result, features, model_score.to_numpy())
        for column in effects.columns:
            effect = share * effects[column]
            # A numeric value's label follows the value (above typical is favourable: percentiles
            # are oriented so); a category's follows its effect. Unknown values speak as "model".
            factor = MODEL_FEATURE_FACTOR.get(column)
            if factor is None:
                factors.add("model", effect)
                continue
            if column in categorical:
                known = features[column].notna() if column in features else pd.Series(False, index=features.index)
                favourable = effect > 0
            else:
                known = above[column].notna()
                favourable = above[column].astype("boolean").fillna(False).astype(bool)
            factors.add(factor, effect.where(known, 0.0), favourable)
            factors.add("model", effect.where(~known, 0.0))
    else:
        model_score = pd.Series(np.nan, index=features.index)
        priority = fit
    features["fit_score"] = fit.round(6)
    features["model_score"] = model_score.round(6)
    features["priority"] = priority.round(6)
    order = features.sort_values(["priority", "lead_id"], ascending=[False, True]).index
    features.loc[order, "rank"] = np.arange(1, len(order) + 1)
    features["rank"] = features["rank"].astype(int)
    features["tier"] = assign_tiers(features["rank"], cfg.tiers)
    features = features.join(reasons(factors))
    scores = features[SCORE_COLUMNS].sort_values("rank").reset_index(drop=True)
    stats = {
        "leads_scored": len(scores),
        "with_financials": int((scores["ratio_coverage"] > 0).sum()),
        "model": "reused" if stored is not None and result.pipeline is not None else result.status,
        "model_reason": result.reason or (f"reusing the stored model (AUC {result.metrics.get('auc')}, "
                                          f"{result.metrics.get('validation')})" if stored is not None else ""),
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
