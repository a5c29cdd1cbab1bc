"""Candidate pairs and their match scores.

Blocking: records are compared only when they share a key: a valid 统一社会信用代码, a company
domain, a phone, an email, an exact core name, or a rare name token (prefix for Chinese). Keys
shared by more than `max_block_size` records are skipped: such keys (a group's switchboard, a
portal domain) identify nobody.

Scoring: each kind of evidence adds log-odds points (ResolutionConfig.weights): agreement on
identifiers and names adds, conflict (two valid codes that differ, different cities, names that
disagree, a branch against its head office) subtracts. A shared phone or domain counts fully
only when few distinct names use it, so that a group website, a switchboard number or a
free-mail domain cannot merge different companies by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz import fuzz

from leadrank.config import ResolutionConfig

KEY_COLUMNS = {"u": "uscc_key", "d": "domain", "p": "phone_e164", "e": "email_key", "n": "name_core"}


@dataclass
class Pairs:
    left: np.ndarray
    right: np.ndarray
    score: np.ndarray
    evidence: list[str]


def _keys(frame: pd.DataFrame) -> pd.DataFrame:
    keys = pd.DataFrame(index=frame.index)
    keys["uscc_key"] = frame["uscc_norm"].where(frame["uscc_valid"].astype(bool), None)
    keys["domain"] = frame["domain"]
    keys["phone_e164"] = frame["phone_e164"]
    keys["email_key"] = frame["email_norm"].where(~frame["email_free"].astype(bool), None)
    keys["name_core"] = frame["name_core"]
    return keys


def _name_tokens(frame: pd.DataFrame) -> pd.Series:
    """Blocking tokens of names: words of Latin names, 3-character prefix and suffix of Han ones."""

    def tokens(core: object) -> list[str]:
        if not isinstance(core, str) or not core:
            return []
        if core.isascii():
            return [w for w in core.split() if len(w) > 2]
        compact = core.replace(" ", "")
        return list({compact[:3], compact[-3:]}) if len(compact) >= 3 else [compact]

    cores = pd.concat([frame["name_core"], frame["name_alt_core"]])
    return cores.map(tokens).explode().dropna()


def candidate_pairs(frame: pd.DataFrame, cfg: ResolutionConfig) -> tuple[np.ndarray, np.ndarray]:
    """Unique (i, j), i < j, of positional row numbers that share a blocking key."""
    n = len(frame)
    positions = pd.Series(np.arange(n), index=frame.index)
    blocks: list[pd.Series] = []
    keys = _keys(frame)
    for prefix, column in KEY_COLUMNS.items():
        values = keys[column].dropna()
        blocks.append(prefix + ":" + values.astype(str))
    alt = frame["name_alt_core"].dropna()
    blocks.append("n:" + alt.astype(str))
    blocks.append("t:" + _name_tokens(frame).astype(str))
    stacked = pd.concat(blocks)
    table = pd.DataFrame({"key": stacked.to_numpy(), "pos": positions.reindex(stacked.index).to_numpy()})
    table = table.drop_duplicates()
    sizes = table.groupby("key")["pos"].transform("size")
    table = table[(sizes > 1) & (sizes <= cfg.max_block_size)]
    if table.empty:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    left_parts: list[np.ndarray] = []
    right_parts: list[np.ndarray] = []
    for members in table.groupby("key")["pos"].agg(lambda s: s.to_numpy()).to_numpy():
        i, j = np.triu_indices(len(members), k=1)
        left_parts.append(members[i])
        right_parts.append(members[j])
    left = np.concatenate(left_parts)
    right = np.concatenate(right_parts)
    lo, hi = np.minimum(left, right), np.maximum(left, right)
    codes = np.unique(lo.astype(np.int64) * n + hi)
    return codes // n, codes % n


def _shared_key_factor(frame: pd.DataFrame, column: str, limit: int) -> pd.Series:
    """1.0 for keys used by at most `limit` distinct core names, shrinking beyond that."""
    usage = frame.dropna(subset=[column]).groupby(column)["name_core"].nunique()
    factor = (limit / usage.clip(lower=limit)).astype(float)
    return frame[column].map(factor).fillna(0.0)


def name_similarity(a: object, b: object) -> float:
    if not isinstance(a, str) or not isinstance(b, str) or not a or not b:
        return -1.0
    if a == b:
        return 100.0
    return max(fuzz.token_sort_ratio(a, b), fuzz.ratio(a.replace(" ", ""), b.replace(" ", "")))


def score_pairs(frame: pd.DataFrame, left: np.ndarray, right: np.ndarray, cfg: ResolutionConfig) -> Pairs:
    """Match score and a short evidence string for every candidate pair."""
    w = cfg.weights
    cols = {
        c: frame[c].to_numpy(dtype=object)
        for c in ["name_core", "name_alt_core", "name_lang", "uscc_norm", "phone_e164", "email_norm", "domain",
                  "city_norm", "address_norm", "is_branch"]
    }
    valid = frame["uscc_valid"].to_numpy(dtype=bool)
    email_free = frame["email_free"].to_numpy(dtype=bool)
    phone_factor = _shared_key_factor(frame, "phone_e164", cfg.shared_key_names).to_numpy()
    domain_factor = _shared_key_factor(frame, "domain", cfg.shared_key_names).to_numpy()
    score = np.zeros(len(left))
    evidence: list[str] = []
    for k, (i, j) in enumerate(zip(left.tolist(), right.tolist(), strict=True)):
        s = 0.0
        why: list[str] = []
        if valid[i] and valid[j]:
            if cols["uscc_norm"][i] == cols["uscc_norm"][j]:
                s += w["uscc_same"]
                why.append("uscc")
            else:
                s += w["uscc_conflict"]
                why.append("uscc_conflict")
        domain = cols["domain"][i]
        if domain is not None and domain == cols["domain"][j]:
            s += w["domain_same"] * min(domain_factor[i], domain_factor[j])
            why.append("domain")
        phone = cols["phone_e164"][i]
        if phone is not None and phone == cols["phone_e164"][j]:
            s += w["phone_same"] * min(phone_factor[i], phone_factor[j])
            why.append("phone")
        mail = cols["email_norm"][i]
        if mail is not None and mail == cols["email_norm"][j] and not email_free[i]:
            s += w["email_same"]
            why.append("email")
        address = cols["address_norm"][i]
        if address is not None and address == cols["address_norm"][j]:
            s += w["address_same"]
            why.append("address")
        sim = max(
            name_similarity(cols["name_core"][i], cols["name_core"][j]),
            name_similarity(cols["name_alt_core"][i], cols["name_core"][j]),
            name_similarity(cols["name_core"][i], cols["name_alt_core"][j]),
            name_similarity(cols["name_alt_core"][i], cols["name_alt_core"][j]),
        )
        comparable = cols["name_lang"][i] == cols["name_lang"][j] or sim >= cfg.name_weak
        if sim >= 100:
            s += w["name_exact"]
            why.append("name=")
        elif sim >= cfg.name_strong:
            s += w["name_strong"]
            why.append(f"name~{sim:.0f}")
        elif sim >= cfg.name_weak:
            s += w["name_weak"]
            why.append(f"name~{sim:.0f}")
        elif comparable and 0 <= sim < cfg.name_different:
            s += w["name_different"]
            why.append(f"name≠{sim:.0f}")
        city = cols["city_norm"][i]
        other_city = cols["city_norm"][j]
        if city is not None and other_city is not None:
            if city == other_city:
                s += w["city_same"]
            else:
                s += w["city_different"]
                why.append("city≠")
        if bool(cols["is_branch"][i]) != bool(cols["is_branch"][j]):
            s += w["branch_mismatch"]
            why.append("branch≠")
        score[k] = s
        evidence.append(",".join(why))
    return Pairs(left, right, score, evidence)
