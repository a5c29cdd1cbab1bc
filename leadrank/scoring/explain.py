"""Words for the factors behind a priority, in Chinese and English.

Every factor has a label for when it helps a lead and one for when it hurts; `top_reasons`
is what `leadrank top` and the marts show: the three strongest factors for and against.
"""

from __future__ import annotations

import json

import pandas as pd

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
}
MODEL_FEATURE_FACTOR = {
    "n_sources": "n_sources", "n_records": "n_sources", "exhibitions": "exhibitions",
    "ratio_score": "net_margin", "segment_score": "segment", "customer_type": "segment",
    "current_asset_ratio_pct": "current_asset_ratio", "net_margin_pct": "net_margin", "roa_pct": "roa",
    "collection_days_pct": "collection_days", "inventory_days_pct": "inventory_days",
    "log_monthly_volume": "key_account", "ratio_coverage": "coverage",
}


def label(factor: str, impact: float) -> tuple[str, str]:
    good, bad = LABELS.get(factor, ((factor, factor), (factor, factor)))
    return good if impact > 0 else bad


def reasons(contributions: pd.DataFrame, top: int = 3) -> pd.DataFrame:
    """reasons_for / reasons_against (JSON lists) and top_reasons (text) per row of signed
    factor contributions (columns are factors)."""
    rows_for: list[str] = []
    rows_against: list[str] = []
    texts: list[str] = []
    factors = list(contributions.columns)
    for values in contributions.to_numpy():
        ranked = sorted(zip(factors, values.tolist(), strict=True), key=lambda fv: -abs(fv[1]))
        pros = [(f, v) for f, v in ranked if v > 0.005][:top]
        cons = [(f, v) for f, v in ranked if v < -0.005][:top]
        as_json = lambda items: json.dumps(  # noqa: E731
            [{"factor": f, "zh": label(f, v)[0], "en": label(f, v)[1], "impact": round(v, 4)} for f, v in items],
            ensure_ascii=False,
        )
        rows_for.append(as_json(pros))
        rows_against.append(as_json(cons))
        parts = [f"+{label(f, v)[0]} ({label(f, v)[1]})" for f, v in pros] + [
            f"−{label(f, v)[0]} ({label(f, v)[1]})" for f, v in cons
        ]
        texts.append("; ".join(parts))
    return pd.DataFrame({"reasons_for": rows_for, "reasons_against": rows_against, "top_reasons": texts},
                        index=contributions.index)
