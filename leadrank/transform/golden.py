"""Golden records: one row per lead, each field taken from the best record that has it.

Survivorship is one documented order of a lead's records, and each golden field is the first
non-empty value in that order, so identical input gives identical leads whatever order the
records arrive in and whenever each source happened to be fetched:

1. source priority: the source's `trust` from the config, else its kind's default
   (association > exhibition > web search);
2. completeness: how many of website, phone, email, address and 统一社会信用代码 it holds;
3. recency: listed tonight first, then by nights since a source last listed it
   (`nights_unlisted`; the fetch time within a night is not used: it only says which source's
   thread finished first);
4. a stable tie-break: source name, then record key.

Identifiers prefer quality over that order: a valid 统一社会信用代码 over an invalid one, a
company email over a free-mail one. Every source record stays linked to its lead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadrank.contracts import LEADS, column_as_objects
from leadrank.fingerprints import row_hash
from leadrank.key_lookup import large_text, positions, text_ranks, text_series
from leadrank.memory import release_memory, stacked_parts

DEFAULT_TRUST = {"association": 3, "exhibition": 2, "websearch": 1}

COMPLETENESS = ["website", "phone", "email", "address", "uscc"]


def _text_ranks(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(each row's rank among the distinct values in text order, -1 where missing; the distinct
    values' texts in that order): a million records' repeated values (sources, fetch times)
    made text and compared once per distinct value."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    text = np.array([str(value) for value in distinct], dtype=object)
    by_text = np.argsort(text, kind="stable")
    rank = np.empty(len(text), dtype=np.int64)
    rank[by_text] = np.arange(len(text))
    ranks = np.full(len(codes), -1, dtype=np.int64)
    ranks[codes >= 0] = rank[codes[codes >= 0]]
    return ranks, text[by_text]


def _ranks(values: pd.Series) -> np.ndarray:
    """Each value's rank among the distinct ones, -1 where missing, in the order sorting the
    values gives (text by code point, through Arrow: key_lookup.text_ranks; anything else as
    pandas sorts it)."""
    present = values.notna().to_numpy()
    ranks = np.full(len(values), -1, dtype=np.int64)
    if present.any():
        kept = values if present.all() else values[present]
        try:
            ranks[present] = text_ranks(large_text(kept))
        except (pa.ArrowTypeError, pa.ArrowInvalid):  # (numbers, say)
            ranks[present] = pd.factorize(kept, sort=True)[0]
    return ranks


def _mapped(values: pd.Series, table: dict) -> np.ndarray:
    """`values.map(table)` as floats (NaN where missing or not in `table`), looked up once per
    distinct value."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    return np.array([table.get(value, np.nan) for value in distinct] + [np.nan], dtype=float)[codes]  # -1: the last


def survivorship_positions(records: pd.DataFrame, trust: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(`records`' row positions sorted by lead, then best first by the rules of the module
    docstring; the lead of each, numbered by the lead IDs' sorted order). Rows without a lead
    make none and are left out. `nights_unlisted` defaults to 0 for records seen tonight and 1
    for the others. One lexsort of integer keys: sorting the records as a frame (a copy of every
    column it was given, text compared as text) was most of the golden records' time at 1.4M records."""
    leads = _ranks(records["lead_id"])
    given = _mapped(records["source"], trust)
    trusted = np.nan_to_num(np.where(np.isnan(given), _mapped(records["source_kind"], DEFAULT_TRUST), given), nan=0.0)
    filled = np.sum([records[c].notna().to_numpy() for c in COMPLETENESS], axis=0, dtype=np.int64)
    if "nights_unlisted" in records.columns:
        recency = records["nights_unlisted"].to_numpy(dtype=np.int64)
    else:
        recency = (~records["seen_tonight"].to_numpy(dtype=bool)).astype(np.int64)
    source = _ranks(records["source"])
    source[source < 0] = source.max(initial=-1) + 1  # a missing source last
    rows = np.flatnonzero(leads >= 0)
    # Record keys are unique (a source's repeated row gets a #n suffix): the order is total.
    keys = (_ranks(records["record_key"]), source, recency, -filled, -trusted, leads)
    order = rows[np.lexsort(tuple(key[rows] for key in keys))]
    return order, leads[order]


def _joined(leads: np.ndarray, ranks: np.ndarray, ordered: np.ndarray, n_leads: int) -> tuple[np.ndarray, np.ndarray]:
    """Per lead 0..n_leads-1 (`leads`: each record's; `ranks`, `ordered`: its value as
    `_text_ranks` gives them), the distinct values sorted and ';'-joined (None where a lead has
    none) and how many there are. On integer codes: the few distinct values are ordered by their
    text once and joined position by position over the leads that have that many."""
    known = (leads >= 0) & (ranks >= 0)
    width = max(len(ordered), 1)
    pairs = np.unique(leads[known].astype(np.int64) * width + ranks[known])  # by lead, then by text
    lead, value = np.divmod(pairs, width)
    starts = np.flatnonzero(np.r_[True, lead[1:] != lead[:-1]]) if len(lead) else np.empty(0, dtype=np.int64)
    count = np.bincount(lead, minlength=n_leads)
    out = np.full(n_leads, None, dtype=object)
    out[lead[starts]] = ordered[value[starts]]
    for k in range(1, int(count.max(initial=1))):  # the k-th value of the leads that have one more
        more = np.flatnonzero(count[lead[starts]] > k)
        out[lead[starts[more]]] = out[lead[starts[more]]] + ";" + ordered[value[starts[more] + k]]
    return out, count


# Leads whose golden records are made at a time, in parts of about this many records: a part's
# golden records are written before the next part is made (a million at once were +640 MB at
# the dedupe step's peak at 1.4M records, bench/README.md).
GOLDEN_PART_ROWS = 250_000


def golden_records(records: pd.DataFrame, trust: dict[str, int] | None = None) -> pd.DataFrame:
    """Leads (LEADS: LEAD_COLUMNS plus `name_core_zh`, the core of the Chinese name, which scoring
    matches statements and outcomes on) from resolved records (NORMALISED plus lead_id, their
    bool columns bool: as the RESOLVED contract hands them on, leadrank.contracts), in lead-ID
    order, text as Arrow-backed text (`as_text`): `golden_parts` one below the other."""
    parts = list(golden_parts(records, trust))
    return parts[0] if len(parts) == 1 else stacked_parts(parts)


# Golden fields that are their lead's first record's value where it has one (survivorship),
# and the record column each is.
FIRST_VALUE = {"name_core": "name_core", "legal_form": "legal_form", "domain": "domain", "phone": "phone_e164",
               "address": "address", "country": "country_iso2", "province": "province_norm", "city": "city_norm",
               "industry": "industry", "products": "products", "member_level": "member_level"}


class _Survivors:
    """The records in survivorship order, numbered by lead, and what every part of the golden
    records reads of them whatever its leads (which records have each value, sources and fetch
    times as ranks): integer and boolean arrays over the records. Text is taken per part, only
    at the records picked."""

    def __init__(self, records: pd.DataFrame, trust: dict[str, int]) -> None:
        self.records = records
        self.order, self.leads = survivorship_positions(records, trust)
        self.starts = np.flatnonzero(np.r_[True, self.leads[1:] != self.leads[:-1]]) if len(self.leads) else \
            np.empty(0, dtype=np.int64)
        has = {c: records[c].notna().to_numpy() for c in
               {*FIRST_VALUE.values(), "name_norm", "name_alt_core", "website", "phone_type", "uscc_norm", "email_norm"}}
        self.has = has
        alt = large_text(records["company_name_alt"])
        chinese = pc.match_substring_regex(alt, "[\u4e00-\u9fff]").fill_null(False).to_numpy(zero_copy_only=False)
        ascii_only = pc.match_substring_regex(alt, r"^[\x00-\x7f]+$").fill_null(False).to_numpy(zero_copy_only=False)
        zh, en = ((records["name_lang"] == lang).fillna(False).to_numpy(dtype=bool) for lang in ("zh", "en"))
        # A name per record: its own in that language, else its alternative name if it is one.
        self.names = {"company_name_zh": (zh & has["name_norm"], "name_norm", chinese, "company_name_alt"),
                      "company_name_en": (en & has["name_norm"], "name_norm", ascii_only, "company_name_alt"),
                      "name_core_zh": (zh & has["name_core"], "name_core", chinese & has["name_alt_core"],
                                       "name_alt_core")}
        self.website = has["website"] & has["domain"]
        self.phone_type = has["phone_type"] & has["phone_e164"]
        # Identifiers by quality before order: a valid 统一社会信用代码, a company (not free-mail) email.
        self.valid_uscc = has["uscc_norm"] & np.asarray(records["uscc_valid"], dtype=bool)
        self.company_email = has["email_norm"] & ~np.asarray(records["email_free"], dtype=bool)
        self.branch = np.asarray(records["is_branch"], dtype=bool)
        self.sources, self.kinds = _text_ranks(records["source"]), _text_ranks(records["source_kind"])
        self.exhibition = (records["source_kind"] == "exhibition").fillna(False).to_numpy(dtype=bool)
        self.fetched = _text_ranks(records["fetched_at"])

    @property
    def n_leads(self) -> int:
        return len(self.starts)

    def span(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """The records of leads lo..hi-1 in survivorship order: (rows, lead - lo)."""
        a = self.starts[lo] if lo < self.n_leads else len(self.order)
        b = self.starts[hi] if hi < self.n_leads else len(self.order)
        return self.order[a:b], self.leads[a:b] - lo

    def first(self, has: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Per lead lo..hi-1, the row of its first record in survivorship order among those
        `has` marks (a mask over the records), -1 where none is."""
        rows, leads = self.span(lo, hi)
        at = np.flatnonzero(has[rows])
        firsts = at[np.r_[True, leads[at[1:]] != leads[at[:-1]]]] if len(at) else at
        out = np.full(hi - lo, -1, dtype=np.int64)
        out[leads[firsts]] = rows[firsts]
        return out

    def text(self, column: str, rows: np.ndarray) -> pa.Array:
        """`column` at `rows` (-1: none) as Arrow text: taken, then made Arrow text (a column of
        Python strings or categories is never converted whole)."""
        return large_text(pd.Series(self.records[column].array.take(rows, allow_fill=True), copy=False))

    def name(self, name: str, lo: int, hi: int) -> pa.Array:
        """A name of `self.names` per lead: its first record's that has one, of either kind."""
        own_mask, own, other_mask, other = self.names[name]
        rows = self.first(own_mask | other_mask, lo, hi)
        is_own = np.zeros(len(rows), dtype=bool)
        is_own[rows >= 0] = own_mask[rows[rows >= 0]]
        return pc.if_else(is_own, self.text(own, np.where(is_own, rows, -1)), self.text(other, np.where(is_own, -1, rows)))

    def preferred(self, column: str, better: np.ndarray, lo: int, hi: int) -> pa.Array:
        """`column` per lead: its first record's `better` value, else its first record's value."""
        best = self.first(better, lo, hi)
        return self.text(column, np.where(best >= 0, best, self.first(self.has[column], lo, hi)))


def golden_parts(records: pd.DataFrame, trust: dict[str, int] | None = None) -> Iterator[pd.DataFrame]:
    """`golden_records` about GOLDEN_PART_ROWS records at a time, each part a range of lead IDs in
    lead-ID order, as it is made: the dedupe step writes each to leads.parquet as it comes, so a
    million golden records are never held at once. Every field is per lead but whether a lead's
    统一社会信用代码 is valid, which any record's valid one says (collected over all records first)."""
    # As Arrow text, looked up by Arrow in each part: `isin` of a Python set of a million codes
    # made an array of it again for every part (11 of night 1's 75 s dedupe step at 1.4M records).
    survivors = _Survivors(records, trust or {})
    valid = pc.unique(large_text(records["uscc_norm"]).filter(pa.array(survivors.valid_uscc)))
    # Whole leads, the first of each part at or after a multiple of GOLDEN_PART_ROWS records.
    bounds = np.unique(np.searchsorted(survivors.starts, np.arange(0, len(survivors.order), GOLDEN_PART_ROWS)))
    bounds = [*bounds, survivors.n_leads] if survivors.n_leads else [0, 0]  # (no leads: one empty part)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        yield as_text(_golden_part(survivors, int(lo), int(hi), valid))
        release_memory(len(records))  # the part's text, written (malloc keeps it otherwise)


def _golden_part(s: _Survivors, lo: int, hi: int, valid: pa.Array) -> pd.DataFrame:
    """The golden records of leads lo..hi-1 (numbered as `s` numbers them)."""
    rows, leads = s.span(lo, hi)
    n = hi - lo
    text = {field: s.text(column, s.first(s.has[column], lo, hi)) for field, column in FIRST_VALUE.items()}
    text.update({name: s.name(name, lo, hi) for name in s.names})
    # Chinese key-account teams read Chinese names first; fall back to whatever name exists.
    text["company_name"] = pc.coalesce(text["company_name_zh"], s.text("name_norm", s.first(s.has["name_norm"], lo, hi)))
    text["website"] = s.text("website", s.first(s.website, lo, hi))
    text["phone_type"] = s.text("phone_type", s.first(s.phone_type, lo, hi))
    text["uscc"] = s.preferred("uscc_norm", s.valid_uscc, lo, hi)
    text["email"] = s.preferred("email_norm", s.company_email, lo, hi)
    sources, n_sources = _joined(leads, s.sources[0][rows], s.sources[1], n)
    kinds, _ = _joined(leads, s.kinds[0][rows], s.kinds[1], n)
    shown = s.exhibition[rows]
    first_at, last_at = _span(leads, s.fetched[0][rows], s.fetched[1], n)
    for field, values in {"sources": sources, "source_kinds": kinds, "first_fetched_at": first_at,
                          "last_fetched_at": last_at}.items():
        text[field] = large_text(values)
    out = {"lead_id": s.records["lead_id"].take(s.order[s.starts[lo:hi]]).reset_index(drop=True),
           **{field: text_series(values) for field, values in text.items()},
           "is_branch": np.bincount(leads, weights=~s.branch[rows], minlength=n) == 0,
           "uscc_valid": positions(text["uscc"], valid) >= 0,
           "n_sources": n_sources,
           "n_records": np.bincount(leads, minlength=n).astype(np.int64),
           "exhibitions": _joined(leads[shown], s.sources[0][rows][shown], s.sources[1], n)[1]}
    return pd.DataFrame(out)[LEADS]


def _span(leads: np.ndarray, times: np.ndarray, ordered: np.ndarray, n_leads: int) -> tuple[np.ndarray, np.ndarray]:
    """Per lead 0..n_leads-1 (`leads`: each record's), its records' first and last fetch time
    (`times`, `ordered`: as `_text_ranks` gives them), as text, None when none has one."""
    known = (leads >= 0) & (times >= 0)
    first = np.full(n_leads, len(ordered), dtype=np.int64)
    last = np.full(n_leads, -1, dtype=np.int64)
    np.minimum.at(first, leads[known], times[known])
    np.maximum.at(last, leads[known], times[known])
    text = np.append(ordered, None)  # a lead without a fetch time is left at len(ordered) or -1: None
    return text[first], text[last]


def fetched_span(records: pd.DataFrame, lead_ids: pd.Index | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """For each of `lead_ids`, the first and the last time one of `records` (lead_id, fetched_at)
    was fetched, as text (None when none was). Fetch times repeat (a few per source and night),
    so only their distinct values are compared as text and each record carries the rank of its
    own; each record finds its lead among `lead_ids` by Arrow's lookup. Sorting 1.4M records'
    leads and times as Python strings took ~2.4 s and made the golden records' peak on a second
    night; a Series per lead under an index of new strings, looked up again in the leads, ~1.6 s."""
    return _span(positions(records["lead_id"], lead_ids), *_text_ranks(records["fetched_at"]), len(lead_ids))


# What a golden record reads of each of its records, but the fetch time (`fetched_span`, redone
# for every lead: sources fetch every record anew each night) and the nights unlisted (only their
# order within the lead counts: see `golden_update`).
GOLDEN_INPUT = ["record_key", "lead_id", "source", "source_kind", *COMPLETENESS, "uscc_norm", "uscc_valid",
                "email_norm", "email_free", "name_norm", "name_lang", "company_name_alt", "name_core", "name_alt_core",
                "legal_form", "domain", "phone_e164", "phone_type", "country_iso2", "province_norm", "city_norm",
                "industry", "products", "member_level", "is_branch", "seen_tonight", "expired"]


# Every column golden_records reads.
GOLDEN_READS = [*GOLDEN_INPUT, "nights_unlisted", "fetched_at"]


def golden_inputs(records: pd.DataFrame) -> pd.DataFrame:
    """Per record (resolved, with `nights_unlisted` and `expired`): record_key, the hash of what
    its lead's golden record reads of it, its lead and nights unlisted: what `golden_update`
    compares the next night with."""
    return pd.DataFrame({"record_key": records["record_key"].to_numpy(dtype=object),
                         "golden_hash": row_hash(records, GOLDEN_INPUT),
                         "golden_lead": records["lead_id"].to_numpy(dtype=object),
                         "nights_unlisted": records["nights_unlisted"].to_numpy(dtype=np.int64)})


class Columns(Protocol):
    """A table's columns by name: a frame, or a file read a column at a time (run_files.StageColumns)."""

    def __getitem__(self, column: str) -> pd.Series: ...

    def pop(self, column: str) -> pd.Series: ...

    def __len__(self) -> int: ...


def golden_update(records: pd.DataFrame, trust: dict[str, int], base_leads: Columns,
                  base_inputs: pd.DataFrame, now: pd.DataFrame | None = None, *, handed_over: bool = False
                  ) -> tuple[pd.DataFrame, int]:
    """`golden_records(records[~expired])`, recomputed only for the leads whose records changed
    since the base run (`base_leads` its leads, `base_inputs` its `golden_inputs`); the others are
    the base run's rows. A record is unchanged when its hashed inputs are and its nights unlisted
    moved as every unlisted record's do (0 if listed tonight, one more if not): then the order of
    its lead's records, and so the golden record, is the same (`now`: `golden_inputs(records)`,
    if already computed). `base_leads`: a frame, or the base run's leads file read a column at a
    time (run_files.StageColumns: the nightly step never holds it whole). `handed_over`: the
    caller reads `base_leads`, `base_inputs` and `now` no more: each column of `base_leads` goes
    once merged, and the golden inputs (tonight's and the base run's, 1.4M records each) once the
    changed records are known.
    Returns (leads, the IDs of the leads recomputed): every other lead is the base run's row as it
    was, and so are its records' phones, emails and expiry (what publishing derives from them)."""
    now = golden_inputs(records) if now is None else now
    at = positions(now["record_key"], base_inputs["record_key"])
    known = at >= 0
    changed = ~known
    tonight = records["seen_tonight"].astype(bool).to_numpy()
    before = base_inputs["nights_unlisted"].to_numpy(dtype=np.int64)[np.maximum(at, 0)]
    nights = now["nights_unlisted"].to_numpy(dtype=np.int64)
    changed |= now["golden_hash"].to_numpy(dtype=np.uint64) != base_inputs["golden_hash"].to_numpy(
        dtype=np.uint64)[np.maximum(at, 0)]
    changed |= ~tonight & (nights != before + 1)
    gone = np.ones(len(base_inputs), dtype=bool)
    gone[at[known]] = False
    old_lead = base_inputs["golden_lead"].to_numpy(dtype=object)
    dirty = pd.unique(np.concatenate([now["golden_lead"].to_numpy(dtype=object)[changed],
                                      old_lead[np.maximum(at, 0)][changed & known], old_lead[gone]]))
    dirty = pd.Series(dirty, dtype=object)
    del now, base_inputs, old_lead, at, known, changed, gone, tonight, before, nights  # (handed over: they go here)
    listed = ~records["expired"].astype(bool).to_numpy()  # masks, not copies of a million records
    fresh = golden_records(records[listed & records["lead_id"].isin(dirty).to_numpy()], trust)
    rebuilt = fresh["lead_id"].to_numpy(dtype=object)
    leads = _merged(base_leads, dirty, fresh, handed_over)
    leads["first_fetched_at"], leads["last_fetched_at"] = fetched_span(records.loc[listed, ["lead_id", "fetched_at"]],
                                                                       leads["lead_id"])
    return as_text(leads[LEADS]), rebuilt


def _merged(base: Columns, dirty: pd.Series, fresh: pd.DataFrame, handed_over: bool = False) -> pd.DataFrame:
    """The rows of `base` whose lead is not among `dirty` and the `fresh` rows, in lead-ID order
    (a stable sort, kept rows first), built a column at a time, the fresh rows typed as the stored
    ones (text stays Arrow): a million leads selected, joined and sorted whole were three copies
    at the dedupe step's peak on a second night. The stored lead IDs are read once (a file read a
    column at a time reads each column it is asked for). `handed_over`: each column of `base` is
    taken out of it (and freed) once merged. No row kept: the fresh rows as they are."""
    stored_ids = base.pop("lead_id") if handed_over else base["lead_id"]
    keep = np.flatnonzero(~stored_ids.isin(dirty).to_numpy())
    if not len(keep):
        return fresh.sort_values("lead_id", kind="stable", ignore_index=True)
    ids = np.concatenate([column_as_objects(stored_ids).to_numpy(dtype=object)[keep],
                          fresh["lead_id"].to_numpy(dtype=object)])
    rows = np.concatenate([keep, len(stored_ids) + np.arange(len(fresh))])[np.argsort(ids, kind="stable")]
    del ids
    merged = {}
    for column in fresh.columns:
        if column == "lead_id":
            stored = stored_ids
        else:
            stored = base.pop(column) if handed_over else base[column]
        ours = fresh[column]
        if ours.dtype != stored.dtype:
            with contextlib.suppress(TypeError, ValueError):  # (a column of no values at all)
                ours = ours.astype(stored.dtype)
        merged[column] = pd.concat([stored, ours], ignore_index=True).take(rows).reset_index(drop=True)
        del stored, ours
    return pd.DataFrame(merged)


def as_text(leads: pd.DataFrame) -> pd.DataFrame:
    """Text columns (Python strings or none at all) as pandas' Arrow-backed text, as leads.parquet
    is read back: both modes of the dedupe step write one schema, and a million rebuilt-or-kept
    leads stay compact."""
    for column in leads.columns:
        if leads[column].dtype == object and pd.api.types.infer_dtype(leads[column], skipna=True) in ("string",
                                                                                                   "empty"):
            leads[column] = leads[column].astype("str")
    return leads
