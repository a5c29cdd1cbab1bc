"""Words for the factors behind a priority, in Chinese and English.

Every factor has two labels: one for a favourable value (high margin, several sources) and one
for an unfavourable value. Which label a lead gets depends on its own value, never on the sign
of the effect alone, so a lead without statements is never told it has "complete financials".
A factor is listed *for* a lead only when its value is favourable and it raises the priority,
and *against* only when its value is unfavourable and it lowers it: "strong financial ratios"
is never a reason against, "no financial statements" never a reason for. An effect whose sign
disagrees with the value (the outcome model learned that, among these leads, a high margin goes
with lost deals) is not worded as a reason at all; it still moves the priority. `top_reasons`
shows the three strongest of each. docs/scoring.md states the rule for users.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadrank.scoring.distinct import distinct_rows

LABELS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    # factor: ((zh if good, en if good), (zh if bad, en if bad))
    "current_asset_ratio": (("流动资产率高", "high current-asset ratio"), ("流动资产率低", "low current-asset ratio")),
    "net_margin": (("净利润率高", "high net margin"), ("净利润率低", "low net margin")),
    "roa": (("资产回报率高", "high return on assets"), ("资产回报率低", "low return on assets")),
    "collection_days": (("回款快", "pays quickly"), ("回款周期长", "slow to pay")),
    "inventory_days": (("存货周转快", "fast inventory turnover"), ("存货周期长", "slow inventory turnover")),
    "segment": (("客户类型优先", "priority customer type"), ("客户类型一般", "low-priority customer type")),
    "coverage": (("财务数据完整", "complete financials"), ("缺少财务数据", "no financial statements")),
    "model": (("历史成交相似", "resembles won deals"), ("历史丢单相似", "resembles lost deals")),
    "n_sources": (("多个来源出现", "seen in several sources"), ("来源单一", "single source")),
    "exhibitions": (("参加展会", "exhibits at trade fairs"), ("未参展", "no exhibitions")),
    "key_account": (("采购量达大客户标准", "key-account purchase volume"), ("采购量小", "small purchase volume")),
    "risk": (("无财务风险", "no financial risk flags"), ("财务风险", "financial risk flags")),
    "financials": (("财务指标好", "strong financial ratios"), ("财务指标弱", "weak financial ratios")),
}
MODEL_FEATURE_FACTOR = {
    "n_sources": "n_sources", "n_records": "n_sources", "exhibitions": "exhibitions",
    "ratio_score": "financials", "segment_score": "segment", "customer_type": "segment",
    "current_asset_ratio_pct": "current_asset_ratio", "net_margin_pct": "net_margin", "roa_pct": "roa",
    "collection_days_pct": "collection_days", "inventory_days_pct": "inventory_days",
    "log_monthly_volume": "key_account", "ratio_coverage": "coverage",
}


def label(factor: str, favourable: bool) -> tuple[str, str]:
    good, bad = LABELS.get(factor, ((factor, factor), (factor, factor)))
    return good if favourable else bad


@dataclass
class Factors:
    """Signed effects on the priority per factor, and whether each lead's value is favourable.

    Several components may feed one factor (the fit's net margin and the model's view of it);
    their effects add up, and the strongest component says whether the value is favourable.
    """

    index: pd.Index
    impact: dict[str, pd.Series] = field(default_factory=dict)
    _strongest: dict[str, pd.Series] = field(default_factory=dict)
    favourable: dict[str, pd.Series] = field(default_factory=dict)
    _by_sign: set[str] = field(default_factory=set)  # factors labelled by their net effect

    def add(self, factor: str, impact: pd.Series, favourable: pd.Series | None = None) -> None:
        """Add a component; without `favourable` the factor is labelled by its net effect."""
        impact = impact.astype(float).fillna(0.0)
        if favourable is None:
            self._by_sign.add(factor)
            favourable = impact > 0
        favourable = favourable.astype(bool)
        if factor not in self.impact:
            self.impact[factor] = impact
            self._strongest[factor] = impact.abs()
            self.favourable[factor] = favourable
            return
        stronger = impact.abs() > self._strongest[factor]
        self.impact[factor] = self.impact[factor] + impact
        self._strongest[factor] = self._strongest[factor].where(~stronger, impact.abs())
        self.favourable[factor] = self.favourable[factor].where(~stronger, favourable)
        if factor in self._by_sign:
            self.favourable[factor] = self.impact[factor] > 0


def _picked(impact: np.ndarray, order: np.ndarray, chosen: np.ndarray, top: int) -> tuple[np.ndarray, ...]:
    """For slots 0..top-1: (whether the slot is used, factor column, impact) of the first `top`
    chosen factors of each row, strongest first."""
    slots = np.argsort(~chosen, axis=1, kind="stable")[:, :top]  # chosen ones first, in order
    used = np.take_along_axis(chosen, slots, axis=1)
    column = np.take_along_axis(order, slots, axis=1)
    return used, column, np.take_along_axis(impact, column, axis=1)


def _listing(pieces: list[np.ndarray], used: list[np.ndarray], separator: str) -> np.ndarray:
    """Row-wise join of the used pieces (object arrays of str), whole columns at a time."""
    out = np.full(len(pieces[0]) if pieces else 0, "", dtype=object)
    for piece, ok in zip(pieces, used, strict=True):
        out = np.where(ok, np.where(out == "", piece, out + separator + piece), out)
    return out


def reasons(factors: Factors, top: int = 3) -> pd.DataFrame:
    """reasons_for / reasons_against (JSON lists) and top_reasons (text, Chinese then English).

    Per lead, the `top` strongest factors for (effect > 0.005 and a favourable value) and against
    (< -0.005 and an unfavourable value), ordered by strength; computed with array operations
    over all leads at once (a loop per lead took minutes at a million)."""
    names = list(factors.impact)
    if not names:
        return pd.DataFrame({"reasons_for": "[]", "reasons_against": "[]", "top_reasons": ""}, index=factors.index)
    impact = np.column_stack([factors.impact[f].to_numpy(dtype=float) for f in names])
    good = np.column_stack([factors.favourable[f].to_numpy(dtype=bool) for f in names])
    # Leads with one feature vector share their effects: each distinct row is worded once.
    first, row = distinct_rows(pd.DataFrame(np.column_stack([impact, good])))
    worded = reasons_of(impact[first], good[first], names, top)
    return pd.DataFrame({k: v[row] for k, v in worded.items()}, index=factors.index)


def reasons_of(impact: np.ndarray, good: np.ndarray, names: list[str], top: int) -> dict[str, np.ndarray]:
    """`reasons` of the rows of an impact matrix (one column per factor in `names`)."""
    n = len(impact)
    order = np.argsort(-np.abs(impact), axis=1, kind="stable")
    ranked = np.take_along_axis(impact, order, axis=1)
    favourable = np.take_along_axis(good, order, axis=1)
    # json.dumps of one item, up to its impact value; and the item's words, per factor and label.
    head = np.array([[json.dumps({"factor": f, "zh": label(f, ok)[0], "en": label(f, ok)[1], "impact": 0},
                                 ensure_ascii=False)[:-2] for ok in (False, True)] for f in names], dtype=object)
    words = np.array([[f"{label(f, ok)[0]} ({label(f, ok)[1]})" for ok in (False, True)] for f in names], dtype=object)
    rows = np.arange(n)[:, None]
    out: dict[str, np.ndarray] = {}
    texts: list[np.ndarray] = []
    text_used: list[np.ndarray] = []
    for key, chosen, sign in (("reasons_for", (ranked > 0.005) & favourable, "+"),
                              ("reasons_against", (ranked < -0.005) & ~favourable, "−")):
        used, column, value = _picked(impact, order, chosen, top)
        ok = good[rows, column].astype(np.int64)
        shown = np.round(value, 4).astype(str).astype(object)
        items = [head[column[:, j], ok[:, j]] + shown[:, j] + "}" for j in range(used.shape[1])]
        out[key] = "[" + _listing(items, list(used.T), ", ") + "]"
        texts += [sign + words[column[:, j], ok[:, j]] for j in range(used.shape[1])]
        text_used += list(used.T)
    out["top_reasons"] = _listing(texts, text_used, "; ")
    return out
