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

from leadrank.contracts import LEADS, column_as_objects
from leadrank.fingerprints import row_hash
from leadrank.key_lookup import large_text, positions
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


def _joined(frame: pd.DataFrame, column: str) -> pd.Series:
    """Per lead (the index, in order of first appearance), the distinct values of `column`,
    sorted and ';'-joined. On integer codes: dropping duplicates and sorting a million records'
    lead IDs and values as strings took ~2.5 s per column; the few distinct values are ordered
    by their text once and joined position by position over the leads that have that many."""
    leads, lead_ids = pd.factorize(frame["lead_id"])
    ranks, ordered = _text_ranks(frame[column])
    known = (leads >= 0) & (ranks >= 0)
    width = max(len(ordered), 1)
    pairs = np.sort(leads[known].astype(np.int64) * width + ranks[known])  # by lead, then by text
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]] if len(pairs) else pairs
    lead, value = np.divmod(pairs, width)
    starts = np.flatnonzero(np.r_[True, lead[1:] != lead[:-1]]) if len(lead) else np.empty(0, dtype=np.int64)
    count = np.diff(np.r_[starts, len(lead)])
    out = ordered[value[starts]]
    for k in range(1, int(count.max(initial=1))):  # the k-th value of the leads that have one more
        more = np.flatnonzero(count > k)
        out[more] = out[more] + ";" + ordered[value[starts[more] + k]]
    return pd.Series(out, index=pd.Index(np.asarray(lead_ids, dtype=object)[lead[starts]], name="lead_id"),
                     name=column, dtype=object)


def survivorship_order(records: pd.DataFrame, trust: dict[str, int]) -> pd.DataFrame:
    """`records` sorted by lead, then best first by the rules of the module docstring.
    `nights_unlisted` defaults to 0 for records seen tonight and 1 for the others."""
    frame = records.copy(deep=False)  # new columns only: the sort below copies the rows once (a million records)
    frame["_trust"] = frame["source"].map(trust).fillna(frame["source_kind"].map(DEFAULT_TRUST)).fillna(0)
    frame["_filled"] = frame[COMPLETENESS].notna().sum(axis=1)
    if "nights_unlisted" in frame.columns:
        frame["_recency"] = frame["nights_unlisted"].astype(int)
    else:
        frame["_recency"] = (~frame["seen_tonight"]).astype(int)
    # Record keys are unique (a source's repeated row gets a #n suffix): the order is total.
    return frame.sort_values(["lead_id", "_trust", "_filled", "_recency", "source", "record_key"],
                             ascending=[True, False, False, True, True, True])


# Records whose golden records are made at a time, in parts of whole leads: the survivorship
# sort, the picks and the groupings of 1.4M records at once were night 1's dedupe peak (1.1 GB
# over the records, bench/README.md "eighth round").
GOLDEN_PART_ROWS = 250_000


def golden_records(records: pd.DataFrame, trust: dict[str, int] | None = None) -> pd.DataFrame:
    """Leads (LEADS: LEAD_COLUMNS plus `name_core_zh`, the core of the Chinese name, which scoring
    matches statements and outcomes on) from resolved records (NORMALISED plus lead_id, their
    bool columns bool: as the RESOLVED contract hands them on, leadrank.contracts), in lead-ID
    order, text as Arrow-backed text (`as_text`): `golden_parts` one below the other."""
    parts = list(golden_parts(records, trust))
    return parts[0] if len(parts) == 1 else stacked_parts(parts)


def golden_parts(records: pd.DataFrame, trust: dict[str, int] | None = None) -> Iterator[pd.DataFrame]:
    """`golden_records` GOLDEN_PART_ROWS records at a time, each part a range of lead IDs in
    lead-ID order, as it is made: the dedupe step writes each to leads.parquet as it comes, so a
    million golden records are never held at once (holding them was the step's peak at 1.4M
    records: +640 MB over the parts). Every field is per lead but whether a lead's 统一社会信用代码
    is valid, which any record's valid one says (so the valid ones are collected over all records first)."""
    # As Arrow text, looked up by Arrow in each part: `isin` of a Python set of a million codes
    # made an array of it again for every part (11 of night 1's 75 s dedupe step at 1.4M records).
    valid = large_text(pd.unique(records["uscc_norm"].where(records["uscc_valid"].astype(bool)).dropna()))
    if len(records) <= GOLDEN_PART_ROWS:
        yield as_text(_golden_part(records, trust or {}, valid))
        return
    leads, _ = pd.factorize(records["lead_id"], sort=True)  # (a record without a lead makes none, as groupby)
    parts = -(-len(records) // GOLDEN_PART_ROWS)
    bounds = np.linspace(0, leads.max(initial=-1) + 1, parts + 1).astype(np.int64)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        yield as_text(_golden_part(records.iloc[np.flatnonzero((leads >= lo) & (leads < hi))], trust or {}, valid))
        release_memory(len(records))  # what the part's sorts and groups freed (malloc keeps it otherwise)


def _golden_part(records: pd.DataFrame, trust: dict[str, int], valid: pa.Array) -> pd.DataFrame:
    # The sort copies every column it is given: only those read here (not the raw payloads, URLs,
    # normalised addresses and match evidence of a million records: ~0.5 GB at the nightly step's peak).
    frame = survivorship_order(records[[c for c in records.columns if c in GOLDEN_READS]], trust)
    valid_uscc = frame["uscc_norm"].where(frame["uscc_valid"])
    company_email = frame["email_norm"].where(~frame["email_free"])
    zh_name = frame["name_norm"].where(frame["name_lang"] == "zh").fillna(
        frame["company_name_alt"].where(frame["company_name_alt"].fillna("").str.contains(r"[\u4e00-\u9fff]"))
    )
    en_name = frame["name_norm"].where(frame["name_lang"] == "en").fillna(
        frame["company_name_alt"].where(frame["company_name_alt"].fillna("").str.fullmatch(r"[\x00-\x7f]+"))
    )
    zh_core = frame["name_core"].where(frame["name_lang"] == "zh").fillna(
        frame["name_alt_core"].where(frame["company_name_alt"].fillna("").str.contains(r"[\u4e00-\u9fff]"))
    )
    picks = pd.DataFrame(
        {
            "lead_id": frame["lead_id"],
            "company_name": frame["name_norm"],
            "company_name_zh": zh_name,
            "name_core_zh": zh_core,
            "company_name_en": en_name,
            "name_core": frame["name_core"],
            "legal_form": frame["legal_form"],
            "uscc": valid_uscc.fillna(frame["uscc_norm"]),
            "domain": frame["domain"],
            "website": frame["website"].where(frame["domain"].notna()),
            "phone": frame["phone_e164"],
            "phone_type": frame["phone_type"].where(frame["phone_e164"].notna()),
            "email": company_email.fillna(frame["email_norm"]),
            "address": frame["address"],
            "country": frame["country_iso2"],
            "province": frame["province_norm"],
            "city": frame["city_norm"],
            "industry": frame["industry"],
            "products": frame["products"],
            "member_level": frame["member_level"],
        }
    )
    leads = picks.groupby("lead_id", sort=True).first()
    grouped = frame.groupby("lead_id", sort=True)
    # Chinese key-account teams read Chinese names first; fall back to whatever name exists.
    leads["company_name"] = leads["company_name_zh"].fillna(leads["company_name"])
    leads["is_branch"] = frame["is_branch"].groupby(frame["lead_id"], sort=True).all()
    leads["uscc_valid"] = positions(leads["uscc"], valid) >= 0
    leads["sources"] = _joined(frame, "source")
    leads["source_kinds"] = _joined(frame, "source_kind")
    leads["n_sources"] = grouped["source"].nunique()
    leads["n_records"] = grouped.size()
    exhibition = (frame["source_kind"] == "exhibition").to_numpy()  # the two columns filtered, not every record's
    leads["exhibitions"] = frame.loc[exhibition, ["lead_id", "source"]].groupby("lead_id")["source"].nunique()
    leads["exhibitions"] = leads["exhibitions"].fillna(0).astype(int)
    leads["first_fetched_at"], leads["last_fetched_at"] = fetched_span(frame, leads.index)
    return leads.reset_index()[LEADS]


def fetched_span(records: pd.DataFrame, lead_ids: pd.Index | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """For each of `lead_ids`, the first and the last time one of `records` (lead_id, fetched_at)
    was fetched, as text (None when none was). Fetch times repeat (a few per source and night),
    so only their distinct values are compared as text and each record carries the rank of its
    own; each record finds its lead among `lead_ids` by Arrow's lookup. Sorting 1.4M records'
    leads and times as Python strings took ~2.4 s and made the golden records' peak on a second
    night; a Series per lead under an index of new strings, looked up again in the leads, ~1.6 s."""
    rows = positions(records["lead_id"], lead_ids)
    times, ordered = _text_ranks(records["fetched_at"])
    known = (rows >= 0) & (times >= 0)
    first = np.full(len(lead_ids), len(ordered), dtype=np.int64)
    last = np.full(len(lead_ids), -1, dtype=np.int64)
    np.minimum.at(first, rows[known], times[known])
    np.maximum.at(last, rows[known], times[known])
    text = np.append(ordered, None)  # a lead without a fetch time is left at len(ordered) or -1: None
    return text[first], text[last]


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
