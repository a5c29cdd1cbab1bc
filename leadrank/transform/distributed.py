"""Blocking and pair scoring spread over a Dask cluster: the path past one machine.

One machine holds 1.4M records comfortably; what grows past it is the number of candidate pairs.
Both steps are embarrassingly parallel, so an existing engine runs them: the features (one array
per column, built once) are scattered to every worker, each blocking key becomes one task, and
the candidate pairs are cut into chunks scored where they land. Clustering stays on the client:
it needs only the matching edges, a small fraction of the pairs. The result is identical to
`matching.candidate_pairs` + `matching.score_pairs` on one machine (tested on a LocalCluster);
pointing `client` at a real scheduler (`dask.distributed.Client("tcp://…")`) is the only change.
"""

from __future__ import annotations

from functools import reduce
from operator import add

import numpy as np

from leadrank.config import ResolutionConfig
from leadrank.sorted_sets import distinct_sorted
from leadrank.transform.matching import Features, Pairs, block_keys, candidate_pairs, score_pairs


def _pairs_of(features: Features, cfg: ResolutionConfig, which: str) -> np.ndarray:
    return block_keys(features, cfg)[which]()


def _score(features: Features, cfg: ResolutionConfig, codes: np.ndarray) -> Pairs:
    return score_pairs(features, codes // features.n, codes % features.n, cfg)


def distributed_pairs(features: Features, cfg: ResolutionConfig, client: object, chunk: int = 200_000) -> Pairs:
    """Every candidate pair scored, blocking key by key and chunk by chunk on `client`'s workers
    (a dask.distributed.Client); same pairs, same order and same scores as on one machine."""
    if features.n < 2:
        left, right = candidate_pairs(features, cfg)
        return score_pairs(features, left, right, cfg)
    remote = client.scatter(features, broadcast=True)
    blocked = client.gather([client.submit(_pairs_of, remote, cfg, which, pure=False)
                             for which in block_keys(features, cfg)])
    codes = distinct_sorted(np.concatenate(blocked))
    parts = [codes[k:k + chunk] for k in range(0, len(codes), chunk)] or [codes]
    scored = client.gather([client.submit(_score, remote, cfg, part, pure=False) for part in parts])
    return reduce(add, scored)
