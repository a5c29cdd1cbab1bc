"""Country names → ISO 3166 alpha-2, in English and Chinese, for both stages that need them.

Extraction asks whether an address' last line names a country (`line_country`: the whole line
must be a country's name, so that "Neuss" or a US state's "CA" never counts); normalisation
turns a declared `country` value into a code (`country_code`: also codes such as "DE" or
"(CN)" and a name inside a longer Chinese text, "中国广东"). Names come from pycountry (ISO
names, official and common names, and its zh_CN / zh_TW / zh_HK translations), plus the short
and everyday forms that lists actually print (UK, P.R. China, 韩国, 中国香港, Hong Kong SAR).
Hong Kong, Macao and Taiwan have their own ISO codes (HK, MO, TW), and are kept apart from CN
as ISO, phone numbering and trade-fair lists all keep them apart.
"""

from __future__ import annotations

import gettext
import re
import unicodedata
from functools import lru_cache

import pycountry

# Everyday English (and a few native) forms pycountry does not know (keys as `_key` folds them).
_EN_ALIASES = {
    "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "usa": "US", "us": "US", "america": "US", "united states of america": "US",
    "prc": "CN", "pr china": "CN", "p r china": "CN", "peoples republic of china": "CN", "china mainland": "CN",
    "mainland china": "CN", "china prc": "CN", "korea": "KR", "republic of korea": "KR", "korea south": "KR",
    "korea republic": "KR", "north korea": "KP", "russia": "RU", "taiwan roc": "TW", "roc": "TW",
    "chinese taipei": "TW", "taiwan china": "TW", "hong kong sar": "HK", "hong kong china": "HK", "hongkong": "HK",
    "hk sar": "HK", "macau": "MO", "macao sar": "MO", "macau sar": "MO", "macau china": "MO", "macao china": "MO",
    "uae": "AE", "turkey": "TR", "holland": "NL", "the netherlands": "NL", "czech republic": "CZ",
    "ivory coast": "CI", "swaziland": "SZ", "burma": "MM", "vatican": "VA", "vatican city": "VA",
    "macedonia": "MK", "cape verde": "CV", "east timor": "TL", "brunei": "BN", "laos": "LA", "syria": "SY",
    "iran": "IR", "vietnam": "VN", "moldova": "MD", "tanzania": "TZ", "venezuela": "VE", "bolivia": "BO",
    "palestine": "PS", "micronesia": "FM", "saudi": "SA", "ksa": "SA",
    # endonyms that fairs print on their own visitors' lists
    "deutschland": "DE", "osterreich": "AT", "schweiz": "CH", "suisse": "CH", "svizzera": "CH", "espana": "ES",
    "italia": "IT", "brasil": "BR", "nederland": "NL", "polska": "PL", "belgique": "BE", "belgie": "BE",
    "danmark": "DK", "sverige": "SE", "norge": "NO", "suomi": "FI", "cesko": "CZ", "ceska republika": "CZ",
    "magyarorszag": "HU", "portugal": "PT", "россия": "RU", "日本国": "JP", "대한민국": "KR", "한국": "KR",
}
# Everyday Chinese forms beyond pycountry's translations.
_ZH_ALIASES = {
    "中华人民共和国": "CN", "中国大陆": "CN", "中国内地": "CN", "大陆": "CN", "中國大陸": "CN",
    "中国香港": "HK", "香港特别行政区": "HK", "中國香港": "HK", "香港特別行政區": "HK",
    "中国澳门": "MO", "澳门特别行政区": "MO", "中國澳門": "MO", "澳門特別行政區": "MO", "澳门": "MO",
    "中国台湾": "TW", "台湾": "TW", "台灣": "TW", "中國台灣": "TW", "中华台北": "TW", "中華台北": "TW", "臺灣": "TW",
    "韩国": "KR", "南韩": "KR", "韓國": "KR", "南韓": "KR", "朝鲜": "KP", "北韩": "KP", "俄罗斯联邦": "RU",
    "阿拉伯联合酋长国": "AE", "沙特": "SA", "沙特阿拉伯": "SA", "新西兰": "NZ", "捷克共和国": "CZ", "伊朗": "IR",
    "越南": "VN", "老挝": "LA", "叙利亚": "SY", "土耳其": "TR", "美利坚合众国": "US",
}
# Chinese provinces-level names that are not mainland China (cpca and the region table call
# them 香港特别行政区 …): a record placed there is in HK, MO or TW, not CN.
NON_MAINLAND_PROVINCES = {"香港特别行政区": "HK", "澳门特别行政区": "MO", "台湾省": "TW"}
_HAN = re.compile(r"[\u4e00-\u9fff]")
_PIECES = re.compile(r"\s*[/|,，、()（）]\s*|\s+(?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff])\s*(?=[A-Za-z])")


def _key(text: str) -> str:
    """Comparison form: NFKC, lower-case, accents and punctuation (dots, apostrophes) folded."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"[.'’`]", "", text)
    text = re.sub(r"[^\w\u4e00-\u9fff]+", " ", text).strip()
    return re.sub(r"^the ", "", text)


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    """Every known country name (folded) → alpha-2. Codes are not names: see `country_code`."""
    names: dict[str, str] = {}
    translations = [gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True)
                    for lang in ("zh_CN", "zh_TW", "zh_HK")]
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            name = getattr(country, attr, None)
            if not name:
                continue
            names.setdefault(_key(name), country.alpha_2)
            for translation in translations:
                names.setdefault(_key(translation.gettext(name)), country.alpha_2)
    names.update({_key(k): v for k, v in _EN_ALIASES.items()})
    names.update({_key(k): v for k, v in _ZH_ALIASES.items()})
    return names


@lru_cache(maxsize=1)
def _codes() -> dict[str, str]:
    codes = {c.alpha_2.lower(): c.alpha_2 for c in pycountry.countries}
    codes.update({c.alpha_3.lower(): c.alpha_2 for c in pycountry.countries})
    return codes


@lru_cache(maxsize=4096)
def line_country(line: str | None) -> str | None:
    """The alpha-2 code of a line that is a country's name and nothing else ("Germany",
    "德国", "Hong Kong SAR", "Germany / 德国"), else None. Codes alone do not count here: an
    address' last line "CA" is California as often as Canada."""
    if not line:
        return None
    key = _key(line)
    if key in _names():
        return _names()[key]
    pieces = [p for p in _PIECES.split(line) if p and p.strip()]
    if len(pieces) < 2:
        return None
    found = {_names().get(_key(p)) for p in pieces}
    if "US" in found:  # "Georgia, USA": a state of the US beside the US names the US
        found = {_names().get(_key(p)) for p in pieces if _key(p) not in _us_states()}
    return found.pop() if len(found) == 1 and None not in found else None


def ambiguous_line(line: str) -> bool:
    """Whether a line alone is both a country's name and a US state's ("Georgia"): as an
    address' last line it places the record nowhere (DSEI's US exhibitors' addresses
    end "…\nGeorgia\n30005\nUnited States"; cut one line shorter, "Georgia" is the state), so
    stronger evidence (phone, USCC, domain) decides the country instead."""
    return _key(line) in _us_states() and _key(line) in _names()


@lru_cache(maxsize=1)
def _us_states() -> frozenset[str]:
    """Folded names of US states and districts from pycountry; territories with an ISO code of
    their own (Puerto Rico → PR, Guam → GU) are left out, their name places them rightly."""
    return frozenset(_key(s.name) for s in pycountry.subdivisions.get(country_code="US")
                     if _names().get(_key(s.name)) != s.code.split("-")[1])


@lru_cache(maxsize=4096)
def country_code(raw: str | None) -> str | None:
    """ISO 3166 alpha-2 of a declared country value: a name (English or Chinese, as
    `line_country`; in a value of several lines, the last), a code ("DE", "DEU", "China 中国
    (CN)"), or a Chinese text that names a country ("中国广东"; the longest name found wins).
    None when it names none."""
    if not raw:
        return None
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    last = text.rsplit("\n", 1)[-1]
    named = line_country(text) or (None if ambiguous_line(last) else line_country(last))  # an address pasted as the country
    if named:
        return named
    code = re.search(r"\(([A-Za-z]{2})\)", text)
    if code and code.group(1).lower() in _codes():
        return code.group(1).upper()
    if re.fullmatch(r"[A-Za-z]{2,3}", text) and text.lower() in _codes():
        return _codes()[text.lower()]
    if _HAN.search(text):
        key = _key(text)
        found = [(len(name), iso) for name, iso in _names().items() if _HAN.search(name) and name in key]
        if found:
            return max(found)[1]
    return None
