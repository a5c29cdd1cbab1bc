"""Key-account segmentation: customer type, product line and estimated purchase volume.

Customer types and product lines come from keyword rules in Chinese and English over the name,
industry and products, plus source hints (an AMAC member is a financial institution; a company
with a stock code is listed). The rules and each segment's weight are configuration (scoring.
segment_rules / segment_weights); these defaults suit an office-supplies seller. The estimated
monthly purchase volume (revenue share, else a per-type default) is compared with the key-account
threshold (default 50,000 yuan a month).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadrank.config import ScoringConfig

# Checked in order; the first rule whose pattern matches wins. `field` defaults to the text
# of name + industry + products; `source` matches the lead's source names.
DEFAULT_RULES: list[dict[str, Any]] = [
    {"segment": "government", "pattern": r"人民政府|政府|委员会|管理局|局$|厅$|办公室|事业单位|学校|大学|学院|医院|研究所|研究院|部队|Ministry|Government|Council|Agency|Army|Navy|Air Force|Police|MOD\b|University|Hospital|Institute"},
    {"segment": "bank_finance", "pattern": r"银行|证券|基金|保险|信托|期货|资产管理|资本|投资管理|Bank|Securities|Fund|Insurance|Capital|Asset Management"},
    {"segment": "bank_finance", "source": r"amac|CYJGGS"},
    {"segment": "telecom", "pattern": r"电信|移动通信|中国移动|联通|通信|Telecom|Unicom|Mobile Communications"},
    {"segment": "retail_chain", "pattern": r"超市|连锁|商场|百货|便利店|Supermarket|Retail|Department Store|Mart\b"},
    {"segment": "wholesaler", "pattern": r"批发|贸易|商贸|经销|Wholesale|Trading|Distributor"},
]
DEFAULT_PRODUCT_LINES: list[dict[str, str]] = [
    {"product_line": "equipment_maker", "pattern": r"设备|机械|电子|仪器|制造|Equipment|Machinery|Electronic|Instrument|Manufactur"},
    {"product_line": "consumables_maker", "pattern": r"耗材|墨盒|硒鼓|纸业|造纸|包装|Toner|Cartridge|Paper|Packaging|Consumable"},
    {"product_line": "stationery_maker", "pattern": r"文具|笔业|办公用品|Stationery|Office Supplies|Pen\b"},
]
DEFAULT_WEIGHTS = {
    "government": 0.8, "bank_finance": 0.9, "telecom": 0.85, "listed": 0.8, "multinational": 0.75,
    "large_enterprise": 0.7, "retail_chain": 0.65, "wholesaler": 0.5, "sme": 0.4,
}
# Monthly office purchases when revenue is unknown, by customer type (yuan).
DEFAULT_MONTHLY_VOLUME = {
    "government": 80_000, "bank_finance": 120_000, "telecom": 150_000, "listed": 100_000,
    "multinational": 90_000, "large_enterprise": 60_000, "retail_chain": 70_000, "wholesaler": 40_000, "sme": 10_000,
}
PURCHASE_SHARE_OF_REVENUE = 0.001  # annual office spend as a share of revenue
CHANNEL_SEGMENTS = {"retail_chain", "wholesaler"}
_LARGE = re.compile(r"集团|股份|Group|Holdings|Corporation")
_FOREIGN_FORMS = re.compile(r"gmbh|inc|corp|plc|llc|ag|s\.a\.|b\.v\.|limited", re.I)


def _matches(text: pd.Series, pattern: str, *, case: bool = False) -> pd.Series:
    """Whether each value contains `pattern` (case-insensitive unless `case`), as a plain bool
    Series. RE2 through pyarrow (its \\b and \\w are ASCII-only, which suits rules that mark
    English words inside Chinese text); a configured rule RE2 cannot compile (look-arounds,
    back-references) runs on Python's re."""
    values = pa.array(text.astype("string[pyarrow]").fillna(""))  # Arrow-backed already: no copy
    try:
        hits = pc.match_substring_regex(values, pattern, ignore_case=not case)
    except pa.ArrowInvalid:
        return text.astype(object).fillna("").str.contains(pattern, flags=0 if case else re.I, regex=True).astype(bool)
    return pd.Series(np.asarray(hits, dtype=bool), index=text.index)


def classify(leads: pd.DataFrame, ratios: pd.DataFrame, scoring: ScoringConfig) -> pd.DataFrame:
    """Segment columns per lead: customer_type, channel (end_user | channel), product_line,
    est_monthly_volume, key_account, segment_score."""
    rules = scoring.segment_rules or DEFAULT_RULES
    product_rules = scoring.product_line_rules or DEFAULT_PRODUCT_LINES
    weights = {**DEFAULT_WEIGHTS, **scoring.segment_weights}
    threshold = scoring.key_account_threshold
    frame = leads.merge(ratios[["lead_id", "stock_code", "revenue", "total_assets"]], on="lead_id", how="left")
    # One Arrow string column, matched with RE2 (pyarrow compute): row-wise Python is what made
    # this the slowest part of scoring a million leads.
    text = pd.Series("", index=frame.index, dtype="string[pyarrow]")
    for column in ("company_name", "company_name_en", "industry", "products"):
        text = text + " " + frame[column].fillna("").astype(str).astype("string[pyarrow]")
    segment = pd.Series(None, index=frame.index, dtype=object)
    for rule in rules:
        hits = pd.Series(True, index=frame.index)
        if "pattern" in rule:
            hits &= _matches(text, rule["pattern"])
        if "source" in rule:
            hits &= _matches(frame["sources"].fillna("").astype("string[pyarrow]"), rule["source"])
        segment = segment.where(segment.notna() | ~hits, rule["segment"])
    listed = frame["stock_code"].notna()
    segment = segment.where(segment.notna() | ~listed, "listed")
    foreign = frame["country"].notna() & (frame["country"] != "CN")
    foreign |= frame["legal_form"].fillna("").str.contains(_FOREIGN_FORMS) & (frame["company_name_zh"].isna())
    segment = segment.where(segment.notna() | ~foreign, "multinational")
    large = _matches(text, _LARGE.pattern, case=True) | (pd.to_numeric(frame["total_assets"], errors="coerce") > 1e9)
    segment = segment.where(segment.notna() | ~large, "large_enterprise")
    segment = segment.fillna("sme")

    product_line = pd.Series(None, index=frame.index, dtype=object)
    for rule in product_rules:
        hits = _matches(text, rule["pattern"])
        product_line = product_line.where(product_line.notna() | ~hits, rule["product_line"])

    revenue = pd.to_numeric(frame["revenue"], errors="coerce")
    volume = (revenue * PURCHASE_SHARE_OF_REVENUE / 12).where(revenue > 0)
    volume = volume.fillna(segment.map(DEFAULT_MONTHLY_VOLUME)).astype(float)
    return pd.DataFrame(
        {
            "lead_id": frame["lead_id"],
            "customer_type": segment,
            "channel": np.where(segment.isin(CHANNEL_SEGMENTS), "channel", "end_user"),
            "product_line": product_line.fillna("other"),
            "est_monthly_volume": volume.round(0),
            "key_account": volume >= threshold,
            "segment_score": segment.map(weights).fillna(0.5).astype(float),
        }
    )
