"""Work once per distinct row. A million leads share a few thousand feature vectors (no
statements, one segment, one province): the model predicts, and the reasons are worded, once per
vector and spread back to the leads."""

from __future__ import annotations

import numpy as np
import pandas as pd


def distinct_rows(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(the position of each distinct row's first occurrence, each row's number among the
    distinct rows): `values[first][group]` gives every row its distinct row's value. Missing
    values are values like any other."""
    group = frame.groupby(list(frame.columns), dropna=False, sort=False, observed=True).ngroup().to_numpy()
    _, first = np.unique(group, return_index=True)
    return first, group
