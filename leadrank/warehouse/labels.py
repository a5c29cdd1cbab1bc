"""Words for what sales read, in English and Chinese: column headers, segments, product lines,
movements; and the reverse, a segment as a person types it (`find_segment`).

Exports and the report take `lang` ("en" or "zh"); a code without a label (a segment or product
line added by configuration) is shown as it is.
"""

from __future__ import annotations

import json

LANGS = ("en", "zh")

COLUMNS = {
    "rank": ("Rank", "排名"),
    "segment_rank": ("Rank in segment", "类型内排名"),
    "tier": ("Tier", "等级"),
    "lead_id": ("Lead ID", "线索ID"),
    "company_name": ("Company", "公司名称"),
    "company_name_en": ("English name", "英文名称"),
    "segment": ("Segment", "客户类型"),
    "product_line": ("Product line", "产品线"),
    "country": ("Country", "国家/地区"),
    "province": ("Province", "省份"),
    "city": ("City", "城市"),
    "website": ("Website", "网站"),
    "phone": ("Phone", "电话"),
    "phone_type": ("Phone type", "电话类型"),
    "email": ("Email", "邮箱"),
    "other_phones": ("Other phones", "其他电话"),
    "other_emails": ("Other emails", "其他邮箱"),
    "address": ("Address", "地址"),
    "priority": ("Priority", "优先级"),
    "fit_score": ("Fit score", "匹配度"),
    "model_score": ("Win probability", "成交概率"),
    "key_account": ("Key account", "大客户"),
    "est_monthly_volume": ("Est. monthly purchases (yuan)", "预计月采购额(元)"),
    "movement": ("Movement", "变动"),
    "prev_rank": ("Previous rank", "上次排名"),
    "prev_tier": ("Previous tier", "上次等级"),
    "top_reasons": ("Top reasons", "主要原因"),
    "sources": ("Sources", "来源"),
    "n_sources": ("Number of sources", "来源数"),
    "first_seen_at": ("First seen", "首次发现"),
    "uscc": ("Unified social credit code", "统一社会信用代码"),
    "reason": ("Reason", "原因"),
    "merged_into": ("Merged into", "并入线索"),
}
SEGMENTS = {
    "government": ("Government & institutions", "政府机关事业单位"),
    "bank_finance": ("Banks & finance", "银行金融"),
    "telecom": ("Telecom", "电信运营商"),
    "listed": ("Listed companies", "上市公司"),
    "multinational": ("Multinationals", "外资企业"),
    "large_enterprise": ("Large enterprises", "大型企业"),
    "retail_chain": ("Retail chains", "连锁零售"),
    "wholesaler": ("Wholesalers", "批发商"),
    "sme": ("SMEs", "中小企业"),
}
PRODUCT_LINES = {  # leadrank.scoring.segments.DEFAULT_PRODUCT_LINES, plus "other" for no match
    "equipment_maker": ("Equipment maker", "设备制造商"),
    "consumables_maker": ("Consumables maker", "耗材制造商"),
    "stationery_maker": ("Stationery maker", "文具制造商"),
    "other": ("Other", "其他"),
}
MOVEMENTS = {
    "new": ("new", "新增"),
    "up": ("up", "上升"),
    "down": ("down", "下降"),
    "unchanged": ("unchanged", "不变"),
    "returned": ("back on the list", "重新上榜"),
    "dropped": ("dropped out", "退出"),
    "merged": ("merged", "已合并"),
    "not_ranked": ("no longer ranked", "不再排名"),
    "expired": ("no longer listed by any source", "来源不再列出"),
}
SHEETS = {"all": ("All leads", "全部线索"), "dropped": ("Dropped out", "退出名单")}
YES_NO = {True: ("yes", "是"), False: ("no", "否")}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[LANGS.index(lang)]


def column(name: str, lang: str) -> str:
    return _pick(COLUMNS[name], lang) if name in COLUMNS else name


def sheet(name: str, lang: str) -> str:
    return _pick(SHEETS[name], lang)


def segment(code: object, lang: str) -> str:
    if code is None:
        return _pick(("(no segment)", "(未分类)"), lang)
    return _pick(SEGMENTS[code], lang) if code in SEGMENTS else str(code)


def product_line(code: object, lang: str) -> object:
    return _pick(PRODUCT_LINES[code], lang) if code in PRODUCT_LINES else code


def _segment_names(code: str) -> list[str]:
    return [code, *SEGMENTS.get(code, ())]


def find_segment(typed: str, codes: list[str]) -> str:
    """The segment code a person meant by `typed`, among `codes`: its code or label in either
    language, any case (bank_finance, Bank_Finance, 银行金融), else the one segment whose code or
    label contains it (政府 -> government, 金融 -> bank_finance). A ValueError listing the valid
    segments when nothing or more than one segment fits."""
    wanted = typed.strip().casefold()
    exact = [c for c in codes if wanted in (n.casefold() for n in _segment_names(c))]
    partial = [c for c in codes if wanted and any(wanted in n.casefold() for n in _segment_names(c))]
    found = exact or partial
    if len(found) == 1:
        return found[0]
    listed = ", ".join(f"{c} ({SEGMENTS[c][1]})" if c in SEGMENTS else c for c in (found or codes))
    if found:
        raise ValueError(f"segment {typed!r} fits several: {listed}; give one of them")
    raise ValueError(f"unknown segment {typed!r}; the segments are: {listed}")


def movement(code: object, lang: str) -> object:
    return _pick(MOVEMENTS[code], lang) if code in MOVEMENTS else code


def yes_no(value: object, lang: str) -> object:
    return _pick(YES_NO[bool(value)], lang) if value is not None else None


def reasons(reasons_for: object, reasons_against: object, lang: str) -> str:
    """The top reasons in one language, from the JSON lists (+ for, − against)."""
    parts = []
    for sign, blob in (("+", reasons_for), ("−", reasons_against)):
        try:
            items = json.loads(blob) if isinstance(blob, str) and blob else []
        except ValueError:
            items = []
        parts += [f"{sign}{item.get(lang) or item.get('factor')}" for item in items if isinstance(item, dict)]
    return "; ".join(parts)
