"""Stage 2, normalise: EXTRACTED records → NORMALISED records (see leadrank.contracts).

Every normaliser runs once per distinct value (sources repeat countries, cities, domains and
legal forms endlessly), then the results are mapped back; this keeps a night of a million rows
in seconds. Nothing is dropped here: a value that cannot be used becomes None plus a flag.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import cpca
import pandas as pd
import pycountry

from leadrank.contracts import EXTRACTED, NORMALISED, require
from leadrank.transform.contacts import normalise_email, normalise_phone, normalise_website
from leadrank.transform.identifiers import normalise_uscc
from leadrank.transform.names import clean, parse_name
from leadrank.transform.regions import regions

_ZH_COUNTRIES = {
    "中国": "CN", "中华人民共和国": "CN", "中国大陆": "CN", "中国香港": "HK", "香港": "HK", "中国澳门": "MO",
    "澳门": "MO", "中国台湾": "TW", "台湾": "TW", "美国": "US", "英国": "GB", "德国": "DE", "法国": "FR",
    "日本": "JP", "韩国": "KR", "俄罗斯": "RU", "意大利": "IT", "加拿大": "CA", "澳大利亚": "AU",
    "新加坡": "SG", "印度": "IN", "巴西": "BR", "西班牙": "ES", "荷兰": "NL", "瑞士": "CH", "瑞典": "SE",
}
_COUNTRY_ALIASES = {"uk": "GB", "u.k.": "GB", "england": "GB", "usa": "US", "u.s.a.": "US", "u.s.": "US",
                    "prc": "CN", "p.r.china": "CN", "p.r. china": "CN", "korea": "KR", "south korea": "KR",
                    "russia": "RU", "taiwan": "TW", "hong kong": "HK", "macau": "MO", "uae": "AE"}
_ADDRESS_ABBREVIATIONS = {
    "street": "st", "avenue": "ave", "road": "rd", "boulevard": "blvd", "drive": "dr", "place": "pl",
    "suite": "ste", "north": "n", "south": "s", "east": "e", "west": "w", "building": "bldg", "floor": "fl",
}
_WORD = re.compile(r"[a-z0-9]+|[\u3400-\u9fff]+")


@lru_cache(maxsize=4096)
def country_iso2(raw: str | None) -> str | None:
    """ISO 3166 alpha-2 from '(CN)', 'CN', 'China 中国 (CN)', 'Germany', '德国', 'UK' …"""
    if not raw:
        return None
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    lowered = text.lower()
    if lowered in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[lowered]
    code = re.search(r"\(([A-Za-z]{2})\)", text)
    if code:
        return code.group(1).upper()
    if re.fullmatch(r"[A-Za-z]{2}", text):
        return text.upper()
    for zh, iso in _ZH_COUNTRIES.items():
        if zh in text:
            return iso
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        return None


@lru_cache(maxsize=200_000)
def address_key(raw: str | None) -> str | None:
    """Comparison form of an address: simplified, lower-case, words abbreviated, punctuation gone."""
    text = clean(raw).lower()
    if not text:
        return None
    words = [_ADDRESS_ABBREVIATIONS.get(w, w) for w in _WORD.findall(text)]
    return " ".join(words) or None


def _map_unique(values: pd.Series, func: Callable[..., Any]) -> pd.Series:
    """func applied once per distinct value (None for missing), mapped back onto the rows."""
    keys = values.astype(object).where(values.notna(), None)
    uniques = pd.unique(keys)
    table = {value: func(value) for value in uniques}
    return keys.map(lambda v: table[v])


def _split(series: pd.Series, width: int) -> list[pd.Series]:
    frame = pd.DataFrame(series.tolist(), index=series.index)
    return [frame[i] if i in frame.columns else pd.Series(None, index=series.index) for i in range(width)]


def _addresses(address: pd.Series) -> pd.DataFrame:
    """(province, city) from Chinese addresses with cpca; other addresses give nothing here."""
    out = pd.DataFrame({"province": None, "city": None}, index=address.index, dtype=object)
    has_han = address.map(lambda v: v if isinstance(v, str) else "").str.contains(r"[\u4e00-\u9fff]", regex=True)
    if not has_han.any():
        return out
    values = address[has_han].astype(str).map(clean)
    uniques = pd.unique(values)
    parsed = cpca.transform(list(uniques))
    table = {}
    for value, province, city in zip(uniques, parsed["省"], parsed["市"], strict=True):
        city = province if city == "市辖区" else city
        table[value] = (province or None, city or None)
    out.loc[has_han, "province"] = values.map(lambda v: table[v][0])
    out.loc[has_han, "city"] = values.map(lambda v: table[v][1])
    return out


def _first(*series: pd.Series) -> pd.Series:
    result = series[0].astype(object)
    for other in series[1:]:
        result = result.where(result.notna() & (result != ""), other)
    return result.where(result.notna() & (result != ""), None)


def normalise_records(records: pd.DataFrame) -> pd.DataFrame:
    """EXTRACTED → NORMALISED. Pure: same input, same output; never raises on odd values."""
    require(records, EXTRACTED, "normalise")
    out = records[EXTRACTED].astype(object)
    out = out.where(out.notna(), None)  # one missing value: None (not NaN, NA or NaT)
    flags: list[pd.Series] = []

    names = _map_unique(out["company_name"], parse_name)
    out["name_norm"] = names.map(lambda p: p.display or None)
    out["name_core"] = names.map(lambda p: p.core or None)
    out["name_alt_core"] = _map_unique(out["company_name_alt"], lambda v: parse_name(v).core or None)
    out["name_lang"] = names.map(lambda p: p.lang)
    out["legal_form"] = names.map(lambda p: p.legal_form or None)
    out["is_branch"] = names.map(lambda p: p.is_branch)
    flags.append(names.map(lambda p: ";".join(p.flags)))

    out["country_iso2"] = _map_unique(out["country"], country_iso2)

    uscc = _map_unique(out["uscc"], normalise_uscc)
    out["uscc_norm"], out["uscc_valid"] = _split(uscc, 2)
    out["uscc_valid"] = out["uscc_valid"].fillna(False).astype(bool)
    flags.append(out["uscc_norm"].notna() & ~out["uscc_valid"])
    flags[-1] = flags[-1].map({True: "uscc_invalid", False: ""})
    # A Chinese code says the company is Chinese.
    out.loc[out["uscc_valid"] & out["country_iso2"].isna(), "country_iso2"] = "CN"

    region = out["country_iso2"].fillna("CN")
    phone_inputs = pd.Series(list(zip(out["phone"], region, strict=True)), index=out.index)
    phones = _map_unique(phone_inputs, lambda pair: normalise_phone(str(pair[0]) if pair[0] else None, pair[1]))
    out["phone_e164"], out["phone_type"] = _split(phones, 2)
    flags.append((out["phone"].notna() & out["phone_e164"].isna()).map({True: "phone_invalid", False: ""}))

    emails = _map_unique(out["email"], normalise_email)
    out["email_norm"], out["email_domain"], out["email_free"] = _split(emails, 3)
    out["email_free"] = out["email_free"].fillna(False).astype(bool)
    flags.append((out["email"].notna() & out["email_norm"].isna()).map({True: "email_invalid", False: ""}))

    out["domain"] = _map_unique(out["website"], normalise_website)
    # A company email on its own domain is as good as a website.
    company_mail = out["email_domain"].where(~out["email_free"], None)
    out["domain"] = _first(out["domain"], company_mail.map(lambda d: normalise_website(d) if d else None))

    given = _map_unique(out["province"], lambda v: regions().resolve(clean(v))[0] if v else None)
    given_city = _map_unique(out["city"], lambda v: regions().resolve(clean(v)) if v else (None, None))
    addr = _addresses(out["address"])
    out["province_norm"] = _first(
        given,
        given_city.map(lambda pc: pc[0]),
        addr["province"],
        names.map(lambda p: p.province),
        out["province"].map(lambda v: clean(v) or None if isinstance(v, str) else None),
    )
    out["city_norm"] = _first(
        given_city.map(lambda pc: pc[1]),
        addr["city"],
        names.map(lambda p: p.city),
        out["city"].map(lambda v: clean(v) or None if isinstance(v, str) else None),
    )
    out.loc[out["province_norm"].notna() & out["country_iso2"].isna(), "country_iso2"] = "CN"
    out["address_norm"] = _map_unique(out["address"], address_key)

    joined = pd.concat(flags, axis=1).astype(str).agg(";".join, axis=1)
    out["flags"] = joined.str.replace(r";{2,}", ";", regex=True).str.strip(";")
    return out[NORMALISED]
