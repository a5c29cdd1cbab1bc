"""Clusters of records from scored pairs, without chaining distinct companies together.

Records join when a pair scores at least the threshold. Plain connected components would chain:
A–X and X–B both match while A and B clearly differ (a record without a city between the same
brand in two cities). So every pair that says "two companies" (two different valid
统一社会信用代码, a branch and its head office, different industries, different cities with no
shared identifier, or a score at or below `cannot_link`) is a constraint; small components
have all their pairs scored, blocked or not, so such pairs are seen; and a component holding
one is rebuilt strongest edge first (Kruskal-style), refusing any union that would put a
constrained pair in one cluster. Components without constraints — nearly all — are taken as
scipy finds them. Each record keeps the evidence of its strongest edge, naming the
record it matched, so every merge is explainable.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from leadrank.sorted_sets import distinct
from leadrank.transform.matching import Pairs

MAX_COMPLETED = 60  # components up to this size have every pair inside them scored


def _components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def _constrained(members: np.ndarray, edges: np.ndarray, pairs: Pairs, forbidden: list[tuple[int, int]]) -> dict[int, int]:
    """Union-find over one conflicted component, strongest edge first, honouring cannot-links.
    Python ints throughout: a numpy scalar per lookup cost about a third of its time."""
    parent = {m: m for m in members.tolist()}
    blocked: dict[int, set[int]] = {m: set() for m in parent}
    for a, b in forbidden:
        blocked[a].add(b)
        blocked[b].add(a)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    strongest = edges[np.argsort(-pairs.score[edges], kind="stable")]
    for a, b in zip(pairs.left[strongest].tolist(), pairs.right[strongest].tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra == rb or rb in blocked[ra]:
            continue
        if len(blocked[ra]) < len(blocked[rb]):
            ra, rb = rb, ra
        parent[rb] = ra
        for other in blocked.pop(rb):  # the union inherits rb's constraints, re-pointed at ra
            blocked[other].discard(rb)
            blocked[other].add(ra)
            blocked[ra].add(other)
    return {m: find(m) for m in parent}


def _without_weak_bridges(n: int, pairs: Pairs, match: np.ndarray, strong: float) -> tuple[np.ndarray, np.ndarray]:
    """(the matching edges minus weak bridges, the components they make). Dense groups are the
    components of the strong edges (score ≥ `strong`); two groups of two or more records that
    only one weak edge joins are two companies chained by one shared attribute (a switchboard,
    a generic name), not one: that edge is cut. Groups that one company's records join, blocked
    together, are joined by several edges and stay whole. The components are the groups joined
    by the weak edges kept: the graph of all 12M matching edges at 1.4M records was not built
    a second time (~0.3 GB of scipy's copies)."""
    weak = match[pairs.score[match] < strong]
    if not len(weak):
        return match, _components(n, pairs.left[match], pairs.right[match])
    solid = match[pairs.score[match] >= strong]
    group = _components(n, pairs.left[solid], pairs.right[solid])
    del solid
    size = np.bincount(group, minlength=n)
    a, b = group[pairs.left[weak]], group[pairs.right[weak]]
    apart = np.flatnonzero(a != b)  # weak edges joining two groups (most lie inside one)
    weak, a, b = weak[apart], a[apart], b[apart]
    del apart
    # A bridge: the only weak edge between its two groups, both of two records or more.
    both = np.flatnonzero((size[a] >= 2) & (size[b] >= 2))
    link = np.minimum(a[both], b[both]) * n + np.maximum(a[both], b[both])
    order = np.argsort(link, kind="stable")
    link = link[order]
    alone = np.ones(len(link), dtype=bool)
    repeat = link[1:] == link[:-1]
    alone[1:] &= ~repeat
    alone[:-1] &= ~repeat
    kept = np.ones(len(weak), dtype=bool)
    kept[both[order[alone]]] = False
    del both, link, order, alone, repeat
    labels = _components(n, a[kept], b[kept])[group]  # numbered by their first row, as scipy numbers them
    cut = np.zeros(len(pairs.score), dtype=bool)
    cut[weak[~kept]] = True
    return match[~cut[match]], labels


def _unscored_pairs(labels: np.ndarray, pairs: Pairs, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs inside components of 3..MAX_COMPLETED records that blocking never compared."""
    sizes = np.bincount(labels, minlength=n)
    rows = np.flatnonzero((sizes[labels] >= 3) & (sizes[labels] <= MAX_COMPLETED))
    if not len(rows):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = rows[np.argsort(labels[rows], kind="stable")]
    comp = labels[order]
    ends = np.r_[np.flatnonzero(comp[1:] != comp[:-1]) + 1, len(order)]
    end = np.repeat(ends, np.diff(np.r_[0, ends]))
    # Every pair of rows inside each component, as codes (i·n + j): rows ascend within a
    # component, so i < j.
    wanted = []
    idx = np.arange(len(order))
    d = 1
    while len(idx):
        idx = idx[idx + d < end[idx]]
        wanted.append(order[idx] * n + order[idx + d])
        d += 1
    codes = np.concatenate(wanted)
    del wanted, idx, end
    inside = np.zeros(n, dtype=bool)
    inside[rows] = True
    known = np.flatnonzero(inside[pairs.left] & inside[pairs.right])  # only pairs within these components can repeat
    a, b = pairs.left[known], pairs.right[known]
    seen = np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b)
    del known, a, b
    if len(seen) > 1 and (seen[1:] < seen[:-1]).any():  # blocking gives them sorted already
        seen = np.sort(seen)
    # Looked up in code order, each pair a binary search that starts where the last one ended:
    # np.isin sorted both sides again (7.5 s of clustering's 21 s at 1.4M records).
    order = np.argsort(codes)
    hit = np.zeros(len(codes), dtype=bool)
    if len(seen):
        ordered = codes[order]
        hit[order] = seen[np.minimum(np.searchsorted(seen, ordered), len(seen) - 1)] == ordered
        del ordered
    codes = codes[~hit]
    return codes // n, codes % n


def cluster(n: int, pairs: Pairs, threshold: float, keys: np.ndarray,
            score_more: Callable[[np.ndarray, np.ndarray], Pairs] | None = None,
            bridge_margin: float | None = None) -> tuple[np.ndarray, list[str]]:
    """(label per record, evidence per record). `keys` names each record in the evidence;
    `score_more` scores pairs that blocking did not produce, so that small components can be
    checked pair by pair for records that must stay apart (they are appended to `pairs`, in
    place); with `bridge_margin`, weak bridges between dense groups are cut first
    (`_without_weak_bridges`)."""
    match = np.flatnonzero(pairs.score >= threshold)
    if bridge_margin is not None:
        match, labels = _without_weak_bridges(n, pairs, match, threshold + bridge_margin)
    else:
        labels = _components(n, pairs.left[match], pairs.right[match])
    if score_more is not None:
        left, right = _unscored_pairs(labels, pairs, n)
        if len(left):
            pairs.extend(score_more(left, right))
    bad = np.flatnonzero(pairs.conflict)
    bad = bad[labels[pairs.left[bad]] == labels[pairs.right[bad]]]
    if len(bad):
        conflicted = distinct(labels[pairs.left[bad]])
        # Members, edges and constraints of each conflicted component, grouped once (sorted),
        # not searched for per component: thousands of components over a million records.
        members_of = _grouped(labels, np.arange(n), conflicted)
        edges_of = _grouped(labels[pairs.left[match]], match, conflicted)
        bad_of = _grouped(labels[pairs.left[bad]], bad, conflicted)
        for comp in conflicted:
            members = members_of[comp]
            edges = edges_of.get(comp, np.empty(0, np.int64))
            forbidden = list(zip(pairs.left[bad_of[comp]].tolist(), pairs.right[bad_of[comp]].tolist(), strict=True))
            roots = _constrained(members, edges, pairs, forbidden)
            labels[list(roots)] = n + np.fromiter(roots.values(), dtype=np.int64, count=len(roots))  # fresh labels, apart from scipy's
        # Only edges inside the final clusters explain them.
        match = match[labels[pairs.left[match]] == labels[pairs.right[match]]]
    # Canonical label: the smallest row number in the cluster.
    order = np.argsort(labels, kind="stable")
    first = np.r_[True, labels[order][1:] != labels[order][:-1]]
    smallest = np.minimum.reduceat(order, np.flatnonzero(first))
    labels = np.repeat(smallest, np.diff(np.r_[np.flatnonzero(first), n]))[np.argsort(order, kind="stable")]
    return labels, _evidence(n, pairs, match, keys)


def _grouped(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> dict[int, np.ndarray]:
    """values split by key, for the keys in `wanted` only (one sort, no per-key scan)."""
    keep = np.isin(keys, wanted)
    keys, values = keys[keep], values[keep]
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.empty(0, np.int64)
    return {int(keys[a]): values[a:b] for a, b in zip(starts, np.r_[starts[1:], len(keys)], strict=True)}


def _evidence(n: int, pairs: Pairs, match: np.ndarray, keys: np.ndarray) -> list[str]:
    """For each record, its strongest matching edge: 'row000007: uscc,phone,name= (25.0)'. Ties
    go to the first such pair. Each record's best edge is found by scattering the edges' scores
    onto their two ends, one end at a time: sorting both ends of every matched edge at once held
    ~1.5 GB at 1.4M records (12M edges)."""
    evidence = [""] * n
    if not len(match):
        return evidence
    score = pairs.score[match]
    best = np.full(n, -np.inf, dtype=score.dtype)
    for side in (pairs.left, pairs.right):
        np.maximum.at(best, side[match], score)
    chosen = np.full(n, len(pairs.score), dtype=np.int64)
    for side in (pairs.left, pairs.right):
        ends = side[match]
        top = score == best[ends]
        np.minimum.at(chosen, ends[top], match[top])
    records = np.flatnonzero(chosen < len(pairs.score))
    edge = chosen[records]
    others = np.where(pairs.left[edge] == records, pairs.right[edge], pairs.left[edge])
    # Column-wise, each distinct score formatted once: a loop of 1.2M f-strings took ~1 s.
    scores, inverse = np.unique(pairs.score[edge], return_inverse=True)
    shown = np.asarray([f"{s:.1f}" for s in scores], dtype=object)[inverse.reshape(-1)]
    notes = np.asarray(pairs.evidence(edge), dtype=object)
    out = np.asarray(evidence, dtype=object)
    out[records] = np.asarray(keys, dtype=object)[others] + ": " + notes + " (" + shown + ")"
    return out.tolist()
