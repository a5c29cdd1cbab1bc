"""Match weights learned from the data itself (Fellegi–Sunter), as Splink estimates them.

Each candidate pair is described by one level per comparison (name: exact / ≥95 / ≥90 /
contained / pinyin / ≥75 / different; website: same / different / unknown; …), taken from the
evidence `matching.score_pairs` computes. For each level:

- u = P(level | two different companies), counted on random pairs of records (nearly all
  random pairs are two companies);
- m = P(level | one company), estimated without labels by expectation–maximisation over the
  candidate pairs with u held fixed, together with λ, the share of candidate pairs that match.

The hand-set weights of `ResolutionConfig.weights` are the prior: EM starts from them and each
m is shrunk towards the prior by `prior_pairs` pseudo-pairs, so a level the data barely shows
keeps a sensible weight. A pair's match weight is Σ log2(m/u) over its levels, on the scale of
the hand-set points, and it joins at the same `match_threshold`. (Adding the prior log2(λ/(1−λ))
and joining at posterior 0.5 was tried and failed: λ is not identified when most candidate
pairs carry nothing but a name; docs/entity_resolution.md.) Term frequency, as in Splink: an exact name that several
places carry (the same core in two cities, one name on two websites) gets u of that name's own
frequency instead of the average, so it proves less; a name repeated by one company in one
place is not penalised. EM runs on distinct level patterns with counts, so a million pairs
cost a few thousand rows of arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadrank.config import ResolutionConfig
from leadrank.transform.matching import Features, Pairs

# comparison → its levels, first match wins; the last level of each is "else" (no weight),
# except where its name says what it is.
COMPARISONS: dict[str, list[str]] = {
    "name": ["exact", "near", "strong", "contained", "pinyin", "weak", "different", "other"],
    "uscc": ["same", "different", "other"],
    "domain": ["same", "shared", "different", "other"],  # shared: a website several names use
    "phone": ["same", "shared", "local", "other"],
    "email": ["same", "other"],
    "address": ["same", "different", "other"],
    "city": ["same", "different", "other"],
    "country": ["same", "different", "other"],
    "industry": ["different", "other"],
    "branch": ["mismatch", "other"],
    "legal_form": ["different", "other"],
}
# The hand-set weight each level starts from (log2 m/u points, ResolutionConfig.weights).
PRIOR_WEIGHT = {
    ("name", "exact"): "name_exact", ("name", "near"): "name_near", ("name", "strong"): "name_strong",
    ("name", "contained"): "name_contained", ("name", "pinyin"): "name_pinyin", ("name", "weak"): "name_weak",
    ("name", "different"): "name_different", ("uscc", "same"): "uscc_same", ("uscc", "different"): "uscc_conflict",
    ("domain", "same"): "domain_same", ("domain", "shared"): "name_weak", ("domain", "different"): "domain_different",
    ("phone", "same"): "phone_same", ("phone", "shared"): "name_weak", ("phone", "local"): "phone_local_same", ("email", "same"): "email_same",
    ("address", "same"): "address_same", ("address", "different"): "address_different",
    ("city", "same"): "city_same", ("city", "different"): "city_different",
    ("country", "same"): "country_same", ("country", "different"): "country_different",
    ("industry", "different"): "industry_different", ("branch", "mismatch"): "branch_mismatch",
    ("legal_form", "different"): "legal_form_different",
}


def levels(pairs: Pairs, cfg: ResolutionConfig) -> dict[str, np.ndarray]:
    """Level index of every pair for every comparison (see COMPARISONS)."""
    f, sim = pairs.features, pairs.name_sim
    near, strong = cfg.name_near, cfg.name_strong
    conditions = {
        "name": [f["name="], (sim >= near) & ~f["industry≠"], (sim >= strong) & ~f["industry≠"], f["name⊂"], f["pinyin"],
                 f["name~"], f["name≠"]],
        "uscc": [f["uscc"], f["uscc≠"]],
        "domain": [f["domain"] & ~f["_domain_shared"], f["_domain_shared"], f["domain≠"]],
        "phone": [f["phone"] & ~f["_phone_shared"], f["_phone_shared"], f["phone~"]],
        "email": [f["email"]],
        "address": [f["address"], f["address≠"]],
        "city": [f["_city="], f["city≠"]],
        "country": [f["_country="], f["country≠"]],
        "industry": [f["industry≠"]],
        "branch": [f["branch≠"]],
        "legal_form": [f["form≠"]],
    }
    out = {}
    for name, conds in conditions.items():
        level = np.full(len(sim), len(conds), dtype=np.int8)
        for k in range(len(conds) - 1, -1, -1):
            level[conds[k]] = k
        out[name] = level
    return out


@dataclass
class Model:
    """Learned parameters: m and u per comparison level, λ, and how the data taught them."""

    m: dict[str, np.ndarray]
    u: dict[str, np.ndarray]
    lam: float
    iterations: int
    candidate_pairs: int
    random_pairs: int

    def weights(self) -> dict[str, np.ndarray]:
        """log2(m/u) of each level; the "other" level of each comparison carries no weight."""
        out = {}
        for name, names in COMPARISONS.items():
            w = np.log2(self.m[name] / self.u[name])
            if names[-1] == "other":
                w[-1] = 0.0
            out[name] = w
        return out

    def table(self) -> pd.DataFrame:
        """One row per comparison level: m, u and match weight (what `--explain` prints)."""
        rows = []
        weights = self.weights()
        for name, names in COMPARISONS.items():
            for k, level in enumerate(names):
                rows.append({"comparison": name, "level": level, "m": float(self.m[name][k]),
                             "u": float(self.u[name][k]), "match_weight": float(weights[name][k])})
        return pd.DataFrame(rows)


def _distribution(level: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    counts = np.bincount(level, weights=weights, minlength=size).astype(np.float64)
    return counts


def _log_ratio(m: dict[str, np.ndarray], u: dict[str, np.ndarray], name: str) -> np.ndarray:
    """ln(m/u) of each level of a comparison; 0 for its "other" level (no evidence either way)."""
    out = np.log(m[name]) - np.log(u[name])
    if COMPARISONS[name][-1] == "other":
        out[-1] = 0.0
    return out


def _em(levels_of: dict[str, np.ndarray], count: np.ndarray, u: dict[str, np.ndarray], m: dict[str, np.ndarray],
        m_prior: dict[str, np.ndarray], fit: list[str], prior_pairs: float, max_iterations: int,
        tolerance: float) -> tuple[dict[str, np.ndarray], float, int]:
    """EM over distinct patterns (`levels_of`, `count`) for the m of comparisons `fit` and λ;
    u and the other comparisons' m stay as given."""
    m = {name: m[name].copy() for name in m}
    lam, iterations = 0.5, 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported
        odds = np.full(len(count), np.log(lam) - np.log(1 - lam))
        for name in fit:
            odds += _log_ratio(m, u, name)[levels_of[name]]
        weight = count / (1.0 + np.exp(-np.clip(odds, -50, 50)))
        new_lam = float(np.clip(weight.sum() / max(count.sum(), 1.0), 1e-6, 1 - 1e-6))
        delta = abs(new_lam - lam)
        for name in fit:
            counts = np.bincount(levels_of[name], weights=weight, minlength=len(COMPARISONS[name]))
            new = np.clip((counts + prior_pairs * m_prior[name]) / (counts.sum() + prior_pairs), 1e-9, None)
            delta = max(delta, float(np.abs(new - m[name]).max()))
            m[name] = new
        lam = new_lam
        if delta < tolerance:
            break
    return m, lam, iterations


# Training rounds, as Splink runs EM once per blocking rule: pairs that agree on a comparison
# (blocked on it) say nothing about how often matches agree on it, so each round learns the m of
# every comparison but the one its pairs were chosen by. The name's m is learned on pairs that
# share an identifier, the identifiers' m on pairs with the same name.
ROUNDS = [("name", 0), ("domain", 0), ("phone", 0), ("email", 0), ("uscc", 0)]


def estimate(candidate: dict[str, np.ndarray], random: dict[str, np.ndarray], prior: dict[str, float],
             prior_pairs: float = 50.0, max_iterations: int = 40, tolerance: float = 1e-5) -> Model:
    """m, u and λ from the levels of candidate pairs and of random pairs (see the module doc)."""
    names = list(COMPARISONS)
    n_random = len(next(iter(random.values()))) if random else 0
    u, m_prior = {}, {}
    for name in names:
        size = len(COMPARISONS[name])
        counts = np.bincount(random[name], minlength=size).astype(np.float64) if n_random else np.zeros(size)
        u[name] = (counts + 0.5) / (counts.sum() + 0.5 * size)  # Laplace: unseen levels stay possible
        bits = np.array([prior.get(PRIOR_WEIGHT.get((name, lv), ""), 0.0) for lv in COMPARISONS[name]])
        start = u[name] * np.exp2(bits)
        if COMPARISONS[name][-1] == "other":
            start[-1] = max(1e-3, 1.0 - start[:-1].sum())
        m_prior[name] = np.clip(start, 1e-9, None) / np.clip(start, 1e-9, None).sum()
    grouped = pd.DataFrame({name: candidate[name] for name in names}).value_counts().reset_index(name="count")
    count = grouped["count"].to_numpy(dtype=np.float64)
    levels_of = {name: grouped[name].to_numpy(dtype=np.int64) for name in names}
    sums = {name: np.zeros(len(COMPARISONS[name])) for name in names}
    mass = dict.fromkeys(names, 0.0)
    iterations = 0
    for blocked, level in ROUNDS:
        part = levels_of[blocked] == level
        if count[part].sum() < 10:  # too few to learn from; the prior holds
            continue
        fit = [name for name in names if name != blocked]
        sub = {name: v[part] for name, v in levels_of.items()}
        m, lam, its = _em(sub, count[part], u, m_prior, m_prior, fit, prior_pairs, max_iterations, tolerance)
        iterations += its
        matches = lam * count[part].sum()
        for name in fit:
            sums[name] += matches * m[name]
            mass[name] += matches
    m = {name: sums[name] / mass[name] if mass[name] else m_prior[name] for name in names}
    lam = _lambda(levels_of, count, u, m, max_iterations)
    return Model(m, u, lam, iterations, int(count.sum()), n_random)


def _lambda(levels_of: dict[str, np.ndarray], count: np.ndarray, u: dict[str, np.ndarray], m: dict[str, np.ndarray],
            max_iterations: int) -> float:
    """The share of candidate pairs that match, by EM with m and u fixed."""
    ratio = np.zeros(len(count))
    for name in COMPARISONS:
        ratio += _log_ratio(m, u, name)[levels_of[name]]
    lam = 0.5
    for _ in range(max_iterations):
        post = 1.0 / (1.0 + np.exp(-np.clip(np.log(lam / (1 - lam)) + ratio, -50, 50)))
        lam = float(np.clip((post * count).sum() / max(count.sum(), 1.0), 1e-6, 1 - 1e-6))
    return lam


def random_pairs(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`size` random pairs (i < j) of n records, drawn with a fixed seed (same data, same weights)."""
    rng = np.random.default_rng(seed)
    if n < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    a = rng.integers(0, n, size)
    b = rng.integers(0, n, size)
    ok = a != b
    return np.minimum(a, b)[ok], np.maximum(a, b)[ok]


def name_frequency_bits(f: Features, pairs: Pairs, u_exact: float) -> np.ndarray:
    """Term-frequency adjustment of exact name agreements: log2(u_exact / u_name), where u_name
    is how often two random records share *this* name as different companies — estimated by the
    number of distinct places (city or country, else website) that carry it over the number of
    distinct names. Zero for names one place carries, however often it is listed."""
    exact = pairs.features["name="]
    out = np.zeros(len(exact), dtype=np.float32)
    if not exact.any():
        return out
    place = np.where(f.city >= 0, f.city, np.where(f.country >= 0, f.country + f.n, -1))
    ok = (f.core_code >= 0) & (place >= 0)
    frame = pd.DataFrame({"core": f.core_code[ok], "place": place[ok]})
    places = frame.groupby("core")["place"].nunique()
    carriers = np.ones(int(f.core_code.max()) + 2 if f.n else 1)
    carriers[places.index.to_numpy()] = places.to_numpy()
    distinct = max(int((f.core_code >= 0).any() and f.core_code.max() + 1), 1)
    k = np.flatnonzero(exact)
    many = carriers[f.core_code[pairs.left[k]]]
    u_name = np.maximum(many / distinct, u_exact)
    out[k] = np.where(many > 1, np.log2(u_exact / u_name), 0.0)
    return out


def score(model: Model, pair_levels: dict[str, np.ndarray], tf_bits: np.ndarray) -> np.ndarray:
    """Match weight of every pair: Σ level weights (log2 m/u) + term-frequency bits."""
    weights = model.weights()
    total = np.zeros(len(tf_bits), dtype=np.float64)
    for name, level in pair_levels.items():
        total += weights[name][level]
    return (total + tf_bits).astype(np.float32)


def learn(f: Features, pairs: Pairs, cfg: ResolutionConfig,
          score_pairs: Callable[[np.ndarray, np.ndarray], Pairs]) -> tuple[Model, Callable[[Pairs], Pairs]]:
    """The model learned from tonight's records and candidate pairs, and a function that puts
    its match weights (and the cannot-links they imply) on any scored pairs."""
    a, b = random_pairs(f.n, cfg.random_pairs, cfg.random_seed)
    model = estimate(levels(pairs, cfg), levels(score_pairs(a, b), cfg), cfg.weights, cfg.prior_pairs)
    u_exact = float(model.u["name"][0])

    def rescore(p: Pairs) -> Pairs:
        p.score = score(model, levels(p, cfg), name_frequency_bits(f, p, u_exact))
        p.conflict = p.features["_conflict"] | (p.score <= cfg.cannot_link)
        return p

    return model, rescore

