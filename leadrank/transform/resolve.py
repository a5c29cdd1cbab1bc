"""Stage 3, dedupe: records → leads whose IDs stay stable from night to night.

Tonight's records are clustered together with the records already linked to leads in the
warehouse (`previous`), so a company seen last month still absorbs tonight's spelling of it.
IDs then follow the records:
  - a cluster whose records all belonged to one lead keeps that lead's ID;
  - a cluster that gathers records of several leads merges them: the oldest lead survives and
    each absorbed ID is recorded (it resolves to the survivor from then on);
  - a lead whose records now fall into several clusters keeps its ID where most of its records
    went; the other clusters are split off under new IDs, recorded as splits;
  - a cluster of only new records gets a new ID derived from its first record key, so the same
    data gives the same IDs even in an empty warehouse.
Re-running on the same data changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from leadrank.config import ResolutionConfig
from leadrank.contracts import EVENT_COLUMNS, NORMALISED, column_as_objects, is_arrow_text, require
from leadrank.key_lookup import large_text, looked_up
from leadrank.memory import release_memory
from leadrank.sorted_sets import distinct
from leadrank.transform import fellegi_sunter
from leadrank.transform.clustering import cluster
from leadrank.transform.incremental import (
    MATCHED_COLUMNS,
    State,
    component_names,
    plan,
    state_of,
    words_of,
)
from leadrank.transform.matching import (
    Features,
    Pairs,
    candidate_pairs,
    score_pairs,
    text_as_objects,
)

# The columns resolution reads; the others are passed through (`leadrank dedupe` passes none).
RESOLUTION_READS = ["record_key", *MATCHED_COLUMNS]


@dataclass
class Resolution:
    records: pd.DataFrame  # every record considered (tonight's and previous), with lead_id
    events: pd.DataFrame  # merges and splits of existing leads
    stats: dict[str, object] = field(default_factory=dict)
    model: fellegi_sunter.Model | None = None  # the learned weights used (None: hand-set)
    state: State | None = None  # what the next night reuses (None with learned weights)


@dataclass
class LeadHistory:
    """What resolution asks of the leads ever issued: which of some IDs were issued (merged and
    expired ones too, so a new lead never reuses an ID) and when leads were first seen (a merge
    keeps the oldest). Asked only about the IDs a night mints and the leads it merges: the
    warehouse's million IDs and timestamps read whole into Python were ~0.35 GB through the
    dedupe step (`pipeline.resolve_step` looks them up in the warehouse)."""

    issued: Callable[[list[str]], set[str]]
    first_seen: Callable[[list[str]], dict[str, str]]

    @classmethod
    def of(cls, taken: set[str] | None = None, first_seen: dict[str, str] | None = None) -> LeadHistory:
        """A history held in memory."""
        taken, first_seen = taken or set(), first_seen or {}
        return cls(lambda ids: taken.intersection(ids), lambda ids: {i: first_seen[i] for i in ids if i in first_seen})


class _Taken:
    """The lead IDs a resolution may not mint: the population's own (`population`, hashed once
    as an index: a Python set of a million IDs took ~1.4 s to build, and another ~0.3 s to hash
    again for each lookup of many), the ones it mints (held) and the ones the history issued
    (looked up)."""

    def __init__(self, history: LeadHistory, population: pd.Series | None = None):
        self.history = history
        ids = population.dropna().to_numpy(dtype=object) if population is not None else np.empty(0, dtype=object)
        self.population = pd.Index(pd.unique(ids), dtype=object)
        self.held: set[str] = set()

    def add(self, lead_id: str) -> None:
        self.held.add(lead_id)

    def update(self, ids: Iterable[str]) -> None:
        self.held.update(ids)

    def __contains__(self, lead_id: str) -> bool:
        return lead_id in self.held or lead_id in self.population or bool(self.history.issued([lead_id]))

    def among(self, ids: np.ndarray) -> np.ndarray:
        """Which of `ids` are taken (one lookup for all of them)."""
        values = pd.Series(ids, dtype=object)
        held = values.isin(self.held).to_numpy() | (self.population.get_indexer(values) >= 0)
        issued = self.history.issued(values[~held].tolist()) if (~held).any() else set()
        self.held.update(issued)  # (not asked about again)
        return held | values.isin(issued).to_numpy()


def make_lead_id(record_key: str, taken: set[str] | _Taken) -> str:
    """A new lead's ID from its founding record key; salted only if that ID was ever used."""
    salt = 0
    while True:
        digest = hashlib.sha1(f"{record_key}:{salt}".encode() if salt else record_key.encode()).hexdigest()
        lead_id = "L" + digest[:12].upper()
        if lead_id not in taken:
            taken.add(lead_id)
            return lead_id
        salt += 1


def resolve(
    tonight: pd.DataFrame,
    cfg: ResolutionConfig,
    *,
    previous: pd.DataFrame | None = None,
    prior_leads: pd.DataFrame | None = None,
    taken_ids: set[str] | None = None,
    lead_first_seen: dict[str, str] | None = None,
    history: LeadHistory | None = None,
    base: State | None = None,
    base_handed_over: bool = False,
    with_state: bool = True,
) -> Resolution:
    """Cluster `tonight` (NORMALISED) with `previous` (NORMALISED plus `lead_id`), assign IDs.

    `prior_leads` (record_key, lead_id) gives the earlier lead of records tonight brings again
    when `previous` holds only the records tonight did not bring (default: taken from `previous`).
    `taken_ids` are every lead ID the warehouse ever issued (merged ones too), so a new ID never
    reuses one; `lead_first_seen` orders merge survivors (oldest first); `history` looks both up
    instead (the warehouse's: a night holds neither whole). With `base`, the state
    the run that resolved `previous` left, only the neighbourhood of what changed since is
    resolved again (leadrank.transform.incremental), with the same result; `base_handed_over`:
    the caller reads `base` no more, and its rows are emptied once resolution has read them (the
    nightly step: ~1 GB at 1.4M records).
    """
    require(tonight, RESOLUTION_READS, "dedupe")
    previous = previous if previous is not None else pd.DataFrame(columns=[*NORMALISED, "lead_id"])
    stale = previous[~previous["record_key"].isin(tonight["record_key"])]
    prior = prior_leads if prior_leads is not None else previous[["record_key", "lead_id"]]
    if len(stale):
        frame = stacked(tonight.assign(_tonight=True), stale.assign(_tonight=False))
    else:  # a first night, or `leadrank dedupe`: no second copy of a million rows
        frame = tonight.reset_index(drop=True)
        frame["_tonight"] = True
    del tonight  # (a caller that hands its frame over, keeping no reference, lets its columns go below)
    frame["prev_lead_id"] = looked_up(frame["record_key"], prior["record_key"], prior["lead_id"].to_numpy(dtype=object))
    n = len(frame)
    if n == 0:  # the same columns as below (golden records and `leadrank dedupe` read seen_tonight)
        empty = frame.drop(columns=["prev_lead_id"]).rename(columns={"_tonight": "seen_tonight"})
        return Resolution(empty.assign(match_evidence=None, lead_id=None), pd.DataFrame(columns=EVENT_COLUMNS),
                          {"mode": "full", "reason": "no records", "records": 0, "records_total": 0, "leads": 0,
                           "merges": 0, "splits": 0})
    # Record-key order: every tie below is broken by it, so that any part of the population is
    # resolved as it is within the whole (the incremental mode relies on that). Only the columns
    # matching reads are put in that order; the results are put back in the frame's.
    # (Arrow's stable sort of the keys' UTF-8 bytes: their code point order, as Python compares
    # them; the bench's 1.4M keys 1.2 -> 0.1 s against argsort of pandas' sorted factorisation.)
    order = pc.sort_indices(large_text(frame["record_key"])).to_numpy().astype(np.int64)
    ordered = frame[[*dict.fromkeys(["record_key", "prev_lead_id", "_tonight", *MATCHED_COLUMNS])]]
    put_back: dict[str, int] = {}
    if not np.array_equal(order, np.arange(n)):  # rows already in that order (`leadrank dedupe`) are not copied
        ordered = ordered.take(order)
        # The frame's own matched columns are let go through resolution and put back from the
        # ordered copy afterwards: one copy of them, not two, while the features are alive (at a
        # million records ~150 MB; freed only where no one else holds the frame: the nightly step
        # hands its records over).
        put_back = {c: frame.columns.get_loc(c) for c in dict.fromkeys(MATCHED_COLUMNS)}
        dtypes = frame.dtypes
        frame = frame.drop(columns=list(put_back))
    ordered = ordered.reset_index(drop=True)
    reason = _why_full(ordered, cfg, base)
    history = history or LeadHistory.of(taken_ids, lead_first_seen)
    if reason:
        ordered = text_as_objects(ordered)  # every record is compared (the Arrow text let go)
        ordered, events, stats, model, state = _resolve_full(ordered, cfg, history, with_state)
        stats = {"mode": "full", "reason": reason, **stats}
    else:
        assert base is not None
        ordered, events, stats, state = _resolve_incremental(ordered, cfg, base, history, base_handed_over)
        model = None
        stats = {"mode": "incremental", "reason": "", **stats}
    # Back in the frame's order as they are (Arrow text stays Arrow): taking them out as objects
    # made a Python string per row, a million of them at the step's peak.
    back = np.empty(n, dtype=np.int64)
    back[order] = np.arange(n)
    for column in ("match_evidence", "lead_id"):
        frame[column] = ordered[column].array.take(back)
    for column, at in sorted(put_back.items(), key=lambda item: item[1]):
        # Taken out of the ordered copy as it is put back: an Arrow take copies the text, and the
        # two copies of every matched column were the second night's peak at 1.4M records.
        values = ordered.pop(column)  # its dtype kept (object text is not inferred as Arrow text)
        taken = pd.Series(values.array.take(back), index=frame.index, dtype=values.dtype)
        del values
        # Arrow text a full resolution compared as Python strings goes back to Arrow text.
        frame.insert(at, column, taken if taken.dtype == dtypes[column] else taken.astype(dtypes[column]))
    stats = {**stats, "records": int(frame["_tonight"].sum()), "records_total": n,
             "leads": int(frame["lead_id"].nunique()),
             "merges": int((events["kind"] == "merge").sum()) if len(events) else 0,
             "splits": int((events["kind"] == "split").sum()) if len(events) else 0}
    out = frame.drop(columns=["prev_lead_id"]).rename(columns={"_tonight": "seen_tonight"})
    return Resolution(out, events, stats, model, state)


def stacked(tonight: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """`tonight`'s records, then the `stored` ones, in one frame. Tonight's Arrow-backed text
    stays Arrow: the stored records' text (Python objects) is made Arrow text too, or the
    concatenation would make every row's a Python object."""
    arrow = {c: tonight[c].dtype for c in stored.columns if c in tonight.columns and is_arrow_text(tonight[c])
             and not is_arrow_text(stored[c])}
    if arrow and len(stored):
        stored = stored.astype(arrow)
    return pd.concat([tonight, stored], ignore_index=True)


def _why_full(frame: pd.DataFrame, cfg: ResolutionConfig, base: State | None) -> str:
    """Why the population is resolved whole ('' when the incremental mode can be used)."""
    if base is None:
        return "no state of a base run"
    if cfg.learned:
        return "learned weights are estimated from the whole population"
    if frame["record_key"].duplicated().any():
        return "record keys repeat"
    return ""


def _resolve_full(frame: pd.DataFrame, cfg: ResolutionConfig, history: LeadHistory, with_state: bool = True
                  ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, object], fellegi_sunter.Model | None, State | None]:
    n = len(frame)
    keep_state = with_state and not cfg.learned
    keys = frame["record_key"].to_numpy(dtype=object)
    matched = _match(frame, cfg, keys, keep_state)
    frame["_cluster"] = matched.labels
    frame["match_evidence"] = matched.evidence
    frame["lead_id"], events = _assign_ids(frame, _Taken(history, frame["prev_lead_id"]), history)
    left, right, match = matched.left, matched.right, matched.match
    stats = {"candidate_pairs": int(len(left)), "matched_pairs": int(match.sum()), "re_resolved": n}
    state = None
    if keep_state:
        component = component_names(n, left[match], right[match], keys)
        state = state_of(frame, matched.keys, matched.stats, words_of(matched.cores), component, matched.order)
    return frame, events, stats, matched.model, state


@dataclass
class _Matched:
    """What a full resolution keeps of matching: the clusters, the candidate pairs and which
    matched, and the features' parts the state reads (key strings, statistics, names, order)."""
    labels: np.ndarray
    evidence: list[str]
    left: np.ndarray
    right: np.ndarray
    match: np.ndarray
    model: fellegi_sunter.Model | None
    keys: pd.DataFrame | None
    stats: pd.DataFrame
    cores: np.ndarray
    order: np.ndarray


def _match(frame: pd.DataFrame, cfg: ResolutionConfig, keys: np.ndarray, keep_state: bool) -> _Matched:
    """Features, candidate pairs, scores and clusters. Its own function so that the features'
    codes and texts and the scored pairs are freed on return, before the lead IDs and the state
    are built (where a million-record night peaked with them alive)."""
    features = Features(frame, cfg.shared_key_names)
    if not keep_state:  # past the statistics and the sort order only the state reads the key strings
        features.keys = None
    release_memory(len(frame))  # what building the features freed (their threads' arenas): ~0.4 GB at 1.4M records
    left, right = candidate_pairs(features, cfg)
    release_memory(len(frame))
    pairs = score_pairs(features, left, right, cfg)
    # `pairs` holds the candidates; clustering appends to its arrays (new, longer ones): a second
    # reference here would keep the old ones alive beside them (~0.25 GB at 1.4M records).
    candidates = len(left)
    del left, right
    release_memory(len(frame))
    model = None

    def score_more(a: np.ndarray, b: np.ndarray) -> Pairs:
        return score_pairs(features, a, b, cfg)

    if cfg.learned:
        model, rescore = fellegi_sunter.learn(features, pairs, cfg, score_more)
        pairs = rescore(pairs)

        def score_more(a: np.ndarray, b: np.ndarray) -> Pairs:  # noqa: F811 - the learned scale from here on
            return rescore(score_pairs(features, a, b, cfg))

    match = pairs.score >= cfg.match_threshold  # of the candidate pairs (clustering appends more)
    labels, evidence = cluster(len(frame), pairs, cfg.match_threshold, keys, score_more, cfg.bridge_margin)
    left, right = pairs.left[:candidates], pairs.right[:candidates]
    return _Matched(labels, evidence, left, right, match, model,
                    features.keys, features.stats, features.core, features.order)


def _resolve_incremental(frame: pd.DataFrame, cfg: ResolutionConfig, base: State, history: LeadHistory,
                         handed_over: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, object], State]:
    """Re-resolve the neighbourhood of what changed since `base` (incremental.plan); every other
    record keeps its lead and evidence. `handed_over`: `base`'s rows are emptied once read."""
    work = plan(frame, base, cfg, handed_over)
    rows = work.rows
    part = frame.iloc[rows].reset_index(drop=True)  # (the features make Python strings of its text)
    keys = part["record_key"].to_numpy(dtype=object)
    left, right = np.searchsorted(rows, work.pairs[0]), np.searchsorted(rows, work.pairs[1])
    if len(part):
        features = Features(part, cfg.shared_key_names, stats=work.stats.iloc[rows])
        pairs = score_pairs(features, left, right, cfg)

        def score_more(a: np.ndarray, b: np.ndarray) -> Pairs:
            return score_pairs(features, a, b, cfg)

        score = pairs.score  # of the candidate pairs (clustering appends more)
        labels, evidence = cluster(len(part), pairs, cfg.match_threshold, keys, score_more, cfg.bridge_margin)
    else:  # nothing changed
        labels, evidence, score = np.empty(0, np.int64), [], np.empty(0, np.float32)
    part["_cluster"] = labels  # its first record's row in `part`: ordered as a full run's labels
    part["match_evidence"] = evidence
    # Every lead ID the population holds is taken, as in a full run.
    ids, events = _assign_ids(part, _Taken(history, frame["prev_lead_id"]), history)
    match = score >= cfg.match_threshold
    known, at = work.base >= 0, np.maximum(work.base, 0)

    def kept(column: str) -> np.ndarray:
        """The base run's `column` where a record is kept (None elsewhere), read as stored
        (Arrow text): one Python string per distinct value (the evidence repeats)."""
        return np.where(known, column_as_objects(base.records[column]).to_numpy(dtype=object)[at], None)

    lead_id = frame["prev_lead_id"].to_numpy(dtype=object).copy()
    lead_id[rows] = ids
    match_evidence = kept("match_evidence")
    match_evidence[rows] = np.asarray(evidence, dtype=object)
    component = kept("component")
    component[rows] = component_names(len(part), left[match], right[match], keys)
    if handed_over:  # the base run's state is read no more: it goes before tonight's is built
        base.records, base.words = pd.DataFrame(), pd.DataFrame()
        release_memory(len(frame))  # (Arrow text: Arrow's pool keeps what it frees)
    frame["lead_id"] = lead_id
    frame["match_evidence"] = match_evidence
    stats = {"candidate_pairs": work.scored, "matched_pairs": int(match.sum()), "re_resolved": len(rows),
             "dirty": work.dirty, "touched": work.touched}
    state = state_of(frame, work.keys, work.stats, work.words, component, work.order, work.match_hash)
    return frame, events, stats, state


def _assign_ids(frame: pd.DataFrame, taken: _Taken, history: LeadHistory) -> tuple[np.ndarray, pd.DataFrame]:
    """Lead ID of every record (via its cluster) and the merge and split events; `taken` holds
    every lead ID of the population (the frame's among them). Array work throughout: a first
    night of a million records mints a million IDs."""
    cluster = frame["_cluster"].to_numpy(dtype=np.int64)
    keys = frame["record_key"].to_numpy(dtype=object)
    rank = pd.factorize(frame["record_key"], sort=True)[0]
    n = len(frame)
    first_rank = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_rank, cluster, rank)
    first_row = np.empty(n, dtype=np.int64)
    first_row[rank] = np.arange(n)
    known = frame["prev_lead_id"].notna().to_numpy()
    # How many of each old lead's records went to each cluster.
    counts = (pd.DataFrame({"lead": frame.loc[known, "prev_lead_id"].to_numpy(dtype=object), "cluster": cluster[known]})
              .groupby(["lead", "cluster"]).size().rename("n").reset_index())
    counts["first"] = first_rank[counts["cluster"].to_numpy()]
    counts = counts.sort_values(["lead", "n", "first"], ascending=[True, False, True], kind="stable")
    home = counts.drop_duplicates("lead")  # the cluster each old lead keeps its ID in
    ids = np.full(n, None, dtype=object)
    events: list[dict[str, object]] = []
    shared = home[home.duplicated("cluster", keep=False)]
    single = home[~home["cluster"].isin(shared["cluster"])]
    ids[single["cluster"].to_numpy()] = single["lead"].to_numpy(dtype=object)
    if len(shared):
        evidence = _cluster_evidence(frame, set(shared["cluster"]))
        first_seen = history.first_seen(shared["lead"].tolist())
        for cluster_id, group in shared.groupby("cluster"):
            leads = sorted(group["lead"], key=lambda lead: (first_seen.get(lead, "9999"), lead))
            survivor = leads[0]
            ids[cluster_id] = survivor
            records = dict(zip(group["lead"], group["n"], strict=True))
            for absorbed in leads[1:]:
                events.append({"kind": "merge", "lead_id": survivor, "other_lead_id": absorbed,
                               "records": int(records[absorbed]), "evidence": evidence.get(cluster_id, "")})
    clusters = distinct(cluster)
    new = clusters[pd.isna(ids[clusters])]
    new = new[np.argsort(first_rank[new], kind="stable")]
    founders = keys[first_row[first_rank[new]]]
    # The unsalted ID of every new cluster at once; only clashes with IDs ever issued (or with
    # each other) take make_lead_id's salted path, in founding-key order as before.
    plain = np.asarray(["L" + hashlib.sha1(k.encode()).hexdigest()[:12].upper() for k in founders], dtype=object)
    plain_ids = pd.Series(plain, dtype=object)  # hashed lookups: np.isin sorts a million strings
    clash = plain_ids.duplicated(keep="first").to_numpy() | taken.among(plain)
    ids[new[~clash]] = plain[~clash]
    taken.update(plain[~clash])
    for cluster_id, founder in zip(new[clash], founders[clash], strict=True):
        ids[cluster_id] = make_lead_id(founder, taken)
    moved = counts.merge(home[["lead", "cluster"]], on=["lead", "cluster"], how="left", indicator=True)
    moved = moved[moved["_merge"] == "left_only"]
    moved = moved[ids[moved["cluster"].to_numpy()] != moved["lead"].to_numpy(dtype=object)]
    for lead, cluster_id, count in zip(moved["lead"], moved["cluster"], moved["n"], strict=True):
        events.append({"kind": "split", "lead_id": lead, "other_lead_id": ids[cluster_id],
                       "records": int(count), "evidence": "records no longer match the lead"})
    return ids[cluster], pd.DataFrame(events, columns=EVENT_COLUMNS)


def _cluster_evidence(frame: pd.DataFrame, clusters: set[int]) -> dict[int, str]:
    part = frame[frame["_cluster"].isin(clusters)]
    return {int(c): "; ".join(sorted({n for n in notes if n}))[:500]
            for c, notes in part.groupby("_cluster")["match_evidence"]}


def dedupe_frame(records: pd.DataFrame, cfg: ResolutionConfig) -> pd.DataFrame:
    """One-shot deduplication (no warehouse): `records` with `lead_id` and `match_evidence`,
    in the input order."""
    return dedupe_result(records, cfg)[0]


def dedupe_result(records: pd.DataFrame, cfg: ResolutionConfig) -> tuple[pd.DataFrame, fellegi_sunter.Model | None]:
    """`dedupe_frame` and the learned model it used (None with hand-set weights)."""
    result = resolve(records, cfg, with_state=False)
    # Without a warehouse every record is tonight's, in input order: no filtering copy needed.
    return result.records.drop(columns=["seen_tonight"]).set_index(records.index), result.model
