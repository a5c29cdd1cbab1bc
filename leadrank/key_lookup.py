"""Where keys (record keys, lead IDs) sit among other keys, hashed by Arrow; and their text order.

The night aligns a million keys with a million others again and again: tonight's records with
the base run's state, the stored records' leads, the base run's golden inputs; tonight's leads
with the base run's scores and the stored leads. pandas' `Index.get_indexer` on Python strings
builds its hash table through Python's hashing and equality: 1.29 s for 1.39M record keys among
1.41M, and night 2's dedupe step at 1.4M records spent 6.4 s there, of the 46 s py-spy sampled
(bench/README.md, seventh round of issue 19). Arrow's `index_in` hashes the UTF-8 bytes in C++: 0.25 s on Arrow text, 0.44 s
with the conversion from Python strings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Keys = pd.Series | pd.Index | np.ndarray | pa.Array | pa.ChunkedArray


def _is_text(array: pa.Array | pa.ChunkedArray) -> bool:
    return pa.types.is_string(array.type) or pa.types.is_large_string(array.type)


def large_text(values: Keys) -> pa.Array | pa.ChunkedArray:
    """Text as Arrow large text, missing values null: Arrow text and pandas' Arrow-backed text as
    they are (no Python string made), anything else through Python objects (None and NaN
    missing). ArrowTypeError or ArrowInvalid when the values are not text."""
    array = values if isinstance(values, pa.Array | pa.ChunkedArray) else None
    if array is None and isinstance(values, pd.Series | pd.Index) and values.dtype != object:
        array = pa.array(values.array)
        array = array if _is_text(array) else None  # (numbers, categories, all-missing floats: below)
    if array is None:
        array = pa.array(np.asarray(values, dtype=object), type=pa.large_string(), from_pandas=True)
    if not _is_text(array):
        raise pa.ArrowTypeError(f"values of type {array.type}, not text")
    return array.cast(pa.large_string())


ARROW_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas 3's "str": Arrow-backed, NaN for missing


def text_series(array: pa.Array) -> pd.Series:
    """Arrow text as a column of pandas' str dtype (ARROW_TEXT: as parquet reads it back),
    without a Python string per value."""
    return pd.Series(pd.array(array, dtype=ARROW_TEXT), copy=False)


def positions(keys: Keys, among: Keys) -> np.ndarray:
    """Each of `keys`' position among `among` (int64; -1 where it is not there or missing), as
    `pd.Index(among).get_indexer(keys)` gives it for keys that `among` holds once (a repeated
    one gives its first position here). Keys that are not text (numbers, mixed values) are looked
    up by pandas."""
    try:
        values, value_set = large_text(keys), large_text(among)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pd.Index(np.asarray(among, dtype=object)).get_indexer(pd.Index(np.asarray(keys, dtype=object)))
    if isinstance(value_set, pa.ChunkedArray):
        value_set = value_set.combine_chunks()
    found = pc.index_in(values, value_set=value_set, skip_nulls=True)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def looked_up(keys: Keys, among: Keys, values: pd.Series | np.ndarray, missing: object = None) -> np.ndarray:
    """`values` (one per key of `among`) at each of `keys`, `missing` where the key is not
    there: what `Series.map` of a keyed Series gives, through `positions`."""
    at = positions(keys, among)
    source = np.asarray(values)
    out = source[np.maximum(at, 0)] if len(source) else np.empty(len(at), dtype=source.dtype)
    if (at < 0).any():
        out = out.astype(object) if missing is None and out.dtype != object else out.copy()
        out[at < 0] = missing
    return out


def text_ranks(values: np.ndarray | pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Each string's rank among the distinct ones in text order: `pd.factorize(values, sort=True)`'s
    codes, with the distinct values sorted by Arrow (UTF-8 byte order is code point order, as
    Python compares str) instead of by Python comparisons (~2 s for a million names)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    try:
        encoded = (values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())).dictionary_encode()
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):  # not all text (or not UTF-8): as Python sorts it
        return pd.factorize(values, sort=True)[0]
    order = pc.array_sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[encoded.indices.to_numpy(zero_copy_only=False)]
