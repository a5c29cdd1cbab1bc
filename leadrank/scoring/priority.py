"""Stage 4, score: leads → priority, rank, tier and reasons (contract SCORE_COLUMNS).

fit score   = ratios (peer percentiles, weighted) and segment, minus risk penalties;
model score = calibrated probability of winning, learned from outcomes (absent at cold start);
priority    = fit and model combined by configurable weights (the fit alone at cold start).
The two scores are kept apart in the output so that sales can see which one speaks. Ranks break
ties by lead_id, so the same inputs always give the same order. Tiers A–D cut the ranked list
at configurable cumulative shares. A night based on an earlier run scores only the leads whose
inputs changed and keeps the others' per-lead scores (leadrank.scoring.incremental); rank and
tier are always cut over every lead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadrank.config import ScoringConfig
from leadrank.contracts import SCORE_COLUMNS, column_as_objects
from leadrank.key_lookup import large_text, text_ranks
from leadrank.memory import release_memory, stacked_parts
from leadrank.scoring import incremental
from leadrank.scoring import model as model_mod
from leadrank.scoring.explain import MODEL_FEATURE_FACTOR, Factors, reasons
from leadrank.scoring.lead_index import LeadIndex, join_by_lead
from leadrank.scoring.ratios import NEUTRAL, RATIOS, lead_ratios
from leadrank.scoring.segments import classify

RISK_PENALTY = 0.05
INFO_FLAGS = {"structural_break"}  # flags that warn about the data, not about the company
PER_LEAD_ROWS = 100_000  # leads scored and explained at a time (memory)
PER_LEAD = [c for c in SCORE_COLUMNS if c not in ("rank", "tier")]  # what a lead's inputs decide; rank and tier are cut over all
FLOAT_COLUMNS = {"fit_score", "model_score", "priority", "est_monthly_volume", "segment_score", "ratio_score",
                 "ratio_coverage", *RATIOS, "revenue_growth", "fin_year"}

log = logging.getLogger(__name__)


@dataclass
class ScoreResult:
    scores: pd.DataFrame
    model: model_mod.ModelResult
    stats: dict[str, Any] = field(default_factory=dict)
    state: pd.DataFrame | None = None  # what the next night reuses (leadrank.scoring.incremental)
    training: str | None = None  # the hash of the set the model was trained on (incremental.training_hash)


def lead_features(leads: pd.DataFrame, ratios: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    frame = join_by_lead(join_by_lead(leads, ratios), segments)
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


# What fit_factors reads of the features.
FIT_READS = [*[f"{ratio}_pct" for ratio in RATIOS], "inventory_na", "segment_score", "risk_flags"]


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


def training_rows(features: pd.DataFrame, outcomes: pd.DataFrame,
                  cfg: ScoringConfig) -> tuple[pd.DataFrame, pd.Series, pd.Series | None, list[str], list[str]]:
    """(rows, labels, dates, numeric and categorical inputs) the outcome model is trained on."""
    numeric = [*model_mod.LEAD_NUMERIC]
    categorical = [*model_mod.LEAD_CATEGORICAL]
    rows, y, dates = training_set(features, outcomes)
    extra = [c for c in cfg.model_features if c in outcomes.columns]
    if extra:
        rows = rows.merge(outcomes.drop_duplicates("lead_id", keep="last")[["lead_id", *extra]], on="lead_id", how="left")
        categorical += extra
    return rows, y, dates, numeric, categorical


def outcome_key(leads: pd.DataFrame, outcomes: pd.DataFrame, cfg: ScoringConfig) -> str:
    """incremental.outcome_key of the outcomes tonight's model would be trained on (the final
    outcome of each of `leads` that has one), computed without the leads' features."""
    rows = training_rows(leads[["lead_id"]], outcomes, cfg)[0]
    return incremental.outcome_key(rows, cfg)


def fit_model(rows: pd.DataFrame, y: pd.Series, dates: pd.Series | None, numeric: list[str], categorical: list[str],
              cfg: ScoringConfig, fit: pd.Series | None = None) -> model_mod.ModelResult:
    """`train_model` on its `training_rows` (`fit`: their fit score, when known)."""
    if fit is None and len(rows):
        fit = fit_factors(rows, cfg, 1.0)[0]
    result = model_mod.evaluate_and_fit(rows, y, numeric, categorical, dates=dates, baseline=fit,
                                        min_per_class=cfg.min_outcomes_per_class, top_share=cfg.precision_top_share)
    why = model_mod.refusal(result.metrics)
    if why:
        return model_mod.ModelResult(None, {**result.metrics, "deployed": False}, numeric, categorical, why, refused=True)
    return result


def train_model(features: pd.DataFrame, outcomes: pd.DataFrame, cfg: ScoringConfig) -> model_mod.ModelResult:
    """Validate and fit the outcome model on the leads that have a final outcome (or cold start).
    Validation is on the later outcomes when every one has a date. A model that the guard
    refuses (validated AUC below 0.5 or below the fit score's on the same outcomes) comes back
    without a pipeline, with its metrics and the reason: the priority is then the fit score."""
    return fit_model(*training_rows(features, outcomes, cfg), cfg)


def _features(leads: pd.DataFrame, ratios: pd.DataFrame, positions: np.ndarray, cfg: ScoringConfig) -> pd.DataFrame:
    """features_of the leads at `positions` (indexed by them), from ratios computed over all leads."""
    some, their = leads.iloc[positions].reset_index(drop=True), ratios.iloc[positions].reset_index(drop=True)
    features = lead_features(some, their, classify(some, their, cfg))
    features.index = positions
    return features


def _tonights_model(features: pd.DataFrame, outcomes: pd.DataFrame, cfg: ScoringConfig,
                    base: incremental.Base | None, *, release: bool = False) -> tuple[model_mod.ModelResult, str, bool]:
    """(the model trained on tonight's training set, that set's hash, whether it is the base
    run's): a training set equal to the base run's gives the base run's model without training
    again (training is a deterministic function of it). When the base run scored with a model,
    another training set gives another one or none (the guard's refusal, a cold start): no lead
    keeps the base run's scores, so with `release` (the caller handed `base` over) its rows go
    before training (a million leads' scores and inputs, ~0.5 GB held through the fit and the
    full night's features otherwise). A base run without a model keeps them: tonight may have
    none either."""
    rows, y, dates, numeric, categorical = training_rows(features, outcomes, cfg)
    fit = fit_factors(rows, cfg, 1.0)[0] if len(rows) else None
    trained = incremental.training_hash(model_mod.model_inputs(rows, numeric, categorical), y, dates, fit, cfg)
    if (release and base is not None and base.meta.get("training") != trained
            and base.meta["fingerprint"].get("model") != "none"):
        base.rows = pd.DataFrame(columns=base.rows.columns)
    if base is not None and base.meta.get("training") == trained:
        before = base.meta.get("model") or {}
        status = before.get("status")
        if status in ("cold_start", "refused"):
            return (model_mod.ModelResult(None, before["metrics"], before["numeric"], before["categorical"],
                                          before["reason"], refused=status == "refused"), trained, True)
        if status == "trained" and base.model is not None:
            try:
                return base.model(), trained, True
            except (OSError, ValueError) as exc:  # its artifact is gone or damaged: train again
                log.warning("cannot reuse the model of run %s: %s", base.run_id, exc)
    return fit_model(rows, y, dates, numeric, categorical, cfg, fit), trained, False


def _per_lead(features: pd.DataFrame, result: model_mod.ModelResult, cfg: ScoringConfig,
              explainer: model_mod.Explainer | None) -> pd.DataFrame:
    """The per-lead score columns (PER_LEAD) of `features`' leads and their model inputs
    (incremental.X_PREFIX), each a function of the lead's own features, the model and the
    typical values of all leads' model inputs (the `explainer`'s, with the model)."""
    share = cfg.model_weight / (cfg.fit_weight + cfg.model_weight) if result.pipeline is not None else 0.0
    fit, factors = fit_factors(features, cfg, 1 - share)
    X = pd.DataFrame(index=features.index)
    if explainer is not None:
        categorical = result.categorical
        X = model_mod.model_inputs(features, result.numeric, result.categorical)
        scores, effects, above = explainer.explain(X)
        model_score = pd.Series(scores, index=features.index)
        priority = (1 - share) * fit + share * model_score
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
    out = features.assign(fit_score=fit.round(6), model_score=model_score.round(6), priority=priority.round(6))
    out = out.join(reasons(factors))[PER_LEAD]
    return pd.concat([out, X.add_prefix(incremental.X_PREFIX)], axis=1)


def _per_lead_reads(features: pd.DataFrame, result: model_mod.ModelResult) -> list[str]:
    """The columns of `features` that `_per_lead` reads: the scores' own, the fit's and the model's
    inputs."""
    reads = {*PER_LEAD, *FIT_READS, *(result.numeric + result.categorical if result.pipeline is not None else [])}
    return [c for c in features.columns if c in reads]


def _canonical(frame: pd.DataFrame, rows: np.ndarray | None = None, consume: bool = False) -> pd.DataFrame:
    """Score and state columns in one set of types however their rows were computed (fresh,
    read back from a state file, or both): numbers as float, key_account as bool, any other
    column as objects with None for missing, so that scores.parquet is the same file whichever
    way a night went. `rows`: only those rows (positions), taken one column at a time;
    `consume`: each column is taken out of `frame` (and freed) once converted."""
    out = {}
    for column in list(frame.columns):
        values = frame.pop(column) if consume else frame[column]
        values = values if rows is None else values.take(rows).reset_index(drop=True)
        if column == "input_hash":
            out[column] = values.astype(np.uint64)
        elif column in FLOAT_COLUMNS or (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)):
            out[column] = values.astype(float)
        elif column == "key_account" or pd.api.types.is_bool_dtype(values):
            out[column] = values.astype(bool)
        else:  # a Python string per distinct value (the reused part comes as such: base_state.scoring_base)
            out[column] = column_as_objects(values)
    return pd.DataFrame(out, index=frame.index if rows is None else None)


def score_leads(leads: pd.DataFrame, statements: pd.DataFrame, outcomes: pd.DataFrame, cfg: ScoringConfig,
                stored: model_mod.ModelResult | None = None, *, stored_key: str | None = None,
                trained: str | None = None, base: incremental.Base | None = None,
                index: LeadIndex | None = None, base_handed_over: bool = False) -> ScoreResult:
    """Score every lead. With a `stored` model (a recent retrain; `stored_key` names it) it is used
    as it is; otherwise the model is trained here from `outcomes` (or is the `base` run's, when
    that run trained on the same set), or there is none (cold start). A `stored` model that a
    night trained (warehouse.models.nightly_model) comes with `trained`, the hash of its training
    set, and is named by it as on the night that trained it, so the leads it scored keep their
    scores.

    With `base` (the state of the run tonight's is based on, leadrank.scoring.incremental), the
    per-lead work (features, fit, model score, reasons) is done only for the leads whose inputs
    changed, unless something every lead's scores depend on changed (the stats' `reason` says
    what); the others keep the base run's. Rank and tier are cut over all leads either way, by
    priority and then lead_id, so the same inputs always give the same order. `index`: the
    night's lead index of `leads`, when the caller built it already (to match outcomes).
    `base_handed_over`: the caller reads `base` no more, and the columns of its rows go as the
    reused ones are taken (at a million leads the rows and their copy were the step's peak on a
    second night). `leads` and `index` are let go once the features are made: a caller that
    holds no reference of its own to them (the nightly step) frees them before the per-lead work."""
    ratios = lead_ratios(statements, leads, cfg, index)  # peer percentiles and the lead index: over all leads
    hashes = incremental.input_hashes(leads, ratios)
    ids = leads["lead_id"].to_numpy(dtype=object)
    at = incremental.base_rows(base, ids)
    same = incremental.unchanged(base, at, hashes)
    final = outcomes.loc[outcomes["outcome"].isin(["won", "lost"]), "lead_id"].astype(object)
    features = _features(leads, ratios, np.flatnonzero(~same | pd.Series(ids).isin(final).to_numpy()), cfg)
    training, model_reused = None, False
    if stored is not None:
        result = stored
    else:
        result, training, model_reused = _tonights_model(features, outcomes, cfg, base, release=base_handed_over)
    if result.pipeline is None:
        model_key = "none"  # the priority is the fit score: no model to depend on
    elif stored is not None:
        model_key = f"trained:{trained}" if trained else f"stored:{stored_key}" if stored_key else ""
        training = trained
    else:
        model_key = f"trained:{training}"
    inputs = [*result.numeric, *result.categorical] if result.pipeline is not None else []
    depends = incremental.fingerprint(cfg, model_key, inputs)
    reason = _why_full(base, depends)
    typical: dict[str, Any] = {}
    # The base run's rows of the unchanged leads, in its order. Taken column by column where they
    # are read (not copied whole: at a million leads ~0.7 GB beside the state read back).
    kept = np.sort(at[same]) if base is not None and not reason else None
    if kept is not None and result.pipeline is not None:  # the typical values: over the merged inputs
        # An input at a time, the kept leads' stored values then the changed leads' (every input
        # of a million leads as one frame was the second night's score step's peak).
        reused_rows = base.rows
        changed = model_mod.model_inputs(features.loc[np.flatnonzero(~same)], result.numeric, result.categorical)
        typical = model_mod.typical_values(result, lambda c: pd.concat(
            [reused_rows[incremental.X_PREFIX + c].take(kept), changed[c]], ignore_index=True))
        del reused_rows, changed
        reason = incremental.difference(base.meta["fingerprint"], {"typical": incremental.typical_key(typical)})
    if reason:
        todo = np.arange(len(leads))
        if len(features) < len(leads):
            features = _features(leads, ratios, todo, cfg)
        if result.pipeline is not None:
            typical = model_mod.typical_values(result, model_mod.model_inputs(features, result.numeric, result.categorical))
    else:
        todo = np.flatnonzero(~same)
    depends["typical"] = incremental.typical_key(typical)
    reused = kept if not reason else None
    # The per-lead work reads only the features below: the leads' names, contacts and places
    # that the features carry as a copy go before it, and so do the ratios (~0.25 GB at a million
    # leads) and, when the caller handed them over, the leads and their index (~0.6 GB).
    n_leads = len(leads)
    features = features[_per_lead_reads(features, result)]
    del leads, ratios, index
    release_memory(n_leads)  # training's and the features' garbage, before a million leads are predicted
    # PER_LEAD_ROWS leads at a time (a lead's scores are its own: the incremental mode relies on
    # it), each part in its final types at once: at a million leads the model inputs, effects,
    # factors and reasons of all of them at once were ~2 GB of the step's 5 GB peak.
    parts = ([_canonical(base.rows, reused, consume=base_handed_over)]
             if base is not None and reused is not None and len(reused) else [])
    # The base run's state is not read again: a caller that handed it over (the nightly step)
    # lets its million rows go before tonight's are joined, ranked and copied into the state.
    base_run = base.run_id if base is not None else None
    del base
    # No lead to score and none reused: one part of no rows still gives the columns.
    explainer = model_mod.Explainer(result, typical) if result.pipeline is not None else None
    for start in range(0, len(todo) if len(todo) or parts else 1, PER_LEAD_ROWS):
        some = todo[start : start + PER_LEAD_ROWS]
        parts.append(_canonical(_per_lead(features.loc[some], result, cfg, explainer).assign(input_hash=hashes[some])))
    del features
    rows = stacked_parts(parts)  # (pd.concat of the whole parts was the step's peak at a million leads: +0.25 GB)
    # Priority first (highest first, missing last), then lead ID: the order as positions, not a
    # sorted copy of every row and column (~0.5 GB at a million leads).
    priority = rows["priority"].to_numpy(dtype=float)
    # (the lead IDs' text order by Arrow's sort: pandas' sorted factorize took ~0.8 s at a million)
    order = np.lexsort((text_ranks(large_text(rows["lead_id"])), np.where(np.isnan(priority), np.inf, -priority)))
    rank = np.empty(len(rows), dtype=int)
    rank[order] = np.arange(1, len(order) + 1)
    rows["rank"] = rank
    rows["tier"] = assign_tiers(rows["rank"], cfg.tiers).astype(object)
    scores = rows[SCORE_COLUMNS].take(order).reset_index(drop=True)
    state = incremental.state_frame(
        rows[["lead_id", "input_hash", *PER_LEAD[1:], *[incremental.X_PREFIX + c for c in inputs]]],
        {"fingerprint": depends, "training": training,
         "model": {"status": result.status, "reason": result.reason, "metrics": result.metrics,
                   "numeric": result.numeric, "categorical": result.categorical}})
    stats = {
        "mode": "full" if reason else "incremental",
        "reason": reason or f"{len(todo)} of {n_leads} leads new or changed since run {base_run}",
        "leads_scored": int(len(todo)),
        "leads_reused": int(n_leads - len(todo)),
        "leads_ranked": len(scores),
        "model_from_base_run": model_reused,
        "with_financials": int((scores["ratio_coverage"] > 0).sum()),
        "model": "reused" if stored is not None and result.pipeline is not None else result.status,
        "model_reason": result.reason or (f"reusing the stored model (AUC {result.metrics.get('auc')}, "
                                          f"{result.metrics.get('validation')})" if stored is not None else ""),
        **{f"model_{k}": v for k, v in result.metrics.items()},
        **{f"tier_{t}": int((scores["tier"] == t).sum()) for t in ["A", "B", "C", "D"]},
    }
    return ScoreResult(scores, result, stats, state, training)


def _why_full(base: incremental.Base | None, depends: dict[str, str]) -> str:
    """Why every lead is scored tonight ("" when the base run's scores may be reused, the typical
    values being checked once known)."""
    if base is None:
        return "no state of a base run to reuse"
    if not depends["model"]:
        return "the stored model has no name to compare"
    changed = incremental.difference(base.meta["fingerprint"], depends)
    inputs = [incremental.X_PREFIX + c for c in depends["inputs"].split(",") if c]
    missing = sorted({"lead_id", "input_hash", *PER_LEAD, *inputs} - set(base.rows.columns))
    return changed or (f"the state of run {base.run_id} lacks {', '.join(missing)}" if missing else "")


def assign_tiers(rank: pd.Series, cutoffs: dict[str, float]) -> pd.Series:
    """Tier letters from cumulative shares of the ranked list, e.g. {A: .1, B: .3, C: .6}; the
    rest are D. The top lead is always A."""
    n = max(len(rank), 1)
    share = (rank - 1) / n
    tier = pd.Series("D", index=rank.index)
    for letter, cut in sorted(cutoffs.items(), key=lambda kv: kv[1], reverse=True):
        tier = tier.where(share >= cut, letter)
    return tier
