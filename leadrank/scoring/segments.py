"""Key-account segmentation: customer type, product line and estimated purchase volume.

The customer type says what a company *is*, so its rules look only at that: the names (Chinese
and English), the industry a registry or association gives, the legal form, the 统一社会信用代码
(its first digit is the registering authority: 1 = 机构编制, i.e. government bodies and public
institutions) and association membership (the sources that list it). They never look at the
products or categories a source lists: an exhibitor whose categories say "police" or "military"
sells to the government, it is not one. Those categories feed the product line instead (what
the company makes or sells). A stock code makes a company listed; a foreign country or legal
form, multinational; a group name or assets over a billion, a large enterprise.

The rules and each segment's weight are configuration (scoring.segment_rules / segment_weights);
these defaults suit an office-supplies seller. The estimated monthly purchase volume (revenue
share, else a per-type default) is compared with the key-account threshold (default 50,000 yuan
a month).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadrank.config import ScoringConfig
from leadrank.scoring.lead_index import join_by_lead

# Checked in order; the first rule that matches wins. A rule matches when all its keys do:
#   pattern   the name (Chinese or English) or the industry contains it (each checked on its own,
#             so `$` is the end of the name)
#   unless    ... and none of them contains this
#   companies false: not for names with a company legal form (有限公司, Ltd, GmbH, ...)
#   uscc      the valid 统一社会信用代码 matches it (registry data)
#   source    the names of the sources listing the lead match it (association membership)
_ZH_BODIES = r"人民政府|政府|委员会|管理局|办公室|事业单位|学校|大学|学院|医院|研究所|研究院|部队|公安|武警|解放军"
_EN_BODIES = (r"\bMinistry\b|\bGovernment (of|for)\b|^Government\b|\bGovernment$|\bDepartment (of|for)\b|\bCouncil\b|\bAgency\b|\bArmy\b|\bNavy\b|"
              r"\bAir Force\b|\bArmed Forces\b|\bPolice\b|\bConstabulary\b|\bMOD\b|\bDoD\b|\bUniversity\b|\bHospital\b|"
              r"\bInstitute\b|\bCommission\b")
DEFAULT_RULES: list[dict[str, Any]] = [
    {"segment": "government", "uscc": r"^1"},
    # An institution's own name ends with what it is, whatever legal form a parent lends it.
    {"segment": "government", "pattern": r"(人民政府|委员会|管理局|局|厅|学校|大学|学院|医院|研究所|研究院|部队)$"},
    {"segment": "government", "pattern": f"{_ZH_BODIES}|{_EN_BODIES}", "companies": False},
    {"segment": "bank_finance", "pattern": r"银行|证券|基金|保险|信托|期货|资产管理|投资管理|支付|金融|Bank\b|Banking|Securities|"
                                           r"\bFunds?\b|Insurance|Asset Management|Capital Management|Investment Management"},
    # Law and accounting firms registered with AMAC serve the fund industry; they are not part of
    # it, nor are the IT vendors of its 信息技术系统服务机构 list (恒生电子, 金证科技 …; its payment,
    # fund-sales and rating lists hold licensed firms named 科技 too, so the list decides, not the name).
    {"segment": "bank_finance", "source": r"amac|CYJGGS-(?!xxjsxtfwjg)", "unless": r"律师|会计师|Law\b|LLP|Accountants?"},
    {"segment": "telecom", "pattern": r"电信|移动通信|中国移动|联通|中国铁塔|Telecom|Unicom|Mobile Communications",
     "unless": r"设备|器材|Equipment"},
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
NAME_FIELDS = ("company_name", "company_name_en")
IDENTITY_FIELDS = (*NAME_FIELDS, "industry")  # what the rules read to tell what a company is
_LARGE = re.compile(r"集团|股份|Group|Holdings|Corporation")
RULE_TEXT = (*IDENTITY_FIELDS, "products", "sources")  # what the rules' patterns are matched in
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


def _any_field(frame: pd.DataFrame, columns: tuple[str, ...], pattern: str, *, case: bool = False) -> pd.Series:
    """Whether any of `columns` contains `pattern`, each value matched on its own."""
    hits = pd.Series(False, index=frame.index)
    for column in columns:
        hits |= _matches(frame[column], pattern, case=case)
    return hits


def _rule_hits(frame: pd.DataFrame, rule: dict[str, Any]) -> pd.Series:
    """Which leads a customer-type rule (see DEFAULT_RULES) matches."""
    hits = pd.Series(True, index=frame.index)
    if "pattern" in rule:
        hits &= _any_field(frame, IDENTITY_FIELDS, rule["pattern"])
    if "unless" in rule:
        hits &= ~_any_field(frame, IDENTITY_FIELDS, rule["unless"])
    if rule.get("companies", True) is False:
        hits &= frame["legal_form"].isna() | (frame["legal_form"].astype(object) == "")
    if "uscc" in rule:
        valid = frame["uscc"].where(frame["uscc_valid"].astype(bool))  # a code failing its check says nothing
        hits &= _matches(valid, rule["uscc"], case=True)
    if "source" in rule:
        hits &= _matches(frame["sources"], rule["source"])
    return hits


def classify(leads: pd.DataFrame, ratios: pd.DataFrame, scoring: ScoringConfig) -> pd.DataFrame:
    """Segment columns per lead: customer_type, channel (end_user | channel), product_line,
    est_monthly_volume, key_account, segment_score."""
    rules = scoring.segment_rules or DEFAULT_RULES
    product_rules = scoring.product_line_rules or DEFAULT_PRODUCT_LINES
    weights = {**DEFAULT_WEIGHTS, **scoring.segment_weights}
    threshold = scoring.key_account_threshold
    frame = join_by_lead(leads, ratios[["lead_id", "stock_code", "revenue", "total_assets"]])
    # The text the rules match, made Arrow once: _matches converts what is not, and nine rules
    # over three fields each converted a million names again (2.2 of 6.4 s at a million leads).
    for column in RULE_TEXT:
        if column in frame:
            frame[column] = frame[column].astype("string[pyarrow]")
    segment = pd.Series(None, index=frame.index, dtype=object)
    for rule in rules:
        segment = segment.where(segment.notna() | ~_rule_hits(frame, rule), rule["segment"])
    listed = frame["stock_code"].notna()
    segment = segment.where(segment.notna() | ~listed, "listed")
    foreign = frame["country"].notna() & (frame["country"] != "CN")
    foreign |= _matches(frame["legal_form"], _FOREIGN_FORMS.pattern) & (frame["company_name_zh"].isna())
    segment = segment.where(segment.notna() | ~foreign, "multinational")
    large = _any_field(frame, NAME_FIELDS, _LARGE.pattern, case=True)
    large |= pd.to_numeric(frame["total_assets"], errors="coerce") > 1e9
    segment = segment.where(segment.notna() | ~large, "large_enterprise")
    segment = segment.fillna("sme")

    # What it makes or sells: the product categories a source lists, with the names and industry.
    text = pd.Series("", index=frame.index, dtype="string[pyarrow]")
    for column in (*IDENTITY_FIELDS, "products"):
        text = text + " " + frame[column].fillna("").astype(str).astype("string[pyarrow]")
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
