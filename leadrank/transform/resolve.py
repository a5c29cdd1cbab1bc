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
from dataclasses import dataclass, field

import pandas as pd

from leadrank.config import ResolutionConfig
from leadrank.contracts import NORMALISED, require
from leadrank.transform.clustering import cluster
from leadrank.transform.matching import Features, candidate_pairs, score_pairs

EVENT_COLUMNS = ["kind", "lead_id", "other_lead_id", "records", "evidence"]


@dataclass
class Resolution:
    records: pd.DataFrame  # every record considered (tonight's and previous), with lead_id
    events: pd.DataFrame  # merges and splits of existing leads
    stats: dict[str, int] = field(default_factory=dict)


def make_lead_id(record_key: str, taken: set[str]) -> str:
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
    taken_ids: set[str] | None = None,
    lead_first_seen: dict[str, str] | None = None,
) -> Resolution:
    """Cluster `tonight` (NORMALISED) with `previous` (NORMALISED plus `lead_id`), assign IDs.

    `taken_ids` are every lead ID the warehouse ever issued (merged ones too), so a new ID never
    reuses one; `lead_first_seen` orders merge survivors (oldest first).
    """
    require(tonight, NORMALISED, "dedupe")
    previous = previous if previous is not None else pd.DataFrame(columns=[*NORMALISED, "lead_id"])
    stale = previous[~previous["record_key"].isin(tonight["record_key"])]
    prior_lead = previous.set_index("record_key")["lead_id"] if len(previous) else pd.Series(dtype=object)
    frame = pd.concat([tonight.assign(_tonight=True), stale.assign(_tonight=False)], ignore_index=True)
    frame["prev_lead_id"] = frame["record_key"].map(prior_lead)
    n = len(frame)
    if n == 0:
        return Resolution(frame.assign(lead_id=None, match_evidence=None), pd.DataFrame(columns=EVENT_COLUMNS))

    features = Features(frame, cfg.shared_key_names)
    left, right = candidate_pairs(features, cfg)
    pairs = score_pairs(features, left, right, cfg)
    labels, evidence = cluster(n, pairs, cfg.match_threshold, frame["record_key"].to_numpy(dtype=object),
                               lambda a, b: score_pairs(features, a, b, cfg))
    frame["_cluster"] = labels
    frame["match_evidence"] = evidence

    ids, events = _assign_ids(frame, set(taken_ids or ()), lead_first_seen or {})
    frame["lead_id"] = frame["_cluster"].map(ids)
    stats = {
        "records": int(frame["_tonight"].sum()),
        "records_total": n,
        "candidate_pairs": int(len(left)),
        "matched_pairs": int((pairs.score >= cfg.match_threshold).sum()),
        "leads": int(frame["lead_id"].nunique()),
        "merges": int((events["kind"] == "merge").sum()) if len(events) else 0,
        "splits": int((events["kind"] == "split").sum()) if len(events) else 0,
    }
    out = frame.drop(columns=["_cluster", "prev_lead_id"]).rename(columns={"_tonight": "seen_tonight"})
    return Resolution(out, events, stats)


def _assign_ids(frame: pd.DataFrame, taken: set[str], first_seen: dict[str, str]) -> tuple[dict[int, str], pd.DataFrame]:
    clusters = frame.groupby("_cluster")
    first_key = clusters["record_key"].min()
    known = frame.dropna(subset=["prev_lead_id"])
    taken |= set(known["prev_lead_id"])
    # How many of each old lead's records went to each cluster.
    counts = known.groupby(["prev_lead_id", "_cluster"]).size().rename("n").reset_index()
    counts["first_key"] = counts["_cluster"].map(first_key)
    counts = counts.sort_values(["prev_lead_id", "n", "first_key"], ascending=[True, False, True])
    home = counts.drop_duplicates("prev_lead_id")  # the cluster each old lead keeps its ID in
    ids: dict[int, str] = {}
    events: list[dict[str, object]] = []
    for cluster_id, group in home.groupby("_cluster"):
        leads = sorted(group["prev_lead_id"], key=lambda lead: (first_seen.get(lead, "9999"), lead))
        survivor = leads[0]
        ids[int(cluster_id)] = survivor
        for absorbed in leads[1:]:
            events.append({"kind": "merge", "lead_id": survivor, "other_lead_id": absorbed,
                           "records": int(group.loc[group["prev_lead_id"] == absorbed, "n"].iloc[0]),
                           "evidence": _cluster_evidence(frame, int(cluster_id))})
    for cluster_id in sorted(set(first_key.index) - set(ids), key=lambda c: first_key[c]):
        ids[int(cluster_id)] = make_lead_id(first_key[cluster_id], taken)
    homes = set(zip(home["prev_lead_id"], home["_cluster"], strict=True))
    for lead, cluster_id, n in zip(counts["prev_lead_id"], counts["_cluster"], counts["n"], strict=True):
        if (lead, cluster_id) not in homes and ids[int(cluster_id)] != lead:
            events.append({"kind": "split", "lead_id": lead, "other_lead_id": ids[int(cluster_id)],
                           "records": int(n), "evidence": "records no longer match the lead"})
    return ids, pd.DataFrame(events, columns=EVENT_COLUMNS)


def _cluster_evidence(frame: pd.DataFrame, cluster_id: int) -> str:
    notes = frame.loc[frame["_cluster"] == cluster_id, "match_evidence"]
    return "; ".join(sorted({n for n in notes if n}))[:500]


def dedupe_frame(records: pd.DataFrame, cfg: ResolutionConfig) -> pd.DataFrame:
    """One-shot deduplication (no warehouse): `records` with `lead_id` and `match_evidence`,
    in the input order."""
    result = resolve(records, cfg)
    tonight = result.records[result.records["seen_tonight"]]
    return tonight.drop(columns=["seen_tonight"]).set_index(records.index)
