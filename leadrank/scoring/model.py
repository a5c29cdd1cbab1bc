"""The model score: a scikit-learn pipeline learned from the team's own won and lost deals.

One pipeline builder serves the nightly model and `leadrank model evaluate`, so what a user
checks on their CRM export is what runs at night. Validation is honest: on later data when
outcomes have dates (train on the earlier 75 %, test on the later 25 %), else stratified 5-fold
cross-validation; the reported AUC is never measured on training rows. With too few outcomes of
either class there is no model (cold start) and the priority is the fit score alone; the
output says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

SMALL_DATA_ROWS = 500  # below this a regularised logistic regression beats boosted trees

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


def build_pipeline(numeric: list[str], categorical: list[str], n_rows: int) -> Pipeline:
    """Impute, encode and classify; calibrated boosted trees on enough data, else logistic
    regression (which is well calibrated by construction)."""
    encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5 if n_rows >= 200 else 1,
                            sparse_output=False)
    categories = Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="(missing)")), ("onehot", encoder)])
    numbers = Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                        ("scale", StandardScaler())])
    prep = ColumnTransformer([("num", numbers, numeric), ("cat", categories, categorical)], remainder="drop")
    if n_rows < SMALL_DATA_ROWS:
        classifier: Any = LogisticRegression(C=0.5, max_iter=2000)
    else:
        trees = HistGradientBoostingClassifier(learning_rate=0.06, max_iter=300, max_leaf_nodes=31,
                                               l2_regularization=1.0, min_samples_leaf=30, random_state=0)
        classifier = CalibratedClassifierCV(trees, method="isotonic", cv=3)
    return Pipeline([("prep", prep), ("model", classifier)])


def _as_frame(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for col in numeric:
        out[col] = pd.to_numeric(frame[col], errors="coerce").astype(float) if col in frame else np.nan
    for col in categorical:
        values = frame[col] if col in frame else pd.Series(None, index=frame.index)
        out[col] = values.astype(object).where(values.notna(), np.nan).map(lambda v: v if v is np.nan else str(v))
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


def evaluate_and_fit(
    frame: pd.DataFrame,
    y: pd.Series,
    numeric: list[str],
    categorical: list[str],
    *,
    dates: pd.Series | None = None,
    min_per_class: int = 8,
) -> ModelResult:
    """Validate honestly, then fit on all rows. `y` is 1 for won, 0 for lost."""
    y = y.astype(int).to_numpy()
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    summary = {"n_rows": int(len(y)), "n_positive": n_pos, "n_negative": n_neg}
    if min(n_pos, n_neg) < min_per_class:
        reason = (f"cold start: {n_pos} won and {n_neg} lost outcomes, need at least {min_per_class} of each; "
                  "priority uses the fit score only")
        return ModelResult(None, {**summary, "validation": "none"}, numeric, categorical, reason)
    X = _as_frame(frame, numeric, categorical)
    pipeline = build_pipeline(numeric, categorical, len(y))
    validation, y_true, p = _validate(pipeline, X, y, dates)
    metrics = {
        **summary,
        "validation": validation,
        "auc": round(float(roc_auc_score(y_true, p)), 4),
        "precision_at_10pct": round(precision_at_k(y_true, p), 4),
        "brier": round(float(brier_score_loss(y_true, p)), 4),
        "calibration_error": round(calibration_error(y_true, p), 4),
        "base_rate": round(float(y.mean()), 4),
    }
    pipeline.fit(X, y)
    return ModelResult(pipeline, metrics, numeric, categorical)


def _validate(pipeline: Pipeline, X: pd.DataFrame, y: np.ndarray, dates: pd.Series | None) -> tuple[str, np.ndarray, np.ndarray]:
    if dates is not None:
        when = pd.to_datetime(dates, errors="coerce").to_numpy()
        if not pd.isna(when).any():
            order = np.argsort(when, kind="stable")
            cut = int(len(order) * 0.75)
            train, test = order[:cut], order[cut:]
            if len(set(y[train])) == 2 and len(set(y[test])) == 2:
                fitted = pipeline.fit(X.iloc[train], y[train])
                return "time_split_75_25", y[test], fitted.predict_proba(X.iloc[test])[:, 1]
    folds = min(5, int(min(np.bincount(y))))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    p = cross_val_predict(pipeline, X, y, cv=cv, method="predict_proba")[:, 1]
    return f"stratified_{folds}fold_cv", y, p


def predict(result: ModelResult, frame: pd.DataFrame) -> np.ndarray:
    assert result.pipeline is not None
    X = _as_frame(frame, result.numeric, result.categorical)
    return result.pipeline.predict_proba(X)[:, 1]


def feature_effects(result: ModelResult, frame: pd.DataFrame, base: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(effects, above): per lead and feature, how much the prediction moves when that feature
    is set to its typical value (median, or most common category) — positive means the lead's
    own value raises its score — and whether the lead's value is above the typical one
    (numeric features; NaN for categories and missing values)."""
    assert result.pipeline is not None
    X = _as_frame(frame, result.numeric, result.categorical)
    effects = pd.DataFrame(index=frame.index)
    above = pd.DataFrame(index=frame.index)
    for col in [*result.numeric, *result.categorical]:
        if col in result.numeric:
            typical = X[col].median()
            above[col] = (X[col] > typical).where(X[col].notna() & (X[col] != typical))
        else:
            typical = X[col].mode().iloc[0] if X[col].notna().any() else np.nan
            above[col] = np.nan
        changed = X.copy()
        changed[col] = typical
        effects[col] = base - result.pipeline.predict_proba(changed)[:, 1]
    return effects, above
