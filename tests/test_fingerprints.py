"""Row fingerprints (leadrank.fingerprints.row_hash): what the load, the incremental resolution,
golden records and scoring, and the normalisation cache compare across nights and processes."""

import numpy as np
import pandas as pd
import pytest

from leadrank import fingerprints
from leadrank.fingerprints import row_hash


def _frame(n: int = 5_000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "name": np.array([f"公司 {i}" if i % 9 else None for i in rng.permutation(n)], dtype=object),
        "country": rng.choice(np.array(["CN", "DE", None], dtype=object), n),
        "flag": rng.integers(0, 2, n).astype(bool),
        "count": rng.integers(0, 50, n),
    })


def test_equal_values_give_equal_fingerprints_however_they_are_held():
    """Python strings, Arrow text and categories; flags as bool or as objects (a stored record
    comes back from the warehouse as objects); integers as int64 or objects."""
    frame = _frame()
    held = pd.DataFrame({
        "name": frame["name"].astype("str"),
        "country": frame["country"].astype("category"),
        "flag": frame["flag"].astype(object),
        "count": frame["count"].astype(object),
    })
    assert np.array_equal(row_hash(frame), row_hash(held))


def test_fingerprints_are_per_row_in_any_order_and_batching(monkeypatch):
    frame = _frame()
    whole = row_hash(frame)
    order = np.random.default_rng(1).permutation(len(frame))
    assert np.array_equal(row_hash(frame.iloc[order].reset_index(drop=True)), whole[order])
    monkeypatch.setattr(fingerprints, "BATCH_ROWS", 777)
    assert np.array_equal(row_hash(frame), whole)


def test_every_change_shows_and_distinct_rows_get_distinct_fingerprints():
    frame = _frame()
    whole = row_hash(frame)
    assert len(np.unique(whole)) == len(frame.drop_duplicates())
    changed = frame.copy()
    changed.loc[10, "country"] = "FR" if changed.loc[10, "country"] != "FR" else "IT"
    changed.loc[20, "flag"] = not changed.loc[20, "flag"]
    differ = np.flatnonzero(row_hash(changed) != whole)
    assert differ.tolist() == [10, 20]
    # Text moved from one column to the next is another row, not the same joined text.
    moved = pd.DataFrame({"a": ["ab", "a"], "b": ["", "b"]})
    assert len(set(row_hash(moved).tolist())) == 2


@pytest.mark.parametrize("missing, same", [(fingerprints.MISSING, False), ("", True)])
def test_missing_is_not_empty_unless_asked(missing, same):
    frame = pd.DataFrame({"a": pd.Series([None, ""], dtype=object), "b": ["x", "x"]})
    hashes = row_hash(frame, missing=missing)
    assert bool(hashes[0] == hashes[1]) is same


def test_no_columns_and_no_rows():
    assert row_hash(_frame(), []).tolist() == [0] * 5_000
    assert row_hash(_frame().iloc[:0]).tolist() == []


def test_the_fingerprint_sales_see_is_the_one_stored_since_migration_0080():
    """`leads.record_hash` decides whether a lead counts as updated: it must not change with a
    library release. These digits are what the joined-text SipHash stored before Polars hashed
    the other fingerprints (computed with leadrank at ee7d3c7); a new implementation that changed
    them would mark every stored lead updated on its first night."""
    from leadrank.fingerprints import stable_row_hash
    from leadrank.warehouse.load import GOLDEN_HASHED, golden_hash

    frame = pd.DataFrame({"a": ["华强电子", None, "Nordic Paper AB"], "b": [1, 2, None], "c": [True, False, None]},
                         dtype=object)
    assert [format(v, "016x") for v in stable_row_hash(frame, ["a", "b", "c"], missing="").tolist()] == [
        "f7fb78ca0c264408", "1d1b927367310e6b", "87c38ba495abbd7b"]
    # The load's record_hash is that fingerprint of a lead's golden fields (not Polars').
    leads = frame.rename(columns={"a": "company_name", "b": "n_sources", "c": "is_branch"}).reindex(
        columns=GOLDEN_HASHED)
    assert golden_hash(leads).tolist() == [
        format(v, "016x") for v in stable_row_hash(leads, GOLDEN_HASHED, missing="").tolist()]
    assert golden_hash(leads).tolist() != [format(v, "016x") for v in row_hash(leads, GOLDEN_HASHED, "").tolist()]
