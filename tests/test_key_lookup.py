"""leadrank.key_lookup: key positions hashed by Arrow, as pandas' get_indexer gives them."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from leadrank.key_lookup import looked_up, positions

AMONG = ["k3", "甲公司#2", "k1", "", "k10"]
KEYS = ["k1", "k2", None, "甲公司#2", "", "k10", "k1", np.nan]


@pytest.mark.parametrize("form", ["objects", "arrow text", "arrow array", "chunked", "index"])
def test_positions_are_get_indexers_whatever_form_the_keys_come_in(form):
    expected = pd.Index(AMONG, dtype=object).get_indexer(pd.Index(KEYS, dtype=object))
    expected[pd.isna(pd.Series(KEYS, dtype=object)).to_numpy()] = -1  # a missing key is never found

    def shaped(values):
        if form == "objects":
            return pd.Series(values, dtype=object)
        if form == "arrow text":
            return pd.Series(values, dtype="str")
        if form == "arrow array":
            return pa.array(pd.Series(values, dtype=object), from_pandas=True)
        if form == "chunked":
            return pa.chunked_array([pa.array(pd.Series(values[:2], dtype=object), from_pandas=True),
                                     pa.array(pd.Series(values[2:], dtype=object), from_pandas=True)])
        return pd.Index(values, dtype=object)

    found = positions(shaped(KEYS), shaped(AMONG))
    assert found.dtype == np.int64
    assert found.tolist() == expected.tolist() == [2, -1, -1, 1, 3, 4, 2, -1]


def test_keys_that_are_not_text_are_looked_up_by_pandas():
    assert positions(np.array([3, 7, 1]), np.array([1, 2, 3])).tolist() == [2, -1, 0]
    assert positions(pd.Series([1, "a"], dtype=object), pd.Series(["a", 1], dtype=object)).tolist() == [1, 0]
    assert positions(pd.Series([], dtype=object), pd.Series(["a"])).tolist() == []
    assert positions(pd.Series(["a"]), pd.Series([], dtype=object)).tolist() == [-1]


def test_looked_up_values_are_a_keyed_maps():
    values = pd.Series(["L1", "L2", "L3", "L4", "L5"], index=AMONG)
    keys = pd.Series(KEYS, dtype=object)
    expected = keys.map(values)
    got = looked_up(keys, AMONG, values.to_numpy())
    assert [None if pd.isna(v) else v for v in expected] == list(got)
    numbers = looked_up(keys, AMONG, np.arange(5, dtype=np.int64), missing=0)
    assert numbers.dtype == np.int64 and numbers.tolist() == [2, 0, 0, 1, 3, 4, 2, 0]
    assert looked_up(keys, [], np.array([], dtype=object)).tolist() == [None] * len(KEYS)
