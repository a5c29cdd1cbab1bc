"""Which lead a company row names: one rule for financial statements and CRM outcomes.

A statement or an outcome row names a company by 统一社会信用代码 and/or name; the same row must
reach the same lead whichever file it comes from. Precedence, first that finds a lead:
  1. the row's valid 统一社会信用代码 equals a lead's valid code (`uscc`, `uscc_valid`);
  2. the row's whole name, normalised as leads' names are (region and legal form kept), equals a
     lead's Chinese or English name (`company_name_zh`, `company_name_en`): the same name is a
     closer match than the same core, which a Dongguan and a Hangzhou company can share;
  3. the place the row's name gives (its city, else its province: 东莞市翔卓纺织有限公司 gives
     东莞市) and its name core equal a lead's `city` or `province` and its Chinese name core (as
     in 4): of two leads of one core in two cities, the row that names a city reaches the lead
     there, whatever the tie rule would prefer;
  4. the row's name core equals the lead's Chinese name core (`name_core_zh`, else parsed from
     `company_name_zh`; a lead without a Chinese name uses its `name_core` here);
  5. the row's name core equals the lead's own `name_core` (an English name, or the other one).
Name cores on both sides are taken without the exchanges' ST marks (*ST新都 is 新都; only before a
Chinese name, so Stanley stays Stanley).
An invalid code is never used: it may be a typo of another company's.

Tie rule, when several leads share the key at the level that decides: an active lead before a
merged or expired one (when `status` is given), then a lead without a valid code of its own
(a lead with one is reached by its code; a row without the code is more likely the one no code
reaches), then the smallest lead_id (stable night after night). So a row reaches one lead,
never several.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadrank.key_lookup import large_text, positions
from leadrank.transform.identifiers import normalise_usccs
from leadrank.transform.names import chinese_name_cores, name_cores, names_cores_places

LEVELS = ("uscc", "name", "name_place", "name_zh", "name_core")  # precedence, best first
# *ST新都 (core "st新都") is 新都 under special treatment; S*ST前锋 (core "s st前锋") is 前锋.
_ST_MARK = re.compile(r"^(?:s\s*)?\*?\s*st\s*(?=[\u3400-\u9fff])", re.I)


# What every core with a mark starts with (an s, or a '*' or space: no letter or digit), for RE2;
# _ST_MARK then decides, so that its Unicode spaces and case folding hold.
_MAYBE_ST_MARK = r"^(?:[sſ]|[^\p{L}\p{N}])"


def without_st_marks(cores: object) -> np.ndarray:
    """The name cores without the ST marks exchanges put before a listed company's name. The few
    cores that may carry one are found by an Arrow kernel first: Python's regex over every lead's
    core, twice in every night's lead index, took ~1 s at a million leads. Text is made Arrow
    text as a whole (pandas' Arrow-backed text as it is): a Python loop over a million leads'
    cores, reading each from Arrow, took 1.3 of the night's 3.9 s lead index."""
    try:
        text = large_text(cores if isinstance(cores, pd.Series | pd.Index | np.ndarray) else list(cores))
        values = text.to_numpy(zero_copy_only=False).astype(object, copy=False)
    except (pa.ArrowTypeError, pa.ArrowInvalid):  # (values that are not text: missing, as before)
        values = np.array([c if isinstance(c, str) else None for c in cores], dtype=object)
        text = pa.array(values, type=pa.large_string())
    marked = pc.match_substring_regex(text, _MAYBE_ST_MARK, ignore_case=True)
    for at in np.flatnonzero(np.asarray(marked.fill_null(False), dtype=bool)):
        values[at] = _ST_MARK.sub("", values[at])
    return values


def join_by_lead(leads: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """`leads` with the columns of `other` (one row per lead, `lead_id` among them) as a left
    merge on lead_id gives them. What scoring computes per lead (ratios, segments) comes in the
    leads' order: it is set beside them by position, where a merge hashed a million keys and
    copied every column (~3 s of night 1's score step); rows in another order are merged."""
    extra = other.drop(columns="lead_id")
    if (len(other) == len(leads) and not set(extra.columns) & set(leads.columns)
            and (leads["lead_id"].to_numpy(dtype=object) == other["lead_id"].to_numpy(dtype=object)).all()):
        return pd.concat([leads.reset_index(drop=True), extra.reset_index(drop=True)], axis=1)
    return leads.merge(other, on="lead_id", how="left")


def row_name_cores(names: pd.Series) -> np.ndarray:
    """Core of each row's company name, without the ST marks exchanges put before it."""
    return without_st_marks(name_cores(names))


def _whole(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _place_keys(places: pa.Array | pa.ChunkedArray, cores: pa.Array | pa.ChunkedArray) -> pa.Array:
    """'place|core' per row, null where either is missing or empty."""
    def given(text: pa.Array | pa.ChunkedArray) -> pa.Array:
        text = _whole(text)
        return pc.if_else(pc.greater(pc.utf8_length(text), 0), text, pa.scalar(None, text.type))

    return pc.binary_join_element_wise(given(places), given(cores), pa.scalar("|", pa.large_string()))


def _held(keys: pa.Array, ids: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """(each distinct non-empty key, the first of `ids` that has it): `keys` and `ids` in tie-rule
    order. By Arrow (the distinct keys in order of first appearance, as it encodes them): pandas'
    duplicated() over a million leads' two names and cores hashed Python strings for seconds."""
    usable = pc.greater(pc.utf8_length(keys), 0).fill_null(False).to_numpy(zero_copy_only=False)
    encoded = keys.filter(pa.array(usable)).dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    # A key's code is one more than every earlier key's: its first row is where the code first
    # exceeds all the codes before it.
    first = np.flatnonzero(codes > np.maximum.accumulate(np.r_[-1, codes[:-1]])) if len(codes) else codes
    return encoded.dictionary, ids[usable][first]


def _shared(keys: pa.Array) -> pa.Array:
    """Whether each row's key (not missing) is another row's too."""
    codes = keys.dictionary_encode().indices.to_numpy(zero_copy_only=False)
    codes = np.nan_to_num(codes, nan=-1).astype(np.int64) if codes.dtype.kind == "f" else codes.astype(np.int64)
    counts = np.bincount(codes[codes >= 0], minlength=1)
    return pa.array((codes >= 0) & (counts[np.maximum(codes, 0)] > 1))


def _stacked(arrays: list[pa.Array | pa.ChunkedArray]) -> pa.Array:
    """One array of the keys of a level that holds each lead more than once."""
    if not arrays:
        return pa.array([], type=pa.large_string())
    return pa.concat_arrays([_whole(a) for a in arrays])


class LeadIndex:
    """The leads keyed by code and names, each key holding the one lead the tie rule picks."""

    def __init__(self, leads: pd.DataFrame) -> None:
        valid = leads["uscc_valid"].fillna(False).astype(bool).to_numpy()
        inactive = (leads["status"].fillna("active") != "active").to_numpy() if "status" in leads else False
        order = pd.DataFrame({"inactive": inactive, "coded": valid, "lead_id": leads["lead_id"].to_numpy()})
        order = order.sort_values(["inactive", "coded", "lead_id"], kind="stable").index.to_numpy()
        own = without_st_marks(leads["name_core"])
        zh = without_st_marks(chinese_name_cores(leads))
        zh = np.where(pd.isna(zh), own, zh)
        take = pa.array(order)
        # The names level holds each lead twice: its Chinese name, then (after every lead's) its English one.
        names = [large_text(leads[c]).take(take) for c in ("company_name_zh", "company_name_en") if c in leads]
        zh = _whole(large_text(zh).take(take))
        ids = leads["lead_id"].to_numpy(dtype=object)[order]
        # The place level holds the leads whose core another lead has too (for the others it finds
        # what the core finds), each twice: its city with its core, then its province with it.
        shared = _shared(zh)
        places = [_place_keys(large_text(leads[c]).take(take).filter(shared), zh.filter(shared))
                  for c in ("city", "province") if c in leads]
        keys = {"uscc": large_text(np.where(valid, leads["uscc"].to_numpy(dtype=object), None)).take(take),
                "name": _stacked(names), "name_place": _stacked(places), "name_zh": zh,
                "name_core": large_text(own).take(take)}
        holders = {"name_place": ids[shared.to_numpy(zero_copy_only=False)]}
        # Per level: the distinct keys and the lead holding each, the first in tie-rule order.
        self._by = {level: _held(keys[level], np.resize(holders.get(level, ids), len(keys[level]))) for level in LEVELS}

    def match(self, uscc: pd.Series, company_name: pd.Series) -> tuple[pd.Series, pd.Series]:
        """(lead_id or None, the level that found it as an index into LEVELS, -1 for none) per row."""
        codes, valid = normalise_usccs(uscc)
        display, cores, places = names_cores_places(company_name)
        cores = without_st_marks(cores)  # (row_name_cores, from one parse)
        row_keys = {"uscc": np.where(np.asarray(valid, dtype=bool), np.asarray(codes, dtype=object), None),
                    "name": display, "name_place": _place_keys(large_text(places), large_text(cores)),
                    "name_zh": cores, "name_core": cores}
        leads = np.full(len(uscc), None, dtype=object)
        levels = np.full(len(uscc), -1, dtype=np.int64)
        for n, level in enumerate(LEVELS):  # best level first: a row found keeps its lead
            held, holders = self._by[level]  # (only non-empty text keys: a missing or empty one finds none)
            at = positions(large_text(row_keys[level]), held) if len(held) else np.full(len(uscc), -1)
            found = (levels < 0) & (at >= 0)
            leads[found] = holders[at[found]]
            levels[found] = n
        return pd.Series(leads, index=uscc.index, dtype=object), pd.Series(levels, index=uscc.index, dtype="int64")
