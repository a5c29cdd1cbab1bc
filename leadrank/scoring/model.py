"""The model score: a scikit-learn pipeline learned from the team's own won and lost deals.

One pipeline builder serves the nightly model, the weekly retrain and `leadrank model evaluate`,
so what a user checks on their CRM export is what runs at night. Validation is honest: on later
data when at least half the outcomes have a date (the later half of the dated ones in three
blocks, each predicted by a model trained on every outcome before it, undated ones included) and
those dates tell each block from what came before (not one export day on every row), else
stratified 5-fold cross-validation; the reported metrics are never measured on training rows.
With too few outcomes of either class there is no model (cold start) and the priority is the
fit score alone; the output says so.

The classifier, on enough data, is a weighted vote of models that see the data differently,
calibrated (a Platt sigmoid over the members' log-odds, one weight each, learned out of fold):
  - gradient-boosted shallow trees with native categorical splits (non-linear effects and
    interactions of a few features),
  - a logistic regression over binned numbers and one-hot categories plus all their pairwise
    products (every two-way interaction, heavily regularised), left out when the one-hot
    input is too wide for it (MAX_PAIR_WIDTH),
  - a plain regularised logistic regression (each feature's main effect, smoothly in the
    numbers),
  - gradient-boosted trees at scikit-learn's default settings (deep interactions, repeated rows),
    and
  - a logistic regression over each input's frequent values one-hot (FrequentValues): a level
    for each respondent, account or year where rows repeat an entity whose number is a column.
The weights are learned from the outcomes (IncreasingPlatt: none below zero, pulled towards
equal weights by EQUAL_WEIGHT_PRIOR), so the vote follows whichever members rank a table's
outcomes; with equal weights it fell under the default gradient-boosted model alone on four
of the first eight held-out tables it was run on (docs/scoring.md, "What it reaches").
The vote is used from SMALL_DATA_ROWS outcomes up (where its trees can split): on samples of
100 to 450 outcomes of fifteen tables it was at worst 0.009 under the default gradient-boosted
model, where the plain logistic regression alone, used below 500 outcomes until 7 December
2026, fell 0.05 under it on a table whose outcome is an interaction. Below, the plain logistic
regression alone (docs/scoring.md, "Small outcome tables").
CRM exports are messy: categories are compared case- and space-insensitively, form placeholders
("Select", "请选择") are their own category (a visitor who skipped the question behaves unlike one
who was never asked), blanks are "(missing)", numbers are read as exports write them ("¥1,200",
"3.5万", "N/A": leadrank.scoring.numbers), and text in a number column is read as missing and
counted. A category unseen in training is treated as missing, never an error.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, OneToOneFeatureMixin, TransformerMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, OrdinalEncoder, PolynomialFeatures, StandardScaler
from sklearn.utils.validation import validate_data
from threadpoolctl import threadpool_limits

from leadrank.fingerprints import row_hash
from leadrank.scoring.distinct import distinct_rows
from leadrank.scoring.numbers import NUMBER_SHARE, PLACEHOLDERS, number_cells
from leadrank.scoring.occlusion import PipelineOcclusion
from leadrank.scoring.outcomes import WON_WORDS, outcome_label, parse_dates
from leadrank.tables import header_key

MAX_PAIR_WIDTH = 400  # one-hot width above which the pairwise model is left out (memory)
TREE_LEAF_ROWS = 20  # the fewest rows in a leaf of either tree member (scikit-learn's default)
# The fewest outcomes for the vote: where the validation's fits (four fifths of the rows under five
# folds) hold two leaves' rows, so that a tree can split (validated on later blocks, the first
# block's model is trained on half the rows: its trees split from 80 dated outcomes).
# Below, each tree would be one leaf, a constant that ranks nothing, and the vote the pairwise and
# plain logistic regressions, which on samples of 50 rows of twelve tables ranked as the plain one
# alone does (mean AUC 0.7154 against 0.7148) and made a demo night 0.97 -> 1.52 s: it is used alone.
SMALL_DATA_ROWS = -(-2 * TREE_LEAF_ROWS * 4 // 3)  # 54
# Blocks of the later half of the dated outcomes that validation on later data predicts, each by
# a model trained on every outcome before it (`_later_blocks`). The validated AUC's error against
# what the deployed model reached on the next 2,000 outcomes (root mean square, samples of 60 /
# 120 / 240 outcomes; bench/eval_time_validation.py, docs/scoring.md): on a table whose won share
# drifts along the file 0.33 / 0.091 / 0.069 with one split of the later quarter, 0.17 / 0.067 /
# 0.042 with three blocks; over 21 held-out tables at 120 outcomes 0.099 -> 0.071 on average.
TIME_BLOCKS = 3
# The fewest rows a value must be held by to get its own indicator in the `values` member: two,
# the fewest from which a level learnt on one row applies to another (a panel's entity with four
# rows has about three in a validation fold's training rows). The sixteen development tables
# measured 2 and 5 alike (each table's mean AUC over three fold draws within 0.0008).
FREQUENT_ROWS = 2
PLACEHOLDER = "(placeholder)"
MISSING = "(missing)"

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
    refused: bool = False  # validated, but the deployment guard (`refusal`) kept it out

    @property
    def status(self) -> str:
        """trained | refused | cold_start, as stored in model_versions."""
        return "trained" if self.pipeline is not None else "refused" if self.refused else "cold_start"


def clean_category(values: pd.Series) -> pd.Series:
    """Case- and space-insensitive categories; blanks missing (NaN); placeholders one category.
    Cleaned once per distinct value (a million leads carry a few dozen provinces)."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    text = pd.Series(uniques, dtype=object).astype(str)
    text = text.str.strip().str.replace(r"\s+", " ", regex=True).str.casefold()
    text = text.where(~text.isin(PLACEHOLDERS), PLACEHOLDER)
    cleaned = np.append(text.where(text != "", np.nan).to_numpy(dtype=object), np.nan)
    return pd.Series(cleaned[codes], index=values.index, dtype=object)


class EmptyAsZero(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """The trees' numbers as they are, missing values left missing (the trees learn where they
    go), except a column with no value at all in the rows fitted on: 0 there and afterwards.
    scikit-learn's boosted trees fail on such a column ("window shape cannot be larger than
    input array shape"), and the lead features have them: the ratio columns when no lead with
    an outcome has a financial statement, or a column whose few values all fall in one
    validation fold."""

    def fit(self, X: Any, y: Any = None) -> EmptyAsZero:
        values = validate_data(self, X, ensure_all_finite="allow-nan", dtype=float)
        self.empty_ = np.isnan(values).all(axis=0)
        return self

    def transform(self, X: Any) -> np.ndarray:
        values = validate_data(self, X, ensure_all_finite="allow-nan", dtype=float, reset=False, copy=True)
        values[:, self.empty_] = 0.0
        return values


class FrequentValues(TransformerMixin, BaseEstimator):
    """Each number column's frequent values one-hot: a value held by at least `min_rows` of the
    rows fitted on gets an indicator column of its own (sparse), other values none. Why: a number
    in an outcome table is often a code, a person's or a company's number in a table that lists
    each several times (a panel: a survey's respondents, a CRM's accounts over the years), a
    year, a score on a scale; its outcome follows the value, not a straight line in it. The
    plain logistic regression sees a number as a line, the trees as ranges; this lets the
    `values` member learn one level per value, as every member does for a category. A column
    whose values never repeat (money, measurements) yields no indicator. With none at all, one
    column of zeros (a ColumnTransformer refuses a part without columns), named after the first
    input so that the explanations still put each output down to one input."""

    def __init__(self, min_rows: int = 2) -> None:
        self.min_rows = min_rows

    def fit(self, X: Any, y: Any = None) -> FrequentValues:
        values = validate_data(self, X, ensure_all_finite="allow-nan", dtype=float)
        self.values_ = []
        for column in values.T:
            seen, counts = np.unique(column[~np.isnan(column)], return_counts=True)
            frequent = seen[counts >= self.min_rows]
            self.values_.append(frequent if len(frequent) >= 2 else frequent[:0])  # (one value: a constant)
        return self

    def transform(self, X: Any) -> sp.csr_matrix:
        values = validate_data(self, X, ensure_all_finite="allow-nan", dtype=float, reset=False)
        blocks = []
        for column, frequent in zip(values.T, self.values_, strict=True):
            if len(frequent):
                at = np.minimum(np.searchsorted(frequent, column), len(frequent) - 1)
                rows = np.flatnonzero(frequent[at] == column)
                blocks.append(sp.csr_matrix((np.ones(len(rows)), (rows, at[rows])), shape=(len(values), len(frequent))))
        return sp.hstack(blocks, format="csr") if blocks else sp.csr_matrix((len(values), 1))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = [str(name) for name in (input_features if input_features is not None else self.feature_names_in_)]
        out = [f"{name}_{float(value)!r}" for name, frequent in zip(names, self.values_, strict=True) for value in frequent]
        return np.asarray(out or [f"{names[0]}_(no frequent value)"], dtype=object)


def _missing_as_category(name: str, encoder: Any) -> Pipeline:
    """A category column's blanks as a category of their own (MISSING: a lead without the field
    behaves unlike any filled level), then `encoder`, the step `name`: every member's categories."""
    return Pipeline([("impute", SimpleImputer(strategy="constant", fill_value=MISSING, keep_empty_features=True)),
                     (name, encoder)])


def _onehot_categories(min_frequency: int, sparse_output: bool = True) -> Pipeline:
    """Categories one-hot, the levels held by fewer than `min_frequency` rows in one infrequent
    column (a level unseen in fitting counts as infrequent, or as no level when none was)."""
    return _missing_as_category("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=min_frequency,
                                                        sparse_output=sparse_output))


def _tree_model(numeric: list[str], categorical: list[str]) -> Pipeline:
    ordinal = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, max_categories=250)
    prep = ColumnTransformer([
        ("num", EmptyAsZero(), numeric),
        ("cat", _missing_as_category("ordinal", ordinal), categorical),
    ])
    mask = [False] * len(numeric) + [True] * len(categorical)
    trees = HistGradientBoostingClassifier(max_depth=3, learning_rate=0.05, max_iter=300, min_samples_leaf=TREE_LEAF_ROWS,
                                           categorical_features=mask if categorical else None, random_state=0)
    return Pipeline([("prep", prep), ("trees", trees)])


def _default_tree_model(numeric: list[str], categorical: list[str]) -> Pipeline:
    """scikit-learn's gradient-boosted trees at their default settings (up to 31 leaves a tree, no
    depth limit, 100 rounds at rate 0.1, early stopping above 10,000 rows) on the shallow trees'
    input: what a data scientist fits first. Where high-order interactions or repeated rows
    decide the outcome (a passenger list of 14 distinct class, age and sex cells; a survey whose
    rows repeat), it ranks better than every other member, and the learned weights follow it."""
    pipeline = _tree_model(numeric, categorical)
    shallow = pipeline.named_steps["trees"]
    pipeline.set_params(trees=HistGradientBoostingClassifier(categorical_features=shallow.categorical_features,
                                                             random_state=0))
    return pipeline


def _pair_model(numeric: list[str], categorical: list[str]) -> Pipeline:
    bins = Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                     ("bins", KBinsDiscretizer(n_bins=10, encode="onehot", strategy="quantile",
                                               quantile_method="averaged_inverted_cdf"))])
    prep = ColumnTransformer([("bins", bins, numeric), ("missing", MissingIndicator(features="all"), numeric),
                              ("cat", _onehot_categories(20), categorical)], sparse_threshold=1.0)
    return Pipeline([("prep", prep), ("pairs", PolynomialFeatures(2, interaction_only=True, include_bias=False)),
                     ("logit", LogisticRegression(C=0.03, solver="liblinear", max_iter=500, random_state=0))])


def _linear_model(numeric: list[str], categorical: list[str], n_rows: int) -> Pipeline:
    categories = _onehot_categories(5 if n_rows >= 200 else 1, sparse_output=False)
    numbers = Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                        ("scale", StandardScaler())])
    prep = ColumnTransformer([("num", numbers, numeric), ("cat", categories, categorical)], remainder="drop")
    return Pipeline([("prep", prep), ("logit", LogisticRegression(C=0.5, max_iter=2000))])


def _values_model(numeric: list[str], categorical: list[str]) -> Pipeline:
    """A logistic regression over every input's frequent values, one-hot (numbers' frequent
    values by FrequentValues, categories' frequent levels), nothing else: where the outcome
    follows the entity a row is about (a respondent's 24 answers, a worker's eight years) it
    learns each entity's level, where the other members see an identifier as a number line."""
    prep = ColumnTransformer([("values", FrequentValues(FREQUENT_ROWS), numeric),
                              ("cat", _onehot_categories(FREQUENT_ROWS), categorical)], sparse_threshold=1.0)
    return Pipeline([("prep", prep), ("logit", LogisticRegression(C=0.5, max_iter=2000))])


class LogOddsVote(VotingClassifier):
    """The members, fitted together, and their scores as log-odds: `member_log_odds` is what
    IncreasingPlatt weighs (one learned weight a member). Platt scaling fits a sigmoid to a
    score: fed a probability (a bounded score) it cannot reach the extremes, and on X Education
    it predicted 7.6 % for a bottom decile that won 3.5 %; on the log-odds the calibration error
    fell from 0.028 to 0.012, ranking unchanged. `decision_function`, the log-odds of the members'
    equal-weight vote, is what models stored before 7 December 2026 were calibrated on."""

    def fitted_members(self, members: np.ndarray | None = None) -> list[Any]:
        """The fitted members, or those at the positions `members`."""
        return list(self.estimators_) if members is None else [self.estimators_[k] for k in members]

    def member_log_odds(self, X: Any, members: np.ndarray | None = None) -> np.ndarray:
        """Each member's won log-odds (rows × members), or only those of the `members` (positions)."""
        return np.column_stack([self.log_odds(m.predict_proba(X)[:, 1]) for m in self.fitted_members(members)])

    def decision_function(self, X: Any) -> np.ndarray:
        return self.log_odds(self.predict_proba(X)[:, 1])

    @staticmethod
    def log_odds(p: np.ndarray) -> np.ndarray:
        """The log-odds of won probabilities `p` (kept off 0 and 1: a finite score)."""
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))


MIN_SLOPE = 1e-3  # the Platt slope's floor (the weights' sum): the calibrated score keeps the model's order
# How strongly the members' weights are pulled towards being equal, in outcomes' worth: on few
# outcomes the weights that fit best are partly noise, on thousands the data decides. Chosen on
# the development tables (docs/scoring.md), not on a table a figure is reported on: 10 among
# 0-1,000 on the whole tables; 3 once samples of 100-300 rows were measured (mean AUC at 100 rows
# 0.7532 -> 0.7577, the whole tables' mean 0.8256 either way; the held-out tables confirmed it).
EQUAL_WEIGHT_PRIOR = 3.0


class IncreasingPlatt(ClassifierMixin, BaseEstimator):
    """One model fitted on every row, its score mapped to a probability by a Platt sigmoid fitted
    on out-of-fold scores, with the sigmoid's slope held above zero. For the vote (LogOddsVote)
    the score is each member's log-odds and the sigmoid has a weight per member (`slope_`, an
    array): learned stacking, each weight at zero or above, pulled towards equal weights
    (EQUAL_WEIGHT_PRIOR). Equal weights were a choice made once for every table; on a passenger
    list whose outcome is a three-way interaction the plain logistic regression's equal share
    held the vote 0.013 under the default gradient-boosted model, which the weights now follow.

    Why not CalibratedClassifierCV(method="sigmoid", cv=3): its folds are the rows in the order
    given, so on a CRM export sorted by date each fold's score comes from a model of other
    periods. On a table whose won share drifts from 5 % to 50 % along the file those scores
    anti-correlate with the outcome, the sigmoid's slope comes out negative, and the map,
    monotone *decreasing*, turned the deployed model's ranking upside down (AUC 0.21 in file
    order, 0.79 shuffled). Here the folds are stratified and shuffled, and no weight is below
    zero; weights that sum below MIN_SLOPE are replaced by MIN_SLOPE shared equally
    (`slope_clamped_` says so): a model whose out-of-fold scores do not rank gets near-constant
    probabilities in its own order, never the reverse order, and the deployment guard
    (`refusal`) judges its validated ranking.
    """

    def __init__(self, estimator: Any = None, folds: int = 3, seed: int = 0) -> None:
        self.estimator = estimator
        self.folds = folds
        self.seed = seed

    def fit(self, X: Any, y: Any, oof_scores: np.ndarray | None = None) -> IncreasingPlatt:
        """`oof_scores`: the estimator's out-of-fold scores of these rows (`model_scores`), made
        already (by the validation's folds, `evaluate_and_fit`): the sigmoid is fitted on them
        and the estimator is fitted once, instead of once per fold of its own and once more."""
        y = np.asarray(y).astype(int)
        self.classes_ = np.unique(y)
        scores = oof_scores
        if scores is None:
            folds = max(2, min(self.folds, int(np.bincount(y).min())))
            cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
            scores = out_of_fold_scores(self.estimator, X, y, list(cv.split(np.zeros(len(y)), y)))
        self.slope_, self.intercept_, self.slope_clamped_ = increasing_sigmoid(np.asarray(scores, dtype=float), y)
        self.estimator_ = clone(self.estimator).fit(X, y)
        return self

    def weighed_members(self) -> np.ndarray | None:
        """Positions of the vote's members whose weight is above zero, or None when the sigmoid
        reads one score. A member weighed zero adds nothing to the log-odds: it is neither
        predicted nor explained (on the bench's outcomes, which no feature ranks, both trees)."""
        return np.flatnonzero(self.slope_ > 0) if np.ndim(self.slope_) else None

    def _scores(self, X: Any) -> np.ndarray:
        """What the sigmoid reads: the weighed members' log-odds when it weighs them, else the
        estimator's one score (any other estimator; a vote stored before 7 December 2026)."""
        members = self.weighed_members()
        return _score(self.estimator_, X) if members is None else self.estimator_.member_log_odds(X, members)

    def _weights(self) -> float | np.ndarray:
        members = self.weighed_members()
        return self.slope_ if members is None else self.slope_[members]

    def decision_function(self, X: Any) -> np.ndarray:
        return calibrated_log_odds(self._scores(X), self._weights(), self.intercept_)

    def predict_proba(self, X: Any) -> np.ndarray:
        p = self.probability(self._scores(X))
        return np.column_stack([1 - p, p])

    def probability(self, scores: np.ndarray) -> np.ndarray:
        """The calibrated won probability of the estimator's scores (`_scores`: the weighed
        members' log-odds, in their order)."""
        return calibrated(scores, self._weights(), self.intercept_)

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def model_scores(estimator: Any, X: Any) -> np.ndarray:
    """A fitted estimator's scores as IncreasingPlatt reads them: a vote's members' log-odds
    (rows × members), any other's one score."""
    return estimator.member_log_odds(X) if hasattr(estimator, "member_log_odds") else _score(estimator, X)


def out_of_fold_scores(estimator: Any, X: Any, y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]
                       ) -> np.ndarray:
    """`model_scores` of each row by a clone of `estimator` fitted on the other folds (`splits`:
    each fold's training and test positions)."""
    scores: np.ndarray | None = None
    for train, test in splits:
        member = clone(estimator).fit(_rows(X, train), y[train])
        part = model_scores(member, _rows(X, test))
        if scores is None:
            scores = np.empty((len(y), *part.shape[1:]))
        scores[test] = part
    assert scores is not None
    return scores


def calibrated_log_odds(scores: np.ndarray, slope: float | np.ndarray, intercept: float) -> np.ndarray:
    """The calibrated log-odds: `slope` times one score, or the weighted sum of the members'."""
    return (scores @ slope if np.ndim(slope) else slope * scores) + intercept


def calibrated(scores: np.ndarray, slope: float | np.ndarray, intercept: float) -> np.ndarray:
    """Won probability of scores under the Platt sigmoid (slope or weights, intercept): the one
    formula of the deployed model (IncreasingPlatt) and of each validation fold (_validate)."""
    return expit(calibrated_log_odds(scores, slope, intercept))


def increasing_sigmoid(scores: np.ndarray, y: np.ndarray) -> tuple[float | np.ndarray, float, bool]:
    """(slope, intercept, whether the slope was clamped) of a Platt sigmoid of `scores` for the
    outcomes `y`; with a score per member (rows × members) the slope is their weights (an array):
    each zero or above, with a penalty of EQUAL_WEIGHT_PRIOR / rows on their spread around their
    mean. Weights summing below MIN_SLOPE are MIN_SLOPE shared equally, the intercept refitted
    under them (IncreasingPlatt)."""
    matrix = scores.reshape(len(scores), -1)
    rows, members = matrix.shape
    prior = EQUAL_WEIGHT_PRIOR / rows

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        weights, z = params[:-1], matrix @ params[:-1] + params[-1]
        spread = weights - weights.mean()
        residual = expit(z) - y
        value = float(np.mean(np.logaddexp(0, z) - y * z) + prior * spread @ spread)
        return value, np.append(matrix.T @ residual / rows + 2 * prior * spread, residual.mean())

    start = np.append(np.full(members, 1.0 / members), 0.0)
    params = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=[(0, None)] * members + [(None, None)]).x
    weights, intercept, clamped = params[:-1], float(params[-1]), False
    if weights.sum() < MIN_SLOPE:
        weights, clamped = np.full(members, MIN_SLOPE / members), True
        intercept = float(np.log(y.mean() / (1 - y.mean())) - np.median(matrix @ weights))
    return (weights if scores.ndim == 2 else float(weights[0])), intercept, clamped


def _rows(X: Any, index: np.ndarray) -> Any:
    return X.iloc[index] if hasattr(X, "iloc") else X[index]


def _score(model: Any, X: Any) -> np.ndarray:
    """A classifier's ranking score: its decision function, else the log-odds of its probability."""
    if hasattr(model, "decision_function"):
        return np.asarray(model.decision_function(X), dtype=float)
    return LogOddsVote.log_odds(model.predict_proba(X)[:, 1])


def build_pipeline(numeric: list[str], categorical: list[str], n_rows: int, onehot_width: int = 0) -> Pipeline:
    """The production model for this many outcomes (see the module docstring, SMALL_DATA_ROWS)."""
    if n_rows < SMALL_DATA_ROWS:
        return Pipeline([("model", _linear_model(numeric, categorical, n_rows))])
    members: list[tuple[str, Any]] = [("trees", _tree_model(numeric, categorical))]
    if onehot_width <= MAX_PAIR_WIDTH:
        members.append(("pairs", _pair_model(numeric, categorical)))
    members.append(("linear", _linear_model(numeric, categorical, n_rows)))
    members.append(("default_trees", _default_tree_model(numeric, categorical)))
    members.append(("values", _values_model(numeric, categorical)))
    return Pipeline([("model", IncreasingPlatt(LogOddsVote(members, voting="soft")))])


def onehot_width(frame: pd.DataFrame, numeric: list[str], categorical: list[str], min_frequency: int = 20) -> int:
    """How wide the pairwise model's input would be (bins, missing flags, frequent categories)."""
    width = 11 * len(numeric)
    for col in categorical:
        counts = frame[col].fillna(MISSING).value_counts()
        width += int((counts >= min_frequency).sum()) + 1
    return width


def _as_frame(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """The model's input columns: numbers as floats (text and ±inf missing: every member's
    input checks refuse an infinite value), categories cleaned (clean_category)."""
    out = pd.DataFrame(index=frame.index)
    for col in numeric:
        if col in frame:
            number = pd.to_numeric(frame[col], errors="coerce").astype(float)
            out[col] = number.where(np.isfinite(number))
        else:
            out[col] = np.nan
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
    baseline: pd.Series | None = None,
    min_per_class: int = 8,
    top_share: float = 0.1,
    fit_final: bool = True,
    cv_seed: int = 0,
    compare_default: bool = False,
) -> ModelResult:
    """Validate honestly, then (unless `fit_final` is off) fit on all rows. `y` is 1 for won,
    0 for lost. The metrics carry the training-data summary stored with each model version.
    `baseline` is another score of the same rows (the fit score): its AUC on the same validation
    rows is reported as `fit_score_auc`, for the deployment guard (`refusal`).
    `cv_seed` shuffles the cross-validation folds (fixed, so that a figure can be reproduced;
    bench/eval_model.py varies it to show how much of a figure is the draw of the folds).
    `compare_default` also validates scikit-learn's gradient-boosted trees at their default
    settings on the same inputs, folds or blocks (`default_model_auc`): the plain baseline, compared
    pairwise, so that the draw of the folds is not mistaken for a difference between the models.

    The rows are first put in an order of their own content (`canonical_order`), so the folds,
    the later blocks' ties and the fitted model depend on which rows there are, never on the
    order the file or the warehouse gave them in."""
    y_all = y.astype(int).to_numpy()
    n_pos, n_neg = int(y_all.sum()), int(len(y_all) - y_all.sum())
    summary: dict[str, Any] = {"n_rows": int(len(y_all)), "n_positive": n_pos, "n_negative": n_neg,
                               "numeric_features": list(numeric), "categorical_features": list(categorical)}
    if dates is not None:
        when = pd.to_datetime(pd.Series(dates), errors="coerce")
        summary["date_range"] = [str(when.min().date()), str(when.max().date())] if when.notna().any() else None
    if min(n_pos, n_neg) < min_per_class:
        reason = (f"cold start: {n_pos} won and {n_neg} lost outcomes, need at least {min_per_class} of each; "
                  "no model, priority uses the fit score only")
        return ModelResult(None, {**summary, "validation": "none", "auc": None}, numeric, categorical, reason)
    X = _as_frame(frame, numeric, categorical).reset_index(drop=True)
    order = canonical_order(X, y_all, dates)
    X, y = X.iloc[order].reset_index(drop=True), y_all[order]
    if dates is not None:
        dates = pd.Series(dates).reset_index(drop=True).iloc[order].reset_index(drop=True)
    width = onehot_width(X, numeric, categorical)
    pipeline = build_pipeline(numeric, categorical, len(y), width)
    # One thread: on CRM-sized data OpenMP's start-up and contention cost more than they save
    # (boosting ran 7x slower with two threads on a busy two-core machine).
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.filterwarnings("ignore", category=UserWarning)  # KBins on near-constant columns
        validation, note, rows, p, scores, groups = _validate(pipeline, X, y, dates, cv_seed)
        if compare_default:
            default = Pipeline([("model", _default_tree_model(numeric, categorical))])
            _, _, _, p_default, _, _ = _validate(default, X, y, dates, cv_seed)  # the same rows and groups
        if fit_final:
            pipeline.fit(X, y, **({"model__oof_scores": scores} if scores is not None else {}))
    y_true = y[rows]
    k = max(1, int(round(len(y_true) * top_share)))
    pooled = round(float(roc_auc_score(y_true, p)), 4)
    timed = validation.startswith("time")
    auc, by_group = validated_auc(y_true, p, groups, timed)
    metrics = {
        **summary,
        "validation": validation,
        "auc": auc,  # over the folds or later blocks (`validated_auc`); the pooled figure beside
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
    if compare_default:
        metrics["default_model_auc"] = validated_auc(y_true, p_default, groups, timed)[0]
    if baseline is not None:
        fit = pd.to_numeric(pd.Series(baseline).reset_index(drop=True), errors="coerce").fillna(0).to_numpy()[order][rows]
        metrics["fit_score_auc"] = validated_auc(y_true, fit, groups, timed)[0]  # the same groups, weighed alike
    if by_group:
        kind = "block" if timed else "fold"
        metrics[f"auc_by_{kind}"] = by_group
        metrics[f"auc_{kind}_mean_sd"] = [round(float(np.mean(by_group)), 4), round(float(np.std(by_group)), 4)]
    platt = pipeline.named_steps["model"]
    if isinstance(platt, IncreasingPlatt) and (fit_final or scores is not None):
        if fit_final:
            slope, clamped = platt.slope_, platt.slope_clamped_
        else:  # `model evaluate`: the weights the final fit would make of the same out-of-fold scores
            slope, _, clamped = increasing_sigmoid(scores, y)
        metrics["calibration_slope"] = round(float(np.sum(slope)), 4)
        names = [name for name, _ in platt.estimator.estimators]
        metrics["member_weights"] = {name: round(float(w), 4) for name, w in zip(names, slope, strict=True)}
        if clamped:
            note = (note + "; " if note else "") + ("the out-of-fold scores did not rank the outcomes: the calibration "
                                                     f"slope was held at {MIN_SLOPE} instead of reversing the order")
    if note:
        metrics["validation_note"] = note
    return ModelResult(pipeline if fit_final else None, metrics, numeric, categorical)


def refusal(metrics: dict[str, Any]) -> str:
    """Why a validated model must not be deployed, or "" when it may be: its validated AUC is
    below 0.5 (it ranks lost deals above won ones) or below the fit score's AUC on the same
    validation rows (the fit score alone ranks them better)."""
    auc, fit = metrics.get("auc"), metrics.get("fit_score_auc")
    if auc is None:
        return ""
    if auc < 0.5:
        why = f"its validated AUC {auc} is below 0.5 (it ranks lost deals above won ones)"
    elif fit is not None and auc < fit:
        why = f"its validated AUC {auc} is below the fit score's own AUC {fit} on the same outcomes"
    else:
        return ""
    return f"model not deployed: {why}; priority uses the fit score only"


def canonical_order(X: pd.DataFrame, y: np.ndarray, dates: pd.Series | None = None) -> np.ndarray:
    """A permutation that sorts the rows by a hash of their content (features, label, date):
    the same rows in any order come out in one order. Identical rows are interchangeable."""
    keyed = X.assign(__y=y)
    if dates is not None:
        keyed["__date"] = pd.Series(dates).astype(str).to_numpy()
    digest = pd.util.hash_pandas_object(keyed, index=False).to_numpy()
    return np.argsort(digest, kind="stable")


def _describe(pipeline: Pipeline) -> str:
    model = pipeline.named_steps["model"]
    if isinstance(model, IncreasingPlatt):
        names = [n for n, _ in model.estimator.estimators]
        return "calibrated weighted vote of " + " + ".join(
            {"trees": "shallow gradient-boosted trees", "pairs": "pairwise logistic regression",
             "linear": "logistic regression", "default_trees": "default gradient-boosted trees",
             "values": "logistic regression over frequent values"}[n] for n in names)
    return "logistic regression"


def _validate(pipeline: Pipeline, X: pd.DataFrame, y: np.ndarray, dates: pd.Series | None,
              cv_seed: int = 0) -> tuple[str, str, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """(validation name, note, positions of the validation rows, their out-of-sample probabilities,
    the calibrated model's estimator's out-of-fold scores of every row when cross-validation made
    them: what the final fit calibrates on, and each validation row's group: its fold, or its
    block of later outcomes, whose AUCs are averaged)."""
    note = ""
    if dates is not None:
        when = pd.to_datetime(pd.Series(dates).reset_index(drop=True), errors="coerce").to_numpy()
        undated = np.flatnonzero(pd.isna(when))
        if len(undated) * 2 > len(when):
            note = (f"{len(undated)} of {len(when)} outcomes without a date: validated by stratified "
                    "cross-validation instead of on later data")
        else:
            timed = _later_blocks(pipeline, X, y, when, undated)
            if isinstance(timed, str):
                note = timed
            else:
                return timed
    folds = min(5, int(min(np.bincount(y))))
    splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=cv_seed).split(np.zeros(len(y)), y))
    groups = np.empty(len(y), dtype=np.int64)
    for k, (_, test) in enumerate(splits):
        groups[test] = k
    model = pipeline.named_steps["model"]
    if not isinstance(model, IncreasingPlatt):
        p = cross_val_predict(pipeline, X, y, cv=splits, method="predict_proba")[:, 1]
        return f"stratified_{folds}fold_cv", note, np.arange(len(y)), p, None, groups
    # The calibrated model's out-of-fold probabilities without a calibration's own folds inside
    # each fold: the estimator's out-of-fold scores (each member's), each fold's mapped by the
    # increasing sigmoid (the members' weights) fitted on the other folds' scores and outcomes
    # (its own outcomes unseen). The deployed model's sigmoid is then fitted on all of them
    # (`oof_scores`). Five fits of the vote and the final one, where a calibration fitting three
    # of its own in each fold and before the final one made twenty-four: at 8,000 outcomes 24 of
    # night 1's 66 s score step.
    scores = out_of_fold_scores(model.estimator, X, y, splits)
    p = np.empty(len(y))
    for train, test in splits:
        slope, intercept, _ = increasing_sigmoid(scores[train], y[train])
        p[test] = calibrated(scores[test], slope, intercept)
    return f"stratified_{folds}fold_cv", note, np.arange(len(y)), p, scores, groups


def _later_blocks(pipeline: Pipeline, X: pd.DataFrame, y: np.ndarray, when: np.ndarray, undated: np.ndarray
                  ) -> tuple[str, str, np.ndarray, np.ndarray, None, np.ndarray] | str:
    """Validation on later data (rolling origin): the later half of the dated outcomes in
    TIME_BLOCKS consecutive blocks cut at changes of date, each predicted by the model trained on
    every outcome before it (undated ones included: when they happened is unknown, so they are
    trained on, never validated on); the AUC is taken within each block (`validated_auc`). Or, as
    a string, why the dates cannot validate (stratified cross-validation instead, with that note)."""
    note = f"{len(undated)} outcomes without a date: trained on, never validated on" if len(undated) else ""
    dated = np.setdiff1d(np.arange(len(when)), undated)
    order = dated[np.argsort(when[dated], kind="stable")]
    # Each block starts where its share of the later half would, moved to the nearest change of
    # date: one day's outcomes are never split between a block and the model that predicts it
    # (a month's, where the dates are months). Outcomes that all carry one date (an import stamped
    # with its export day) or a few dates cannot be cut into TIME_BLOCKS later blocks: the "later"
    # ones would be no later than the rest, random splits posing as a time split.
    changes = np.flatnonzero(when[order][1:] != when[order][:-1]) + 1
    half = len(order) // 2
    wanted = [half + (len(order) - half) * k // TIME_BLOCKS for k in range(TIME_BLOCKS)]
    starts = sorted({int(changes[np.argmin(np.abs(changes - at))]) for at in wanted}) if len(changes) else []
    if len(starts) < TIME_BLOCKS:
        distinct = len(np.unique(when[dated]))
        return (f"the outcome dates do not tell earlier from later ({distinct} distinct "
                f"date{'s' if distinct > 1 else ''}: too few changes of date to cut {TIME_BLOCKS} later blocks): "
                "stratified cross-validation instead")
    edges = [*starts, len(order)]
    rows, p, groups = [], [], []
    for k, (start, end) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        train, test = np.concatenate([undated, order[:start]]), order[start:end]
        if len(set(y[train])) < 2 or len(set(y[test])) < 2:
            continue  # (a block of one class has no AUC)
        rows.append(test)
        p.append(pipeline.fit(X.iloc[train], y[train]).predict_proba(X.iloc[test])[:, 1])
        groups.append(np.full(len(test), k))
    if not rows:
        return (note + "; " if note else "") + ("every block of the later half of the dated outcomes holds one "
                                                "class only: stratified cross-validation instead")
    return (f"time_{TIME_BLOCKS}_later_blocks", note, np.concatenate(rows), np.concatenate(p), None,
            np.concatenate(groups))


def validated_auc(y: np.ndarray, p: np.ndarray, groups: np.ndarray, by_pairs: bool) -> tuple[float, list[float]]:
    """The validated AUC and the AUC of each validation group (a fold, or a block of later
    outcomes) holding both classes: their spread shows how much of a difference between two
    models is noise. Folds: their mean, as cross_val_score, caret and tidymodels report it.
    Later blocks (`by_pairs`): weighed by each block's won x lost pairs, i.e. the share of the
    blocks' won-lost pairs ranked right within their block: a block of few won deals says little
    (on samples of the sparse Caravan table, 6 % won, the plain mean erred more than one split of
    the later quarter). Pooling every group's scores instead measures how differently their
    models are calibrated and, over time, how the base rate drifts: neither says how well the one
    deployed model ranks. No group with both classes: the pooled AUC."""
    held = [at for at in (groups == g for g in np.unique(groups)) if len(set(y[at])) == 2]
    if not held:
        return round(float(roc_auc_score(y, p)), 4), []
    aucs = [float(roc_auc_score(y[at], p[at])) for at in held]
    weights = [int(y[at].sum()) * int((y[at] == 0).sum()) for at in held] if by_pairs else None
    return round(float(np.average(aucs, weights=weights)), 4), [round(a, 4) for a in aucs]


def _distinct_rows(X: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """(the distinct rows of X, each row's position among them): the model runs once per vector."""
    if X.empty or not len(X.columns):
        return X, np.zeros(len(X), dtype=np.int64)
    first, group = distinct_rows(X)
    return X.iloc[first], group


# Rows per predict call. The pairwise model's polynomial expansion of a slice is a sparse matrix
# of ~900 entries per row: 100,000 rows made ~1 GB per call and ran out of the CPU's caches. At
# 1M leads with a deployed model (the score step, explanations included) 100,000 -> 10,000 rows
# took the explanations from 57 to 17 CPU s and the step from 144 to 100 CPU s, peak 5.6 -> 5.3 GB,
# the same scores (bench/README "Score step at 1M").
PREDICT_CHUNK_ROWS = 10_000
PREDICT_THREADS: int | None = 1  # BLAS and OpenMP threads while predicting (None: the libraries' own)


def _predict_in_chunks(pipeline: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """predict_proba of the won class, a slice of rows at a time: the one-hot and polynomial
    expansions of a million rows at once take gigabytes. One thread, BLAS and OpenMP alike:
    the trees' OpenMP threads wait for each other at every slice, and with the other core busy
    (a staging thread beside the step, another job on the machine) that wait is spent spinning.
    On two cores (bench/effects_memory.py --threads 0 or 1): 200,000 leads on an idle machine
    49.5-50.4 s and 85-87 CPU s with two threads, 45-47 s and CPU s with one; 60,000 leads
    beside a spinning process (--busy 1) 29.4 s against 14.3 s, and beside a process fitting
    scikit-learn models 219-234 s against 12.6-13.6 s. BLAS's threads had the same effect beside
    the trees' (the plain logistic regression's small dense products: 88-92 CPU s against 53-56)."""
    with threadpool_limits(PREDICT_THREADS):
        parts = [pipeline.predict_proba(X.iloc[start:start + PREDICT_CHUNK_ROWS])[:, 1]
                 for start in range(0, len(X), PREDICT_CHUNK_ROWS)]
    return np.concatenate(parts) if parts else np.empty(0)


def predict(result: ModelResult, frame: pd.DataFrame) -> np.ndarray:
    assert result.pipeline is not None
    distinct, row = _distinct_rows(_as_frame(frame, result.numeric, result.categorical))
    return _predict_in_chunks(result.pipeline, distinct)[row]


def model_inputs(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """The input columns of `frame`, as a model reads them (numbers, cleaned categories)."""
    return _as_frame(frame, numeric, categorical)


def typical_values(result: ModelResult, X: pd.DataFrame | Callable[[str], pd.Series]) -> dict[str, Any]:
    """Each input's typical value over the rows of `X` (model_inputs of every lead): the median
    of a number, the most common category (the first in order on a tie). A function of the
    values alone, not of their order. `X` may be a function giving one input's values at a time
    (a night's leads from two sources: never all inputs of a million leads in one frame)."""
    column = X.__getitem__ if isinstance(X, pd.DataFrame) else X
    typical: dict[str, Any] = {}
    for col in [*result.numeric, *result.categorical]:
        values = column(col)
        if col in result.numeric:
            typical[col] = values.median()
        else:
            typical[col] = values.mode().iloc[0] if values.notna().any() else np.nan
    return typical


# Distinct feature vectors an Explainer remembers (~200 bytes each at 24 features): leads whose
# vectors are all different (every lead with its own statements) repeat none, so past this many
# the memory would buy nothing.
REMEMBERED_VECTORS = 500_000


class Explainer:
    """The model score of leads and their feature effects: per lead and feature, how much the
    prediction moves when that feature is set to its typical value (median, or most common
    category; `typical_values` of all leads), positive when the lead's own value raises its
    score, and whether the lead's value is above the typical one (numeric features; NaN for
    categories and missing values).

    The model runs once per distinct feature vector *over every call* (vectors are remembered by
    their row fingerprint): the nightly step explains leads PER_LEAD_ROWS at a time, and at a
    million leads each part repeated most of the population's 42,000 vectors (11,000 per part,
    114,000 explained in all, 26 of the step's 81 s). The variants' predictions are worked out
    from the vote's members' parts (leadrank.scoring.occlusion), PREDICT_CHUNK_ROWS vectors at a
    time; a model of another shape has its variants predicted through the pipeline, in calls of
    about PREDICT_CHUNK_ROWS rows (every feature's variants at once were a frame of many
    million rows)."""

    def __init__(self, result: ModelResult, typical: dict[str, Any]) -> None:
        assert result.pipeline is not None
        self.result, self.typical = result, typical
        self.features = [*result.numeric, *result.categorical]
        self._known = pd.Index(np.empty(0, dtype=np.uint64))  # fingerprints of the vectors explained so far
        self._scores = np.empty(0)
        self._effects = np.empty((0, len(self.features)))
        self._parts = _occlusion_parts(result.pipeline, typical)

    def explain(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
        """(model score, effects, above) of the leads whose model inputs (`model_inputs`) are
        `X`, indexed as `X`: the caller has them already."""
        distinct, row = _distinct_rows(X)
        keys = row_hash(distinct)
        at = self._known.get_indexer(keys)
        fresh = at < 0
        scores, effects = np.empty(len(distinct)), np.empty((len(distinct), len(self.features)))
        scores[~fresh], effects[~fresh] = self._scores[at[~fresh]], self._effects[at[~fresh]]
        if fresh.any():
            scores[fresh], effects[fresh] = self._scored(distinct[fresh])
            if len(self._known) + fresh.sum() <= REMEMBERED_VECTORS:
                self._known = self._known.append(pd.Index(keys[fresh]))
                self._scores = np.concatenate([self._scores, scores[fresh]])
                self._effects = np.concatenate([self._effects, effects[fresh]])
        above = pd.DataFrame(index=X.index)
        for col in self.features:
            typical = self.typical[col]
            above[col] = ((X[col] > typical).where(X[col].notna() & (X[col] != typical))
                          if col in self.result.numeric else np.nan)
        return scores[row], pd.DataFrame(effects[row], index=X.index, columns=self.features), above

    def _unchanged(self, distinct: pd.DataFrame, col: str) -> np.ndarray:
        """Whether each vector is at the typical value of `col` already (then setting it changes
        nothing: its effect is 0)."""
        values, typical = distinct[col], self.typical[col]
        return (values == typical).to_numpy(dtype=bool) | (values.isna().to_numpy() & pd.isna(typical))

    def _scored(self, distinct: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(model scores, effects: vectors × features) of distinct vectors: from the members'
        parts when there are parts (the scores are their combination, which each member's
        parts were checked to give), else through the pipeline."""
        if self._parts is not None:
            return self._scored_by_parts(distinct)
        scores = _predict_in_chunks(self.result.pipeline, distinct)
        return scores, self._occluded(distinct, scores)

    def _occluded(self, distinct: pd.DataFrame, base: np.ndarray) -> np.ndarray:
        """The effects (vectors × features) of distinct vectors whose predictions are `base`,
        each variant predicted through the pipeline."""
        effects = np.zeros((len(distinct), len(self.features)))
        variants: list[pd.DataFrame] = []
        where: list[tuple[int, np.ndarray]] = []

        def occlude() -> None:
            """Predict the variants gathered so far and record their effects."""
            occluded = _predict_in_chunks(self.result.pipeline, pd.concat(variants, ignore_index=True))
            start = 0
            for (k, rows), variant in zip(where, variants, strict=True):
                effects[rows, k] = base[rows] - occluded[start:start + len(variant)]
                start += len(variant)
            variants.clear()
            where.clear()

        for k, col in enumerate(self.features):
            same = self._unchanged(distinct, col)
            if (~same).any():
                variants.append(distinct[~same].assign(**{col: self.typical[col]}))
                where.append((k, np.flatnonzero(~same)))
                if sum(len(v) for v in variants) >= PREDICT_CHUNK_ROWS:
                    occlude()
        if variants:
            occlude()
        return effects

    def _scored_by_parts(self, distinct: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """`_scored` from the members' parts (leadrank.scoring.occlusion), PREDICT_CHUNK_ROWS
        vectors at a time: what the pipeline would predict for the vectors and their variants,
        without running them through it (the vectors once more through the pipeline were 1.8 s
        of night 1's score step at 1.4M records)."""
        assert self._parts is not None
        members, combine = self._parts
        scores, effects = np.empty(len(distinct)), np.zeros((len(distinct), len(self.features)))
        with threadpool_limits(PREDICT_THREADS):
            for start in range(0, len(distinct), PREDICT_CHUNK_ROWS):
                chunk = distinct.iloc[start:start + PREDICT_CHUNK_ROWS]
                started = [member.start(chunk) for member in members]
                base = combine([s.proba for s in started])
                scores[start:start + len(chunk)] = base
                for k, col in enumerate(self.features):
                    rows = np.flatnonzero(~self._unchanged(chunk, col))
                    if rows.size:
                        occluded = [member.occluded(s, col, rows) for member, s in zip(members, started, strict=True)]
                        effects[start + rows, k] = base[rows] - combine(occluded)
        return scores, effects


Combine = Callable[[list[np.ndarray]], np.ndarray]


def _occlusion_parts(pipeline: Pipeline, typical: dict[str, Any]) -> tuple[list[PipelineOcclusion], Combine] | None:
    """(members, the map from their won probabilities to the model's) of a model build_pipeline
    made, each member a PipelineOcclusion; None for any other shape."""
    top = pipeline.steps[-1][1] if len(pipeline.steps) == 1 else None
    if isinstance(top, IncreasingPlatt) and isinstance(top.estimator_, LogOddsVote):
        vote, weighed = top.estimator_, top.weighed_members()
        members = [PipelineOcclusion.of(member, typical) for member in vote.fitted_members(weighed)]
        if weighed is not None:  # each member's log-odds weighed
            def combine(probas: list[np.ndarray]) -> np.ndarray:
                return top.probability(np.column_stack([LogOddsVote.log_odds(p) for p in probas]))
        else:  # a vote stored before 7 December 2026: the log-odds of the equal-weight vote
            def combine(probas: list[np.ndarray]) -> np.ndarray:
                return top.probability(LogOddsVote.log_odds(np.average(probas, axis=0, weights=vote._weights_not_none)))
    elif isinstance(top, Pipeline):  # the small-data model: one logistic regression
        members = [PipelineOcclusion.of(top, typical)]

        def combine(probas: list[np.ndarray]) -> np.ndarray:
            return probas[0]
    else:
        return None
    if any(member is None for member in members):
        return None
    return [m for m in members if m is not None], combine


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


def _same_label(value: str, named: str) -> bool:
    """Whether a target value is the one named: as written, but for case and the spaces around
    it ("Yes" for yes), and a number by its value ("1.0" for 1, as a float column is written)."""
    value, named = value.strip(), named.strip()
    if value.casefold() == named.casefold():
        return True
    try:
        return float(value) == float(named)
    except ValueError:
        return False


def positive_labels(values: pd.Series, positive: list[str] | None = None) -> tuple[list[str], str]:
    """(the target values that mean won, a warning or ""). The values given (each must occur, as
    `_same_label` compares them), else every value that reads as a win (1 / yes / true / won /
    成交 ... together, so an export mixing 'won' and '成交' counts both). With more than two
    values the warning says which were counted as lost without being named, since a win word the
    defaults do not know would otherwise silently become a loss."""
    present = sorted({str(v).strip() for v in values.dropna() if str(v).strip()})
    if positive:
        absent = [p for p in positive if not any(_same_label(v, p) for v in present)]
        if absent:
            raise ValueError(f"--positive {', '.join(map(repr, absent))} does not occur in the target "
                             f"(values: {present[:10]})")
        wins = [v for v in present if any(_same_label(v, p) for p in positive)]
    else:
        wins = [v for v in present if outcome_label(v) in WON_WORDS]
        if not wins:
            raise ValueError(f"cannot tell which target value is a win (values: {present[:10]}); give --positive "
                             "(repeat it for several)")
    lost = [v for v in present if v not in wins]
    warning = ""
    if len(present) > 2:
        looks_won = [v for v in lost if outcome_label(v) in WON_WORDS]
        warning = (f"the target has {len(present)} values: counted as won {wins}, as lost {lost[:10]} (not named)"
                   + (f"; {looks_won} look like wins: name them with --positive" if looks_won else
                      "; if any of those is a win, name every won value with --positive"))
    return wins, warning


def _date_text(values: pd.Series) -> pd.Series:
    """A column's cells as text for reading dates: "" where blank or a placeholder ("N/A", "-",
    "请选择": nothing was entered, as in number columns)."""
    text = values.fillna("").astype(str).str.strip()
    return text.where(~text.str.casefold().isin(PLACEHOLDERS), "")


def _as_dates(text: pd.Series) -> pd.Series:
    """Cells of `_date_text` as datetimes (NaT where no date)."""
    return pd.to_datetime(parse_dates(text), errors="coerce")


def _parse_time_column(values: pd.Series, column: str) -> pd.Series:
    """The time column as dates; a filled cell that is not a date is an error, not a silent
    fall-back to validation on shuffled rows (a blank or a placeholder is an outcome without a
    date: trained on, never validated on)."""
    text = _date_text(values)
    parsed = _as_dates(text)
    bad = text[(text != "") & parsed.isna()]
    if len(bad):
        raise ValueError(f"--time-column {column!r}: {len(bad)} of {int((text != '').sum())} filled values are not "
                         f"dates (e.g. {list(bad.unique()[:3])}); use dates like 2026-03-01, 2026/3/1 or 2026年3月1日")
    return parsed


DATE_SHARE = 0.95  # of a column's distinct filled values that must be dates (with a year) for it to hold dates
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")


def _as_days(values: pd.Series) -> pd.Series | None:
    """A column that holds dates (each distinct filled value a date with a four-digit year: a CRM
    export's creation or close date) as days since 1970-01-01 (float; missing where a cell is no
    date), else None. A number keeps the dates' order, which a tree can split on (earlier / later
    periods) and a later lead's date extends, where a category of each day knew no date it had
    not seen. Each distinct value is parsed once."""
    codes, distinct = pd.factorize(_date_text(values))
    distinct = pd.Series(distinct, dtype=object)
    filled = (distinct != "").to_numpy()
    if filled.sum() < 2 or distinct[filled].str.contains(_YEAR).mean() < DATE_SHARE:
        return None
    parsed = _as_dates(distinct)
    if parsed[filled].notna().mean() < DATE_SHARE:
        return None
    days = ((parsed - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    return pd.Series(days[codes], index=values.index, dtype=float)


def _column_named(table: pd.DataFrame, name: str) -> str | None:
    """The column `name` names: itself, else the one column equal to it but for case and spaces
    ("converted" for "Converted ", as a user types a header they read)."""
    if name in table.columns:
        return name
    found = [c for c in table.columns if header_key(c) == header_key(name)]
    return found[0] if len(found) == 1 else None


def outcome_table(table: pd.DataFrame, target: str, *, positive: list[str] | None = None,
                  drop: list[str] | None = None, time_column: str | None = None) -> OutcomeTable:
    """Split a raw export (all strings) into features and labels, choosing each column's kind."""
    named = {c: _column_named(table, c) for c in [target, *(drop or []), *([time_column] if time_column else [])]}
    unknown = [c for c, found in named.items() if found is None]
    if unknown:
        raise ValueError(f"no column(s) {unknown} in the data (columns: {list(table.columns)[:40]})")
    target, drop = named[target], [named[c] for c in drop or []]
    time_column = named[time_column] if time_column else None
    raw_target = table[target].astype(str).str.strip()
    # A blank or a placeholder ("N/A", "-", "请选择") is no outcome recorded, not a loss: the row
    # is left out, unless --positive names that very value.
    named_placeholders = {p.strip().casefold() for p in positive or []} & PLACEHOLDERS
    unrecorded = raw_target.str.casefold().isin(PLACEHOLDERS - named_placeholders)
    labelled = (raw_target != "") & table[target].notna() & ~unrecorded
    wins, warning = positive_labels(raw_target[labelled], positive)
    notes: dict[str, Any] = {"rows_without_target": int((~labelled).sum()), "positive_values": wins,
                             "dropped": drop, "ignored": {}, "text_in_number_columns": {}}
    if warning:
        notes["target_warning"] = warning
    rows = table[labelled].reset_index(drop=True)
    y = raw_target[labelled].reset_index(drop=True).isin(wins).astype(int)
    dates = _parse_time_column(rows[time_column], time_column) if time_column else None
    numeric: list[str] = []
    categorical: list[str] = []
    dates_found: list[str] = []
    frame = pd.DataFrame(index=rows.index)
    for col in rows.columns:
        if col in (target, time_column) or col in drop:
            continue
        values = rows[col]
        number, filled, text = number_cells(values)
        text_cells = int(text.sum())
        if filled.any() and 1 - text_cells / filled.sum() >= NUMBER_SHARE:
            column, kind = number, "number"
            if text_cells:
                notes["text_in_number_columns"][col] = text_cells
        elif (column := _as_days(values)) is not None:
            kind = "date"
        else:
            column, kind = clean_category(values), "category"
        distinct = column.nunique(dropna=kind != "category")  # (a missing category is a level of its own)
        if distinct <= 1:
            notes["ignored"][col] = "constant"
            continue
        if kind == "category" and distinct > 0.5 * len(column) and distinct > 50:
            notes["ignored"][col] = "looks like an identifier (almost every value distinct)"
            continue
        frame[col] = column
        (categorical if kind == "category" else numeric).append(col)
        if kind == "date":
            dates_found.append(col)
    if dates_found:
        notes["dates_as_days"] = dates_found
    if time_column is None and dates_found:
        notes["date_columns"] = dates_found
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
