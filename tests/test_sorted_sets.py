"""leadrank.sorted_sets gives what numpy's set functions give (it only avoids their hashing)."""

import numpy as np
import pytest

from leadrank.sorted_sets import distinct, distinct_sorted, symmetric_difference, union

RNG = np.random.default_rng(11)
ARRAYS = [
    np.empty(0, np.int64),
    np.array([5], np.int64),
    np.array([3, 3, 3], np.int64),
    RNG.integers(0, 50, 400).astype(np.int64),  # many repeats
    RNG.integers(0, 2**62, 3000).astype(np.int64),  # nearly all distinct, large codes
    RNG.integers(-1000, 1000, 2000).astype(np.int32),
    RNG.integers(0, 2, 100).astype(bool),
]


@pytest.mark.parametrize("values", ARRAYS, ids=range(len(ARRAYS)))
def test_distinct_is_numpys_unique_and_leaves_its_input(values):
    kept = values.copy()
    out = distinct(values)
    assert np.array_equal(out, np.unique(values)) and out.dtype == np.unique(values).dtype
    assert np.array_equal(values, kept)


def test_distinct_sorted_sorts_in_place():
    codes = RNG.integers(0, 500, 5000).astype(np.int64)
    expected = np.unique(codes)
    assert np.array_equal(distinct_sorted(codes), expected)
    assert np.all(codes[1:] >= codes[:-1])


@pytest.mark.parametrize("a", ARRAYS[:6], ids=range(6))
@pytest.mark.parametrize("b", ARRAYS[:6], ids=range(6))
def test_union_and_symmetric_difference_are_numpys(a, b):
    b = b.astype(a.dtype)
    assert np.array_equal(union(a, b), np.union1d(a, b))
    assert np.array_equal(symmetric_difference(a, b), np.setxor1d(a, b))


def test_symmetric_difference_of_overlapping_codes():
    """Two nights' pair codes: mostly the same, some only in one."""
    base = RNG.integers(0, 10**12, 20_000)
    a = np.concatenate([base, base[:100], RNG.integers(0, 10**12, 300)])  # repeats within a
    b = np.concatenate([base[:19_500], RNG.integers(0, 10**12, 200)])
    RNG.shuffle(a)
    RNG.shuffle(b)
    out = symmetric_difference(a, b)
    assert np.array_equal(out, np.setxor1d(a, b)) and 900 <= len(out) <= 1000
