"""The model score: a scikit-learn pipeline learned from the team's own won and lost deals.

One pipeline builder serves the nightly model, the weekly retrain and `leadrank model evaluate`,
so what a user checks on their CRM export is what runs at night. Validation is honest: on later
data when every outcome has a date (train on the earlier 75 %, test on the later 25 %), else
stratified 5-fold cross-validation; the reported metrics are never measured on training rows.
With too few outcomes of either class there is no model (cold start) and the priority is the
fit score alone; the output says so.

The classifier, on enough data, is a soft vote of two models that see the data differently,
then calibrated (Platt scaling of the vote's log-odds, out of fold):
  - gradient-boosted shallow trees with native categorical splits (non-linear effects and
    interactions of a few features), and
  - a logistic regression over binned numbers and one-hot categories plus all their pairwise
    products (every two-way interaction, heavily regularised).
Below SMALL_DATA_ROWS outcomes a plain regularised logistic regression is used instead.
CRM exports are messy: categories are compared case- and space-insensitively, form placeholders
("Select", "请选择") are their own category (a visitor who skipped the question behaves unlike one
who was never asked), blanks are "(missing)", and text in a number column is read as missing and
counted. A category unseen in training is treated as missing, never an error.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, OrdinalEncoder, PolynomialFeatures, StandardScaler
from threadpoolctl import threadpool_limits

from leadrank.scoring.distinct import distinct_rows

SMALL_DATA_ROWS = 500  # below this a regularised logistic regression beats the ensemble
MAX_PAIR_WIDTH = 400  # one-hot width above which the pairwise model is left out (memory)
PLACEHOLDER = "(placeholder)"
MISSING = "(missing)"
_PLACEHOLDERS = {"select", "please select", "choose", "--", "-", "n/a", "na", "none", "null", "nan", "请选择", "未选择"}

LEAD_NUMERIC = [
    "n_sources", "n_records", "exhibitions", "ratio_score", "ratio_coverage", "segment_score",
    "current_asset_ratio_pct", "net_margin_pct", "roa_pct", "collection_days_pct", "inventory_days_pct",
    "log_monthly_volume", "has_website", "has_email", "has_phone", "company_email", "uscc_valid", "is_branch",
]
LEAD_CATEGORICAL = ["customer_type", "channel", "product_line", "province", "member_level", "country"]


@dataclass
class ModelResult:
    pipeline: Pipeline | None
    metrics: dict[str, Any]
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    reason: str = ""  # why there is no model, in words


def clean_category(values: pd.Series) -> pd.Series:
    """Case- and space-insensitive categories; blanks missing (NaN); placeholders one category.
    Cleaned once per distinct value (a million leads carry a few dozen provinces)."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    text = pd.Series(uniques, dtype=object).astype(str)
    text = text.str.strip().str.replace(r"\s+", " ", regex=True).str.casefold()
    text = text.where(~text.isin(_PLACEHOLDERS), PLACEHOLDER)
    cleaned = np.append(text.where(text != "", np.nan).to_numpy(dtype=object), np.nan)
    return pd.Series(cleaned[codes], index=values.index, dtype=object)


def _tree_model(numeric: list[str], categorical: list[str]) -> Pipeline:
    ordinal = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, max_categories=250)
    prep = ColumnTransformer([
        ("num", "passthrough", numeric),
        ("cat", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value=MISSING, keep_empty_features=True)), ("ordinal", ordinal)]),
         categorical),
    ])
    mask = [False] * len(numeric) + [True] * len(categorical)
    trees = HistGradientBoostingClassifier(max_depth=3, learning_rate=0.05, max_iter=300, min_samples_leaf=20,
                                           categorical_features=mask if categorical else None, random_state=0)
    return Pipeline([("prep", prep), ("trees", trees)])


def _pair_model(numeric: list[str], categorical: list[str]) -> Pipeline:
    bins = Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                     ("bins", KBinsDiscretizer(n_bins=10, encode="onehot", strategy="quantile",
                                               quantile_method="averaged_inverted_cdf"))])
    onehot = Pipeline([("impute", SimpleImputer(strategy="constant", fill_value=MISSING, keep_empty_features=True)),
                       ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20))])
    prep = ColumnTransformer([("bins", bins, numeric), ("missing", MissingIndicator(features="all"), numeric),
                              ("cat", onehot, categorical)], sparse_threshold=1.0)
    return Pipeline([("prep", prep), ("pairs", PolynomialFeatures(2, interaction_only=True, include_bias=False)),
                     ("logit", LogisticRegression(C=0.03, solver="liblinear", max_iter=500, random_state=0))])


def _linear_model(numeric: list[str], categorical: list[str], n_rows: int) -> Pipeline:
    encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5 if n_rows >= 200 else 1,
                            sparse_output=False)
    categories = Pipeline([("impute", SimpleImputer(strategy="constant", fill_value=MISSING, keep_empty_features=True)), ("onehot", encoder)])
    numbers = Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                        ("scale", StandardScaler())])
    prep = ColumnTransformer([("num", numbers, numeric), ("cat", categories, categorical)], remainder="drop")
    return Pipeline([("prep", prep), ("logit", LogisticRegression(C=0.5, max_iter=2000))])


class LogOddsVote(VotingClassifier):
    """A soft vote whose decision score is the log-odds of the voted probability. Platt scaling
    fits a sigmoid to a classifier's score: fed the probability itself (a bounded score) it
    cannot reach the extremes, and on X Education it predicted 7.6 % for a bottom decile that
    won 3.5 %; on the log-odds the calibration error fell from 0.028 to 0.012, ranking unchanged."""

    def decision_function(self, X: Any) -> np.ndarray:
        p = np.clip(self.predict_proba(X)[:, 1], 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))


def build_pipeline(numeric: list[str], categorical: list[str], n_rows: int, onehot_width: int = 0) -> Pipeline:
    """The production model for this many outcomes (see the module docstring)."""
    if n_rows < SMALL_DATA_ROWS:
        return Pipeline([("model", _linear_model(numeric, categorical, n_rows))])
    members: list[tuple[str, Any]] = [("trees", _tree_model(numeric, categorical))]
    if onehot_width <= MAX_PAIR_WIDTH:
        members.append(("pairs", _pair_model(numeric, categorical)))
    vote = LogOddsVote(members, voting="soft") if len(members) > 1 else members[0][1]
    # ensemble=False: one model fitted on every row, with a Platt scaling fitted out of fold;
    # a monotone map, so calibration costs no ranking quality.
    return Pipeline([("model", CalibratedClassifierCV(vote, method="sigmoid", cv=3, ensemble=False))])


def onehot_width(frame: pd.DataFrame, numeric: list[str], categorical: list[str], min_frequency: int = 20) -> int:
    """How wide the pairwise model's input would be (bins, missing flags, frequent categories)."""
    width = 11 * len(numeric)
    for col in categorical:
        counts = frame[col].fillna(MISSING).value_counts()
        width += int((counts >= min_frequency).sum()) + 1
    return width


def _as_frame(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for col in numeric:
        out[col] = pd.to_numeric(frame[col], errors="coerce").astype(float) if col in frame else np.nan
    for col in categorical:
        values = frame[col] if col in frame else pd.Series(np.nan, index=frame.index, dtype=object)
        out[col] = clean_category(values)
    return out


def precision_at_k(y: np.ndarray, p: np.ndarray, share: float = 0.1) -> float:
    k = max(1, int(round(len(y) * share)))
    top = np.argsort(-p, kind="stable")[:k]
    return float(np.mean(y[top]))


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width probability bins."""
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.mean() * abs(p[mask].mean() - y[mask].mean())
    return float(total)


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Predicted against observed win rate per probability decile of the validation rows."""
    order = np.argsort(p, kind="stable")
    out = []
    for chunk in np.array_split(order, min(bins, len(order))):
        if len(chunk):
            out.append({"n": int(len(chunk)), "predicted": round(float(p[chunk].mean()), 4),
                        "observed": round(float(y[chunk].mean()), 4)})
    return out


def evaluate_and_fit(
    frame: pd.DataFrame,
    y: pd.Series,
    numeric: list[str],
    categorical: list[str],
    *,
    dates: pd.Series | None = None,
    min_per_class: int = 8,
    top_share: float = 0.1,
    fit_final: bool = True,
    cv_seed: int = 0,
) -> ModelResult:
    """Validate honestly, then (unless `fit_final` is off) fit on all rows. `y` is 1 for won,
    0 for lost. The metrics carry the training-data summary stored with each model version.
    `cv_seed` shuffles the cross-validation folds (fixed, so that a figure can be reproduced;
    bench/eval_model.py varies it to show how much of a figure is the draw of the folds)."""
    y = y.astype(int).to_numpy()
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    summary: dict[str, Any] = {"n_rows": int(len(y)), "n_positive": n_pos, "n_negative": n_neg,
                               "numeric_features": list(numeric), "categorical_features": list(categorical)}
    if dates is not None:
        when = pd.to_datetime(pd.Series(dates), errors="coerce")
        summary["date_range"] = [str(when.min().date()), str(when.max().date())] if when.notna().any() else None
    if min(n_pos, n_neg) < min_per_class:
        reason = (f"cold start: {n_pos} won and {n_neg} lost outcomes, need at least {min_per_class} of each; "
                  "no model, priority uses the fit score only")
        return ModelResult(None, {**summary, "validation": "none", "auc": None}, numeric, categorical, reason)
    X = _as_frame(frame, numeric, categorical)
    width = onehot_width(X, numeric, categorical)
    pipeline = build_pipeline(numeric, categorical, len(y), width)
    # One thread: on CRM-sized data OpenMP's start-up and contention cost more than they save
    # (boosting ran 7x slower with two threads on a busy two-core machine).
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.filterwarnings("ignore", category=UserWarning)  # KBins on near-constant columns
        validation, note, y_true, p = _validate(pipeline, X, y, dates, cv_seed)
        if fit_final:
            pipeline.fit(X, y)
    k = max(1, int(round(len(y_true) * top_share)))
    pooled = round(float(roc_auc_score(y_true, p)), 4)
    by_fold: list[float] = []
    if validation.startswith("stratified"):
        by_fold = fold_aucs(y_true, p, int(validation.split("_")[1].removesuffix("fold")), cv_seed)
    metrics = {
        **summary,
        "validation": validation,
        # Cross-validated AUC is the mean of the folds' AUCs (as cross_val_score, caret and
        # tidymodels report it): each fold's scores come from a different model, and pooling
        # them also measures how differently those models are calibrated, which says
        # nothing about how well the one deployed model ranks. The pooled figure is kept beside.
        "auc": round(float(np.mean(by_fold)), 4) if by_fold else pooled,
        "auc_pooled": pooled,
        "precision_at_top_k": {"k": k, "share": top_share, "precision": round(precision_at_k(y_true, p, top_share), 4)},
        "precision_at_10pct": round(precision_at_k(y_true, p, 0.1), 4),
        "brier": round(float(brier_score_loss(y_true, p)), 4),
        "calibration_error": round(calibration_error(y_true, p), 4),
        "calibration": calibration_table(y_true, p),
        "base_rate": round(float(y.mean()), 4),
        "validation_rows": int(len(y_true)),
        "classifier": _describe(pipeline),
    }
    if by_fold:
        metrics["auc_by_fold"] = by_fold
        metrics["auc_fold_mean_sd"] = [round(float(np.mean(by_fold)), 4), round(float(np.std(by_fold)), 4)]
    if note:
        metrics["validation_note"] = note
    return ModelResult(pipeline if fit_final else None, metrics, numeric, categorical)


def _describe(pipeline: Pipeline) -> str:
    model = pipeline.named_steps["model"]
    if isinstance(model, CalibratedClassifierCV):
        inner = model.estimator
        names = [n for n, _ in inner.estimators] if isinstance(inner, VotingClassifier) else ["trees"]
        return "calibrated soft vote of " + " + ".join(
            {"trees": "gradient-boosted trees", "pairs": "pairwise logistic regression"}[n] for n in names)
    return "logistic regression"


def _validate(pipeline: Pipeline, X: pd.DataFrame, y: np.ndarray, dates: pd.Series | None,
              cv_seed: int = 0) -> tuple[str, str, np.ndarray, np.ndarray]:
    note = ""
    if dates is not None:
        when = pd.to_datetime(pd.Series(dates).reset_index(drop=True), errors="coerce").to_numpy()
        missing = int(pd.isna(when).sum())
        if missing:
            note = f"{missing} outcomes without a date: validated by stratified cross-validation instead of on later data"
        else:
            order = np.argsort(when, kind="stable")
            cut = int(len(order) * 0.75)
            train, test = order[:cut], order[cut:]
            if len(set(y[train])) == 2 and len(set(y[test])) == 2:
                fitted = pipeline.fit(X.iloc[train], y[train])
                return "time_split_75_25", note, y[test], fitted.predict_proba(X.iloc[test])[:, 1]
            note = "the later 25 % of outcomes hold one class only: stratified cross-validation instead"
    folds = min(5, int(min(np.bincount(y))))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=cv_seed)
    p = cross_val_predict(pipeline, X, y, cv=cv, method="predict_proba")[:, 1]
    return f"stratified_{folds}fold_cv", note, y, p


def fold_aucs(y: np.ndarray, p: np.ndarray, folds: int, cv_seed: int = 0) -> list[float]:
    """AUC of each cross-validation fold (the same splits as _validate): their spread shows how
    much of a difference between two models is noise."""
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=cv_seed)
    return [round(float(roc_auc_score(y[test], p[test])), 4) for _, test in cv.split(np.zeros(len(y)), y)]


def _distinct_rows(X: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """(the distinct rows of X, each row's position among them): the model runs once per vector."""
    if X.empty or not len(X.columns):
        return X, np.zeros(len(X), dtype=np.int64)
    first, group = distinct_rows(X)
    return X.iloc[first], group


PREDICT_CHUNK_ROWS = 100_000


def _predict_in_chunks(pipeline: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """predict_proba of the won class, a slice of rows at a time: the one-hot and polynomial
    expansions of a million rows at once take gigabytes."""
    parts = [pipeline.predict_proba(X.iloc[start:start + PREDICT_CHUNK_ROWS])[:, 1]
             for start in range(0, len(X), PREDICT_CHUNK_ROWS)]
    return np.concatenate(parts) if parts else np.empty(0)


def predict(result: ModelResult, frame: pd.DataFrame) -> np.ndarray:
    assert result.pipeline is not None
    distinct, row = _distinct_rows(_as_frame(frame, result.numeric, result.categorical))
    return _predict_in_chunks(result.pipeline, distinct)[row]


def feature_effects(result: ModelResult, frame: pd.DataFrame, base: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(effects, above): per lead and feature, how much the prediction moves when that feature
    is set to its typical value (median, or most common category) — positive means the lead's
    own value raises its score — and whether the lead's value is above the typical one
    (numeric features; NaN for categories and missing values). The typical values are those
    of all leads; the predictions run once per distinct feature vector, in one call."""
    assert result.pipeline is not None
    X = _as_frame(frame, result.numeric, result.categorical)
    distinct, row = _distinct_rows(X)
    features = [*result.numeric, *result.categorical]
    above = pd.DataFrame(index=frame.index)
    base_distinct = np.empty(len(distinct))
    base_distinct[row] = base
    effects = np.zeros((len(features), len(distinct)))
    variants, where = [], []
    for k, col in enumerate(features):
        if col in result.numeric:
            typical = X[col].median()
            above[col] = (X[col] > typical).where(X[col].notna() & (X[col] != typical))
        else:
            typical = X[col].mode().iloc[0] if X[col].notna().any() else np.nan
            above[col] = np.nan
        # A vector already at the typical value is unchanged by setting it: its effect is 0.
        values = distinct[col]
        same = (values == typical).to_numpy(dtype=bool) | (values.isna().to_numpy() & pd.isna(typical))
        if (~same).any():
            variants.append(distinct[~same].assign(**{col: typical}))
            where.append((k, np.flatnonzero(~same)))
    if variants:
        occluded = _predict_in_chunks(result.pipeline, pd.concat(variants, ignore_index=True))
        start = 0
        for (k, rows), variant in zip(where, variants, strict=True):
            effects[k, rows] = base_distinct[rows] - occluded[start:start + len(variant)]
            start += len(variant)
    return pd.DataFrame(effects[:, row].T, index=frame.index, columns=features), above


# --- any tabular outcome export (leadrank model evaluate) -----------------------------------

@dataclass
class OutcomeTable:
    """A CRM export read for modelling: features, labels, and what was done to the columns."""

    frame: pd.DataFrame
    y: pd.Series
    numeric: list[str]
    categorical: list[str]
    dates: pd.Series | None
    notes: dict[str, Any]


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?%?$")


def _looks_numeric(values: pd.Series) -> tuple[bool, int]:
    """(is this a number column, how many of its filled cells are text)."""
    text = values.astype(str).str.strip().str.replace(",", "", regex=False)
    filled = text[(text != "") & values.notna()]
    if filled.empty:
        return False, 0
    numbers = filled.str.match(_NUMBER)
    return bool(numbers.mean() >= 0.95), int((~numbers).sum())


def positive_label(values: pd.Series, positive: str | None) -> str:
    """The target value that means won: the one given, else 1 / yes / true / won / 成交."""
    present = {str(v).strip() for v in values.dropna() if str(v).strip()}
    if positive is not None:
        if positive not in present:
            raise ValueError(f"--positive {positive!r} does not occur in the target (values: {sorted(present)[:10]})")
        return positive
    for candidate in ("1", "1.0", "yes", "Yes", "YES", "true", "True", "TRUE", "won", "Won", "成交", "赢单", "converted"):
        if candidate in present:
            return candidate
    raise ValueError(f"cannot tell which target value is a win (values: {sorted(present)[:10]}); give --positive")


def outcome_table(table: pd.DataFrame, target: str, *, positive: str | None = None, drop: list[str] | None = None,
                  time_column: str | None = None) -> OutcomeTable:
    """Split a raw export (all strings) into features and labels, choosing each column's kind."""
    drop = list(drop or [])
    unknown = [c for c in [target, *drop, *([time_column] if time_column else [])] if c not in table.columns]
    if unknown:
        raise ValueError(f"no column(s) {unknown} in the data (columns: {list(table.columns)[:40]})")
    raw_target = table[target].astype(str).str.strip()
    labelled = raw_target != ""
    win = positive_label(raw_target[labelled], positive)
    notes: dict[str, Any] = {"rows_without_target": int((~labelled).sum()), "positive_value": win,
                             "dropped": drop, "ignored": {}, "text_in_number_columns": {}}
    rows = table[labelled].reset_index(drop=True)
    y = (raw_target[labelled].reset_index(drop=True) == win).astype(int)
    dates = None
    if time_column:
        from leadrank.scoring.outcomes import parse_dates

        dates = pd.to_datetime(parse_dates(rows[time_column].fillna("")), errors="coerce")
    numeric: list[str] = []
    categorical: list[str] = []
    frame = pd.DataFrame(index=rows.index)
    for col in rows.columns:
        if col in (target, time_column) or col in drop:
            continue
        values = rows[col]
        is_number, text_cells = _looks_numeric(values)
        if is_number:
            cleaned = values.astype(str).str.strip().str.replace(",", "", regex=False).str.rstrip("%")
            frame[col] = pd.to_numeric(cleaned.where(cleaned != ""), errors="coerce")
            if text_cells:
                notes["text_in_number_columns"][col] = text_cells
            if frame[col].nunique() <= 1:
                notes["ignored"][col] = "constant"
                frame = frame.drop(columns=col)
                continue
            numeric.append(col)
            continue
        cleaned = clean_category(values)
        distinct = cleaned.nunique(dropna=False)
        if distinct <= 1:
            notes["ignored"][col] = "constant"
            continue
        if distinct > 0.5 * len(cleaned) and distinct > 50:
            notes["ignored"][col] = "looks like an identifier (almost every value distinct)"
            continue
        frame[col] = cleaned
        categorical.append(col)
    notes["possible_leaks"] = possible_leaks(frame, y, numeric, categorical)
    return OutcomeTable(frame, y, numeric, categorical, dates, notes)


LEAK_AUC = 0.90


def possible_leaks(frame: pd.DataFrame, y: pd.Series, numeric: list[str], categorical: list[str]) -> dict[str, float]:
    """Columns that alone separate won from lost almost perfectly (AUC ≥ LEAK_AUC): usually
    filled in after the outcome was known (a sales tag, a status), which would make the model
    look better than it can be. Listed for the user to check, not dropped silently."""
    if y.nunique() < 2:
        return {}
    found: dict[str, float] = {}
    for col in [*numeric, *categorical]:
        if col in numeric:
            score = frame[col].fillna(frame[col].median())
        else:
            key = frame[col].fillna(MISSING)
            score = y.groupby(key).transform("mean")
        auc = float(roc_auc_score(y, score))
        auc = max(auc, 1 - auc)
        if auc >= LEAK_AUC:
            found[col] = round(auc, 4)
    return found
