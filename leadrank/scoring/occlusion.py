"""A fitted member's won probability for leads with one input set to its typical value, worked
out from the member's parts instead of running every variant through the whole pipeline.

Why: the per-lead explanations (`model.Explainer`) predict each distinct feature vector again
once per input, with that input set to its typical value. Through the whole pipeline that was
the largest part of night 1's score step at a million leads (16.7 of ~50 s): every member's
column transforms (6 s), the pairwise member's polynomial expansion (2.9 s) and the trees (6 s),
for some twenty variants of each vector. But a member's first step, a ColumnTransformer of
imputers, scalers, encoders and binners, turns each input column into output columns of its
own. A variant's transformed row is therefore the lead's own with one input's output columns
replaced by the typical value's, and the rest follows:
  - a logistic regression's log-odds move by those columns' changes times their coefficients;
  - one over degree-2 products (PolynomialFeatures, then a logistic regression) moves by that
    and by the changed columns' products with the lead's other columns (a quadratic form);
  - any other final estimator (the trees) predicts the replaced rows, without transforming again.
The answers are those of the pipeline up to rounding (tests/test_model.py compares them);
a member whose shape is not recognised gets no `PipelineOcclusion` and the Explainer predicts
its variants through the pipeline as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import expit
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures


def column_owners(prep: ColumnTransformer) -> dict[str, np.ndarray] | None:
    """Input column -> the output columns made from it alone, by the transformers' output names
    (a column's one-hot, bins and missing flag carry its name); None when an output cannot be
    put down to exactly one input column (a transform that mixes columns, names that are
    prefixes of one another's outputs)."""
    if not hasattr(prep, "output_indices_") or not hasattr(prep, "feature_names_in_"):
        return None
    names_in = [str(name) for name in prep.feature_names_in_]
    owners: dict[str, list[int]] = {}
    for name, transformer, columns in prep.transformers_:
        part = prep.output_indices_.get(name, slice(0, 0))
        if isinstance(transformer, str) and transformer == "drop" or part.stop == part.start:
            continue
        if not isinstance(columns, list | tuple | np.ndarray) or not all(isinstance(c, str) for c in columns):
            return None
        if isinstance(transformer, str):  # passthrough: each column as it is
            made: list[str | None] = list(columns)
        else:
            try:
                outputs = [str(out) for out in transformer.get_feature_names_out(list(columns))]
            except (AttributeError, ValueError, TypeError):
                return None
            made = [_owner(out, columns) for out in outputs]
        if len(made) != part.stop - part.start or any(col is None or col not in names_in for col in made):
            return None
        for offset, col in enumerate(made):
            owners.setdefault(str(col), []).append(part.start + offset)
    return {col: np.asarray(at, dtype=np.int64) for col, at in owners.items()}


def _owner(output: str, columns: Any) -> str | None:
    """The one input column an output name belongs to ('x', 'x_cat', 'missingindicator_x')."""
    found = [c for c in columns if output == c or output.startswith(f"{c}_") or output == f"missingindicator_{c}"]
    return found[0] if len(found) == 1 else None


class PipelineOcclusion:
    """One fitted member (a Pipeline whose first step is a ColumnTransformer): `start` on a
    slice of leads' model inputs gives their won probability (`Started.proba`), and `occluded`
    the won probability of some of them with one input set to its typical value."""

    def __init__(self, pipeline: Pipeline, owners: dict[str, np.ndarray], typical: dict[str, Any]) -> None:
        self.prep: ColumnTransformer = pipeline.steps[0][1]
        self.rest = pipeline[1:]
        self.owners, self.typical = owners, typical
        final, middle = self.rest.steps[-1][1], [step for _, step in self.rest.steps[:-1]]
        self.kind = "predict"  # the replaced rows predicted by the steps after the transforms
        logistic = isinstance(final, LogisticRegression) and final.coef_.shape[0] == 1
        # (PolynomialFeatures works its powers out anew at each read: 80 ms at 200 inputs)
        powers = middle[0].powers_ if len(middle) == 1 and isinstance(middle[0], PolynomialFeatures) else None
        if logistic and not middle:
            self.kind, self.weights, self.intercept = "linear", final.coef_[0].astype(float), float(final.intercept_[0])
        elif logistic and powers is not None and powers.sum(axis=1).max() <= 2:
            bias, self.weights, self.pairs = _quadratic(powers, final.coef_[0].astype(float))
            self.kind, self.intercept = "quadratic", float(final.intercept_[0]) + bias
        elif not middle and _boosted_trees(final):
            self.kind = "trees"
            self.trees = [tree for iteration in final._predictors for tree in iteration]
            self._known = final._bin_mapper.make_known_categories_bitsets()
            column = _tree_columns(final, len(self.prep.get_feature_names_out()))  # the trees' feature -> transformed column
            used = [set(column[tree.nodes["feature_idx"][~tree.nodes["is_leaf"].astype(bool)]].tolist()) for tree in self.trees]
            self.trees_of = {col: np.asarray([i for i, features in enumerate(used) if features & set(at.tolist())], dtype=np.int64)
                             for col, at in owners.items()}
        self._typical_row: np.ndarray | None = None
        self._checked = False

    @classmethod
    def of(cls, pipeline: Any, typical: dict[str, Any]) -> PipelineOcclusion | None:
        """The member's occlusion, or None when its shape is not one this module knows."""
        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) < 2 or not isinstance(pipeline.steps[0][1], ColumnTransformer):
            return None
        final = pipeline.steps[-1][1]
        if not hasattr(final, "predict_proba") or len(getattr(final, "classes_", [])) != 2:
            return None
        owners = column_owners(pipeline.steps[0][1])
        return None if owners is None else cls(pipeline, owners, typical)

    def start(self, X: pd.DataFrame) -> Started:
        """These leads transformed once, with what `occluded` needs of them."""
        if self._typical_row is None:  # the typical values in the columns' own dtypes
            row = pd.DataFrame({c: pd.Series([self.typical[c]], dtype=X[c].dtype) for c in X.columns})
            self._typical_row = _dense(self.prep.transform(row))[0]
        T = self.prep.transform(X)
        started = Started(T.tocsr() if sp.issparse(T) else np.asarray(T, dtype=float))
        if self.kind == "linear":
            started.z = started.T @ self.weights + self.intercept
        elif self.kind == "quadratic":
            started.G = np.asarray(started.T @ (self.pairs + self.pairs.T))  # d(t'Qt)/dt, per lead
            product = started.T.multiply(started.G) if sp.issparse(started.T) else started.T * started.G
            started.z = np.asarray(started.T @ self.weights).ravel() + 0.5 * np.asarray(product.sum(axis=1)).ravel() + self.intercept
        if self.kind == "trees":
            ready = self._ready(started.T)
            started.leaves = np.column_stack([self._tree_values(tree, ready) for tree in self.trees])
            started.leaf_sum = started.leaves.sum(axis=1)
            started.proba = self._raw(started.leaf_sum)
        else:
            started.proba = expit(started.z) if started.z is not None else self.rest.predict_proba(started.T)[:, 1]
        if not self._checked and self.kind != "predict":
            self._checked = True
            if not self._agrees(started, min(len(X), 64)):
                self.kind = "predict"  # e.g. the trees' private parts changed: predict replaced rows whole
                started.proba = self.rest.predict_proba(started.T)[:, 1]
        return started

    def _agrees(self, started: Started, n: int) -> bool:
        """Whether the first `n` started leads' answers are the pipeline's own (`predict`)."""
        rows = np.arange(n)
        if not np.allclose(started.proba[rows], self.rest.predict_proba(started.T[rows])[:, 1], rtol=0, atol=1e-9):
            return False
        if not self.owners:
            return True
        # Every column's variants in one prediction: one call per column cost ~5 ms each, half a
        # second a night for a four-member vote of twenty-five inputs.
        variants = np.vstack([self._variants(started, at, rows) for at in self.owners.values()])
        ours = np.concatenate([self.occluded(started, column, rows) for column in self.owners])
        return np.allclose(ours, self.rest.predict_proba(variants)[:, 1], rtol=0, atol=1e-9)

    def occluded(self, started: Started, column: str, rows: np.ndarray) -> np.ndarray:
        """The won probability of the started leads at `rows` with `column` at its typical value."""
        assert self._typical_row is not None
        at = self.owners.get(column, np.empty(0, dtype=np.int64))
        if self.kind in ("linear", "quadratic"):
            own = _dense(started.T[rows][:, at]) if sp.issparse(started.T) else started.T[np.ix_(rows, at)]
            change = self._typical_row[at] - own  # leads x the column's outputs
            moved = change @ self.weights[at]
            if self.kind == "quadratic":
                moved += (change * started.G[np.ix_(rows, at)]).sum(axis=1)
                moved += np.einsum("ki,ij,kj->k", change, self.pairs[np.ix_(at, at)], change)
            return expit(started.z[rows] + moved)
        variants = self._variants(started, at, rows)
        if self.kind == "trees":  # only the trees that split on the column's outputs can move
            trees = self.trees_of.get(column, np.empty(0, dtype=np.int64))
            ready = self._ready(variants)
            after = sum((self._tree_values(self.trees[i], ready) for i in trees), np.zeros(len(rows)))
            return self._raw(started.leaf_sum[rows] - started.leaves[np.ix_(rows, trees)].sum(axis=1) + after)
        return self.rest.predict_proba(variants)[:, 1]

    def _variants(self, started: Started, at: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The started leads' transformed rows at `rows`, with the output columns `at` typical."""
        assert self._typical_row is not None
        variants = _dense(started.T[rows]) if sp.issparse(started.T) else started.T[rows]  # a copy: rows are positions
        variants[:, at] = self._typical_row[at]
        return variants

    def _ready(self, rows: np.ndarray) -> np.ndarray:
        """Transformed rows as the trees read them (HistGradientBoostingClassifier's own checks)."""
        return self.rest.steps[-1][1]._preprocess_X(rows, reset=False)

    def _tree_values(self, tree: Any, ready: np.ndarray) -> np.ndarray:
        """One boosted tree's leaf values (the classifier's own prediction, a tree at a time)."""
        return tree.predict(ready, known_cat_bitsets=self._known[0], f_idx_map=self._known[1], n_threads=1)

    def _raw(self, leaves: np.ndarray) -> np.ndarray:
        """Won probability of the trees' summed leaf values."""
        trees = self.rest.steps[-1][1]
        return trees._loss.predict_proba((leaves + trees._baseline_prediction.ravel()[0])[:, None])[:, 1]


@dataclass
class Started:
    """A slice of leads as one member sees them (`PipelineOcclusion.start`); freed with the slice."""

    T: Any  # the transformed rows (a dense array, or CSR)
    proba: np.ndarray = field(default_factory=lambda: np.empty(0))  # won probability
    z: np.ndarray | None = None  # log-odds (logistic members)
    G: np.ndarray | None = None  # the quadratic form's gradient per lead (pairwise member)
    leaves: np.ndarray | None = None  # leads x trees: each tree's leaf value (boosted trees)
    leaf_sum: np.ndarray | None = None


def _boosted_trees(final: Any) -> bool:
    """A binary HistGradientBoostingClassifier whose trees can be read one by one (its private
    parts; the first leads started are checked against its own predictions)."""
    return (isinstance(final, HistGradientBoostingClassifier) and getattr(final, "n_trees_per_iteration_", 0) == 1
            and all(hasattr(final, name) for name in ("_predictors", "_preprocess_X", "_bin_mapper", "_loss", "_baseline_prediction")))


def _tree_columns(trees: HistGradientBoostingClassifier, width: int) -> np.ndarray:
    """The transformed column each of the trees' features reads: the classifier puts its
    categorical columns first (`_preprocessor`), and its trees number features in that order."""
    inner = getattr(trees, "_preprocessor", None)
    if inner is None:
        return np.arange(width)
    parts = [np.flatnonzero(cols) if np.asarray(cols).dtype == bool else np.asarray(cols, dtype=np.int64)
             for _, step, cols in inner.transformers_ if not (isinstance(step, str) and step == "drop")]
    return np.concatenate(parts) if parts else np.arange(width)


def _quadratic(powers: np.ndarray, coef: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(b, v, Q) with coef · poly(t) = b + v·t + t'Qt, from PolynomialFeatures' powers (degree <= 2)."""
    width = powers.shape[1]
    degree = powers.sum(axis=1)
    single, pairs = np.zeros(width), np.zeros((width, width))
    ones = np.flatnonzero(degree == 1)
    np.add.at(single, powers[ones].argmax(axis=1), coef[ones])
    twos = np.flatnonzero(degree == 2)
    terms = powers[twos]
    first = terms.argmax(axis=1)  # the lower input of a pair (argmax takes the first 1), or the squared one
    last = width - 1 - terms[:, ::-1].argmax(axis=1)  # the higher input (the same when squared)
    np.add.at(pairs, (first, last), coef[twos])
    return float(coef[degree == 0].sum()), single, pairs


def _dense(values: Any) -> np.ndarray:
    return np.asarray(values.toarray() if sp.issparse(values) else values, dtype=float)
