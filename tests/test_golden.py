"""Golden records follow the survivorship rules of leadrank.transform.golden exactly, whatever the
records' order, dtypes or how the leads are cut into parts: checked against those rules written
out record by record, lead by lead, on generated records with every kind of gap."""

import numpy as np
import pandas as pd
import pytest

from leadrank.transform import golden
from leadrank.transform.golden import COMPLETENESS, DEFAULT_TRUST, golden_records

TRUST = {"assoc-b": 5}
CHINESE = ["华强电子", "博达软件", "深圳华强"]
ENGLISH = ["Huaqiang Electronics", "Boda Soft", "ACME GmbH"]


def _generated(n: int, n_leads: int, seed: int) -> pd.DataFrame:
    """Resolved records (the columns golden records read) with missing values everywhere, names
    of both languages (alternatives too), valid and invalid 统一社会信用代码, free and company emails."""
    rng = np.random.default_rng(seed)

    def pick(values: list, missing: float = 0.3) -> np.ndarray:
        chosen = np.asarray(values, dtype=object)[rng.integers(0, len(values), n)]
        chosen[rng.random(n) < missing] = None
        return chosen

    names = CHINESE + ENGLISH
    frame = pd.DataFrame({
        "record_key": [f"r{k:04d}" for k in rng.permutation(n)],
        "lead_id": pick([f"L{k:03d}" for k in range(n_leads)], missing=0.02),
        "source": pick(["expo-a", "assoc-b", "web-c", "Expo-d", "展会e"], missing=0.05),
        "source_kind": pick(["exhibition", "association", "websearch"], missing=0.1),
        **{c: pick([f"{c}-{k}" for k in range(4)], missing=0.5) for c in COMPLETENESS},
        "name_norm": pick(names), "name_lang": pick(["zh", "en"], missing=0.2),
        "company_name_alt": pick([*names, "华强 Electronics", "Ünïcode GmbH"], missing=0.6),
        "name_core": pick(["huaqiang", "boda", "华强", "acme"]), "name_alt_core": pick(["华强", "boda"], missing=0.5),
        "legal_form": pick(["ltd", "gmbh"]), "domain": pick(["a.com", "b.cn"], missing=0.5),
        "phone_e164": pick(["+8675583216688", "+4930123456"], missing=0.5),
        "phone_type": pick(["fixed_line", "mobile"], missing=0.4),
        "uscc_norm": pick(["91440300MA5ABCDE1H", "91350100M000100Y43", "911240854256ADCPK"], missing=0.6),
        "uscc_valid": rng.random(n) < 0.5,
        "email_norm": pick(["a@163.com", "sales@a.com", "b@qq.com", "info@b.cn"], missing=0.5),
        "email_free": rng.random(n) < 0.5,
        "country_iso2": pick(["CN", "DE"]), "province_norm": pick(["广东省", "Bayern"]), "city_norm": pick(["深圳", "München"]),
        "industry": pick(["电子", "software"]), "products": pick(["cables", "chips"]), "member_level": pick(["理事", "会员"]),
        "is_branch": rng.random(n) < 0.2,
        "seen_tonight": rng.random(n) < 0.7,
        "nights_unlisted": rng.integers(0, 3, n),
        "fetched_at": pick([f"2026-01-0{d}T00:00:0{s}+00:00" for d in (1, 2) for s in (1, 2)], missing=0.2),
    })
    return frame


def _by_rules(records: pd.DataFrame, trust: dict[str, int]) -> pd.DataFrame:
    """The golden records, as the module docstring and LEADS say, one lead at a time."""
    def trust_of(row: pd.Series) -> int:
        if row["source"] in trust:
            return trust[row["source"]]
        return DEFAULT_TRUST.get(row["source_kind"], 0)

    def first(values: list) -> object:
        return next((v for v in values if v is not None), None)

    def has_chinese(text: object) -> bool:
        return isinstance(text, str) and any("\u4e00" <= ch <= "\u9fff" for ch in text)

    valid = set(records.loc[records["uscc_valid"] & records["uscc_norm"].notna(), "uscc_norm"])
    by_lead: dict[str, list[dict]] = {}
    for row in _plain(records):
        if row["lead_id"] is not None:
            by_lead.setdefault(row["lead_id"], []).append(row)
    leads = []
    for lead, group in sorted(by_lead.items()):
        ranked = sorted(group, key=lambda row: (
            -trust_of(row), -sum(row[c] is not None for c in COMPLETENESS), row["nights_unlisted"],
            (row["source"] is None, row["source"] or ""), row["record_key"]))

        def own_else_alt(lang: str, own: str, alt: str, alt_fits, rows=ranked) -> object:
            return first([r[own] if r["name_lang"] == lang and r[own] is not None else
                          r[alt] if alt_fits(r["company_name_alt"]) else None for r in rows])

        zh = own_else_alt("zh", "name_norm", "company_name_alt", has_chinese)
        en = own_else_alt("en", "name_norm", "company_name_alt",
                          lambda t: isinstance(t, str) and t != "" and all(ord(ch) < 128 for ch in t))
        core_zh = own_else_alt("zh", "name_core", "name_alt_core", has_chinese)
        uscc = first([r["uscc_norm"] for r in ranked if r["uscc_valid"]]) or first([r["uscc_norm"] for r in ranked])
        sources = sorted({r["source"] for r in ranked if r["source"] is not None})
        times = sorted(r["fetched_at"] for r in ranked if r["fetched_at"] is not None)
        leads.append({
            "lead_id": lead, "company_name": zh or first([r["name_norm"] for r in ranked]),
            "company_name_zh": zh, "name_core_zh": core_zh, "company_name_en": en,
            **{field: first([r[column] for r in ranked]) for field, column in golden.FIRST_VALUE.items()},
            "website": first([r["website"] for r in ranked if r["domain"] is not None]),
            "phone_type": first([r["phone_type"] for r in ranked if r["phone_e164"] is not None]),
            "uscc": uscc, "uscc_valid": uscc in valid,
            "email": first([r["email_norm"] for r in ranked if not r["email_free"]]) or
            first([r["email_norm"] for r in ranked]),
            "is_branch": all(r["is_branch"] for r in ranked),
            "sources": ";".join(sources) or None,
            "source_kinds": ";".join(sorted({r["source_kind"] for r in ranked if r["source_kind"] is not None})) or None,
            "n_sources": len(sources), "n_records": len(ranked),
            "exhibitions": len({r["source"] for r in ranked if r["source_kind"] == "exhibition" and r["source"]}),
            "first_fetched_at": times[0] if times else None, "last_fetched_at": times[-1] if times else None,
        })
    return pd.DataFrame(leads)


def _plain(leads: pd.DataFrame) -> list[dict]:
    out = leads.astype(object)
    return out.where(out.notna(), None).to_dict("records")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_golden_records_follow_the_survivorship_rules(seed, monkeypatch):
    records = _generated(600, 150, seed)
    expected = _plain(_by_rules(records, TRUST)[golden.LEADS])
    assert _plain(golden_records(records, TRUST)) == expected
    # In another order, with the text Arrow-backed, cut into parts of a few leads each.
    monkeypatch.setattr(golden, "GOLDEN_PART_ROWS", 17)
    shuffled = records.sample(frac=1, random_state=seed).reset_index(drop=True)
    text = [c for c in shuffled.columns if shuffled[c].dtype == object]
    assert _plain(golden_records(shuffled.astype({c: "str" for c in text}), TRUST)) == expected
    parts = list(golden.golden_parts(shuffled, TRUST))
    assert len(parts) > 10 and all(p["lead_id"].is_monotonic_increasing for p in parts)


def test_identifiers_prefer_quality_to_survivorship_order():
    """The most trusted record's invalid 统一社会信用代码 and free-mail address lose to a less
    trusted record's valid code and company address (the module docstring's rule)."""
    records = _generated(2, 1, 7)
    records["lead_id"], records["source_kind"], records["source"] = "L1", ["association", "websearch"], ["a", "w"]
    records["uscc_norm"] = ["91350100M000100Y4X", "91350100M000100Y43"]
    records["uscc_valid"] = [False, True]
    records["email_norm"], records["email_free"] = ["boss@163.com", "sales@huaqiang.cn"], [True, False]
    records["name_norm"], records["name_lang"], records["company_name_alt"] = ["华强电子", "Huaqiang"], ["zh", "en"], None
    lead = golden_records(records).iloc[0]
    assert lead["uscc"] == "91350100M000100Y43" and lead["uscc_valid"]
    assert lead["email"] == "sales@huaqiang.cn"
    assert lead["company_name"] == "华强电子" and lead["company_name_en"] == "Huaqiang"  # names: the order alone
    records["uscc_valid"] = False
    records["email_free"] = True
    lead = golden_records(records).iloc[0]
    assert lead["uscc"] == "91350100M000100Y4X" and not lead["uscc_valid"] and lead["email"] == "boss@163.com"


def test_no_records_make_no_leads():
    leads = golden_records(_generated(5, 2, 3).iloc[:0])
    assert leads.empty and list(leads.columns) == golden.LEADS
