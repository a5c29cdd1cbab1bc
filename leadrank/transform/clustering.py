"""Clusters of records from scored pairs, without chaining distinct companies together.

Edges are taken strongest first (Kruskal-style union-find) and only when their score reaches
the threshold. A union is refused when it would put two different valid 统一社会信用代码 in
one cluster: whatever weak evidence links them, two registered legal entities are two leads.
Each record keeps the evidence of the edge that joined it, so every merge is explainable.
"""

from __future__ import annotations

import numpy as np

from leadrank.transform.matching import Pairs


def cluster(n: int, pairs: Pairs, threshold: float, codes: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(label per record, evidence per record). `codes` holds each record's valid code or None."""
    parent = np.arange(n)
    code_of: dict[int, str] = {i: c for i, c in enumerate(codes.tolist()) if c is not None}
    evidence = [""] * n

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    order = np.argsort(-pairs.score, kind="stable")
    for k in order.tolist():
        if pairs.score[k] < threshold:
            break
        i, j = int(pairs.left[k]), int(pairs.right[k])
        ri, rj = find(i), find(j)
        if ri == rj:
            continue
        ci, cj = code_of.get(ri), code_of.get(rj)
        if ci is not None and cj is not None and ci != cj:
            continue
        if rj < ri:
            ri, rj = rj, ri
        parent[rj] = ri
        if ci is None and cj is not None:
            code_of[ri] = cj
        note = f"{pairs.evidence[k]} ({pairs.score[k]:.1f})"
        for x in (i, j):
            if not evidence[x]:
                evidence[x] = note
    labels = np.fromiter((find(i) for i in range(n)), dtype=np.int64, count=n)
    return labels, evidence
