"""Phones, emails and websites, reduced to keys that identify a company.

Phones go to E.164 with phonenumbers (region from the record's country, CN when unknown) and
are typed landline or mobile. Emails are lower-cased and checked; free-mail domains (qq.com,
163.com, gmail.com, …) are marked, because a shared free-mail domain says nothing about who a
company is. Websites become their registered domain with tldextract's bundled suffix list
(no network); on platforms that host many companies (1688.com shops, LinkedIn pages) the host
or path is kept instead, so that two shops on one platform never share a key.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import pycountry
import tldextract
from phonenumbers import PhoneNumberType

from leadrank.transform.names import _strings

FREE_MAIL_DOMAINS = frozenset(
    ["qq.com", "foxmail.com", "163.com", "126.com", "yeah.net", "sina.com", "sina.cn", "sohu.com", "139.com", "189.cn", "wo.cn", "aliyun.com", "tom.com", "21cn.com", "263.net", "yahoo.com", "yahoo.com.cn", "yahoo.cn", "hotmail.com", "outlook.com", "live.com", "msn.com", "gmail.com", "googlemail.com", "icloud.com", "me.com", "mac.com", "aol.com", "gmx.de", "gmx.net", "web.de", "mail.ru", "yandex.ru", "yandex.com", "protonmail.com", "proton.me", "zoho.com", "mail.com", "t-online.de", "orange.fr", "free.fr", "naver.com", "hanmail.net"]
)
# Registered domains whose subdomains or first path segment belong to different companies.
PLATFORM_DOMAINS = frozenset(
    ["1688.com", "alibaba.com", "aliexpress.com", "taobao.com", "tmall.com", "jd.com", "made-in-china.com", "globalsources.com", "linkedin.com", "facebook.com", "weibo.com", "weixin.qq.com", "qq.com", "baidu.com", "sohu.com", "163.com", "sina.com.cn", "wix.com", "wixsite.com", "wordpress.com", "blogspot.com", "github.io", "gitee.io", "site123.me", "squarespace.com", "ec21.com", "tradekey.com", "indiamart.com", "amazon.com"]
)
_EMAIL = re.compile(r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+)$")
_PHONE_SPLIT = re.compile(r"\s*(?:[/;,、，；]|\bor\b|或)\s*")
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

_PHONE_TYPES = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "landline",
    PhoneNumberType.TOLL_FREE: "tollfree",
    PhoneNumberType.VOIP: "voip",
}


def normalise_phone(raw: str | None, region: str | None = None) -> tuple[str | None, str | None]:
    """(E.164, type) of the first valid number in `raw`, else (None, None).

    Several numbers in one field ("0755-8888 8888 / 138 0013 8000") are common; the first valid
    one is the record's phone.
    """
    e164, kind = normalise_phones([raw], [region])
    return e164[0], kind[0]


# The types phonenumbers tries, in its order (phonenumberutil._number_type_helper).
_TYPE_ORDER = ["premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail"]
_FAST_SEPARATORS = re.compile(r"\s*(?:[/;,、，；]|或)\s*")


@lru_cache(maxsize=8)
def _fast_metadata(region: str) -> dict | None:
    """What the fast path needs of a region whose calling code is its own (CN, not the shared +1)."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if meta is None or len(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(meta.country_code, ())) != 1:
        return None
    if meta.national_prefix != "0" or meta.international_prefix != "00" and not meta.international_prefix.startswith("00|"):
        return None

    def desc(d: object) -> tuple[str, list[int]] | None:
        pattern = getattr(d, "national_number_pattern", None)
        return (f"^(?:{pattern})$", list(getattr(d, "possible_length", None) or ())) if pattern else None

    return {"cc": str(meta.country_code), "general": desc(meta.general_desc),
            "special": [desc(getattr(meta, t)) for t in _TYPE_ORDER if desc(getattr(meta, t))],
            "fixed": desc(meta.fixed_line), "mobile": desc(meta.mobile),
            "same": bool(meta.same_mobile_and_fixed_line_pattern)}


def _matches(nsn: pa.Array, length: np.ndarray, desc: tuple[str, list[int]] | None, general: list[int]) -> np.ndarray:
    if desc is None:
        return np.zeros(len(nsn), dtype=bool)
    pattern, lengths = desc
    ok = np.isin(length, lengths or general)
    if ok.any():
        ok &= np.asarray(pc.match_substring_regex(nsn, pattern), dtype=bool)
    return ok


def _fast_phones(raw: pa.Array, region: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(done, e164, type) for the plain forms sources write (0755-83216688, +86 138 0013 8000,
    86-755-…, 0086 …), decided with phonenumbers' own metadata patterns; rows not `done` go to
    phonenumbers itself. Property tests check both paths agree."""
    n = len(raw)
    e164 = np.full(n, None, dtype=object)
    kind = np.full(n, None, dtype=object)
    meta = _fast_metadata(region)
    if meta is None or meta["general"] is None:
        return np.zeros(n, dtype=bool), e164, kind
    first = pc.utf8_trim_whitespace(pc.replace_substring_regex(raw, r"\s*(?:[/;,、，；]|或).*$", ""))
    compact = pc.replace_substring_regex(first, r"[\s\-.()]", "")
    plain = np.asarray(pc.match_substring_regex(compact, r"^\+?[0-9]{7,16}$"), dtype=bool)
    cc = meta["cc"]
    general_lengths = meta["general"][1]
    intl = pc.replace_substring_regex(compact, "^(?:\\+|00)" + cc, "")
    has_intl = np.asarray(pc.match_substring_regex(compact, "^(?:\\+|00)" + cc), dtype=bool)
    national = pc.replace_substring_regex(compact, "^0", "")
    has_national = np.asarray(pc.match_substring_regex(compact, "^0[1-9]"), dtype=bool)
    bare_cc = np.asarray(pc.match_substring_regex(compact, "^" + cc), dtype=bool)
    stripped_cc = pc.utf8_slice_codeunits(compact, len(cc))
    length_full = np.asarray(pc.utf8_length(compact))
    full_general = _matches(compact, length_full, meta["general"], general_lengths)
    length_cc = np.asarray(pc.utf8_length(stripped_cc))
    cc_general = _matches(stripped_cc, length_cc, meta["general"], general_lengths)
    plus = np.asarray(pc.starts_with(compact, "+"), dtype=bool)
    nsn = compact
    nsn = pc.if_else(pa.array(bare_cc & ~full_general & cc_general & ~plus), stripped_cc, nsn)
    nsn = pc.if_else(pa.array(has_national & ~plus), national, nsn)
    nsn = pc.if_else(pa.array(has_intl), intl, nsn)
    decided = plain & (has_intl | ~plus)
    nsn_np = np.asarray(nsn.to_pylist(), dtype=object)
    length = np.asarray(pc.utf8_length(nsn))
    general = _matches(nsn, length, meta["general"], general_lengths)
    special = np.zeros(n, dtype=bool)
    for desc in meta["special"]:
        special |= _matches(nsn, length, desc, general_lengths)
    fixed = _matches(nsn, length, meta["fixed"], general_lengths)
    mobile = _matches(nsn, length, meta["mobile"], general_lengths)
    # Only clear landlines and mobiles are decided here; anything else is phonenumbers' call.
    done = decided & general & ~special & (fixed | mobile) & ~np.asarray(pc.starts_with(nsn, "0"), dtype=bool)
    e164[done] = ["+" + cc + x for x in nsn_np[done]]
    kind[done & fixed] = "landline"
    kind[done & ~fixed & mobile] = "mobile"
    return done, e164, kind


AREA_PLACES = Path(__file__).with_name("cn_area_places.json")


def area_places_from_geocoder() -> dict[str, str]:
    """Chinese landline area code → the place phonenumbers' offline geocoder names for it
    ('755' → '广东省深圳市'); the first place where an area code covers several. What
    cn_area_places.json holds (tests/test_normalisers.py checks it against the installed
    phonenumbers): importing the geocoder's data costs 0.3 CPU seconds, which every normalise
    process paid for a table of 54 entries."""
    from phonenumbers import geocoder

    table = {}
    for code in ["10", *(f"2{d}" for d in range(10)), *(str(c) for c in range(300, 1000))]:
        number = phonenumbers.parse(f"+86{code}62345678")
        place = geocoder.description_for_number(number, "zh").split("、")[0]
        if place and place not in {"中国"}:
            table[code] = place
    return table


@lru_cache(maxsize=1)
def _cn_area_cities() -> dict[str, str]:
    return json.loads(AREA_PLACES.read_text(encoding="utf-8"))["places"]


def phone_places(e164: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """The place a Chinese landline's area code names (None for mobiles and other countries):
    a city for records that name none, and a conflict for two companies of one name."""
    out = np.full(len(e164), None, dtype=object)
    rows = np.flatnonzero(kind == "landline")
    if not len(rows):
        return out
    numbers = _strings(e164[rows])
    area = pc.if_else(pc.match_substring_regex(numbers, r"^\+86[12]"), pc.utf8_slice_codeunits(numbers, 3, 5),
                      pc.utf8_slice_codeunits(numbers, 3, 6))
    area = pc.if_else(pc.starts_with(numbers, "+86"), area, "")
    table = _cn_area_cities()
    codes = pa.array(list(table), pa.string())
    places = np.asarray(list(table.values()) + [None], dtype=object)
    index = np.asarray(pc.index_in(area, value_set=codes).fill_null(len(codes)))
    out[rows] = places[index]
    return out


def normalise_phones(raw: Iterable[object], regions: Iterable[object],
                     guessed: Iterable[bool] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(E.164, type) object arrays for a column of phones and their regions (CN when unknown).
    Common Chinese forms take a vectorised fast path; the rest go through phonenumbers, once per
    distinct (value, region). Rows `guessed` have CN only as a guess (the record gave no
    country): there a Chinese landline must be written as China writes one, with its area
    code's 0 or the country code (020-…, 86 20 …); '(201) 549-4653' or Greece's '21 2334 2139'
    are some other country's numbers written nationally, and reading them as Guangzhou or
    Shanghai would give the record a wrong number, city and country. They get none."""
    text = _strings(raw)
    region = np.asarray([(r or "CN").upper() if isinstance(r, str) else "CN" for r in regions], dtype=object)
    n = len(text)
    e164 = np.full(n, None, dtype=object)
    kind = np.full(n, None, dtype=object)
    present = np.asarray(pc.match_substring_regex(text, r"\d"), dtype=bool)
    todo = present.copy()
    for code in pd.unique(region[present]):
        rows = np.flatnonzero(present & (region == code))
        done, fast_e164, fast_kind = _fast_phones(text.take(pa.array(rows)), code)
        e164[rows[done]] = fast_e164[done]
        kind[rows[done]] = fast_kind[done]
        todo[rows[done]] = False
    if todo.any():
        values = np.asarray(text.to_pylist(), dtype=object)
        for i in np.flatnonzero(todo):
            e164[i], kind[i] = _parse_phone(values[i], region[i])
    if guessed is not None:
        first = pc.replace_substring_regex(text, r"^\s*(?:[^\d+]*)", "")
        compact = pc.replace_substring_regex(first, r"[\s\-.()]", "")
        chinese_form = np.asarray(pc.match_substring_regex(compact, r"^(?:\+|00|0|86)"), dtype=bool)
        unsure = np.asarray(list(guessed), dtype=bool) & (kind == "landline") & ~chinese_form
        unsure &= pd.Series(e164, dtype=object).str.startswith("+86", na=False).to_numpy(dtype=bool)
        e164[unsure] = None
        kind[unsure] = None
    return e164, kind


@lru_cache(maxsize=500_000)
def _parse_phone(raw: str | None, region: str | None = None) -> tuple[str | None, str | None]:
    """phonenumbers on each part of `raw` in turn: the slow path, for the forms the fast path leaves."""
    if not raw:
        return None, None
    text = unicodedata.normalize("NFKC", str(raw))[:200]
    region = (region or "CN").upper()
    for part in _PHONE_SPLIT.split(text):
        if not re.search(r"\d{3}", part):
            continue
        for form, form_region in _prefix_forms(part, region):
            try:
                number = phonenumbers.parse(form, form_region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                kind = _PHONE_TYPES.get(phonenumbers.number_type(number), "other")
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), kind
    return None, None


# International call prefixes in use somewhere (00 nearly everywhere, 011 in North America,
# 0011 Australia, 010 Japan, 001/002/009 some Asian carriers), longest first.
_IDD_PREFIXES = ("0011", "011", "010", "001", "002", "009", "00")


def _prefix_forms(part: str, region: str) -> list[tuple[str, str]]:
    """The ways to read `part`: as written in `region`, then — when it starts with an
    international call prefix that `region` does not use ("0049 30 …" in a US list, the
    "011 49 …" of a North American one in a Chinese list) — as "+" and the rest, with the
    national trunk "(0)" dropped. So 0049…, 00 49 (0)…, 011 49… and +49… are one number."""
    forms = [(part, region)]
    digits = re.sub(r"\(0\)", "", part)
    digits = re.sub(r"[^\d+]", "", digits)
    for prefix in _IDD_PREFIXES:
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 7:
            forms.append(("+" + digits[len(prefix):], "ZZ"))
    return forms


def normalise_email(raw: str | None) -> tuple[str | None, str | None, bool]:
    """(email, domain, is_free_mail); (None, None, False) when not a plausible address."""
    email, domain, free = normalise_emails([raw])
    return email[0], domain[0], bool(free[0])


def _clean_lower(raw: Iterable[object] | pa.Array) -> pa.Array:
    text = pc.utf8_slice_codeunits(_strings(raw), 0, 500)
    return pc.utf8_trim_whitespace(pc.utf8_lower(pc.utf8_normalize(text, "NFKC")))


def normalise_emails(raw: Iterable[object] | pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(email, domain, is_free_mail) arrays for a column of emails: lower-cased, 'mailto:' and
    query dropped, the first of several addresses; None where not a plausible address."""
    text = _clean_lower(raw)
    text = pc.replace_substring_regex(text, r"^mailto:", "")
    text = pc.replace_substring_regex(text, r"\?.*$", "")
    text = pc.replace_substring_regex(text, r"[\s;,/、，；].*$", "")
    text = pc.utf8_trim(text, "<>()[]\"'.")
    valid = np.asarray(pc.match_substring_regex(text, _EMAIL.pattern), dtype=bool)
    email = np.full(len(text), None, dtype=object)
    domain = np.full(len(text), None, dtype=object)
    email[valid] = text.filter(pa.array(valid)).to_pylist()
    domain[valid] = [e.rsplit("@", 1)[1] for e in email[valid]]
    free = np.zeros(len(text), dtype=bool)
    if valid.any():
        domains = pa.array(list(domain[valid]), pa.string())
        free_set = pa.array(sorted(FREE_MAIL_DOMAINS), pa.string())
        registered = pa.array(list(registered_domains(domains)), pa.string())
        free[valid] = np.asarray(pc.or_(pc.is_in(domains, value_set=free_set),
                                        pc.is_in(registered, value_set=free_set)).fill_null(False), dtype=bool)
    return email, domain, free


@lru_cache(maxsize=1)
def _suffixes() -> frozenset[str]:
    """The public suffix list that tldextract bundles (ICANN section; no network)."""
    return frozenset(_EXTRACT._get_tld_extractor().tlds())


@lru_cache(maxsize=1_000_000)
def registered_domain(host: str) -> str | None:
    """The registered domain of a host (huaqiang.com.cn for www.huaqiang.com.cn), by the public
    suffix list's rules (longest rule wins, wildcards, exceptions); what tldextract gives, at a
    fraction of its cost, which matters at a million hosts (a test checks both agree)."""
    labels = host.lower().strip(".").split(".")
    if len(labels) < 2 or not all(labels) or "xn--" in host or not host.isascii():
        return _tldextract_domain(host)  # internationalised names: tldextract decodes them
    suffixes = _suffixes()
    size = 0
    for k in range(1, min(len(labels), 6) + 1):
        candidate = ".".join(labels[-k:])
        if "!" + candidate in suffixes:
            size = k - 1
            break
        if candidate in suffixes or (k > 1 and "*." + ".".join(labels[-k + 1:]) in suffixes):
            size = k
    if size == 0 or size >= len(labels):
        return None
    return ".".join(labels[-size - 1:])


@lru_cache(maxsize=1)
def _suffix_arrays() -> tuple[pa.Array, pa.Array]:
    """(plain rules, bases of wildcard and exception rules) of the suffix list, for Arrow lookups."""
    rules = _suffixes()
    plain = sorted(r for r in rules if not r.startswith(("*.", "!")))
    special = sorted({r[2:] for r in rules if r.startswith("*.")} | {r[1:] for r in rules if r.startswith("!")})
    return pa.array(plain, pa.string()), pa.array(special, pa.string())


def _last_labels(hosts: pa.Array, k: int) -> pa.Array:
    return pc.extract_regex(hosts, r"(?P<x>" + r"\.".join(["[^.]+"] * k) + r")$").flatten()[0]


def registered_domains(hosts: pa.Array) -> np.ndarray:
    """`registered_domain` for a column of lower-case hosts. Hosts whose last three labels meet
    only plain suffix rules are decided with Arrow set lookups; the others (wildcard and
    exception rules, four-label suffixes, internationalised names) go through the scalar rules."""
    n = len(hosts)
    out = np.full(n, None, dtype=object)
    if not n:
        return out
    plain, special = _suffix_arrays()
    d1, d2, d3 = (_last_labels(hosts, k) for k in (1, 2, 3))
    p1, p2, p3 = (np.asarray(pc.is_in(d, value_set=plain).fill_null(False), dtype=bool) for d in (d1, d2, d3))
    odd = np.zeros(n, dtype=bool)
    for d in (d1, d2, d3):
        odd |= np.asarray(pc.is_in(d, value_set=special).fill_null(False), dtype=bool)
    well_formed = np.asarray(pc.and_(pc.string_is_ascii(hosts),
                                     pc.match_substring_regex(hosts, r"^[a-z0-9_-]+(?:\.[a-z0-9_-]+)+$")), dtype=bool)
    well_formed &= ~np.asarray(pc.match_substring(hosts, "xn--"), dtype=bool)
    fast = well_formed & ~odd & ~p3
    two, three = np.asarray(d2.to_pylist(), dtype=object), np.asarray(d3.to_pylist(), dtype=object)
    out[fast & p2] = three[fast & p2]
    out[fast & ~p2 & p1] = two[fast & ~p2 & p1]
    values = hosts.to_pylist()
    for i in np.flatnonzero(~fast):
        out[i] = registered_domain(values[i]) if values[i] else None
    return out


def _tldextract_domain(host: str) -> str | None:
    ext = _EXTRACT(host)
    if not ext.domain or not ext.suffix:
        return None
    return f"{ext.domain}.{ext.suffix}".lower()


def normalise_website(raw: str | None) -> str | None:
    """The key a website gives a company: its registered domain (huaqiang.com.cn), or on
    multi-tenant platforms the tenant's host or path (acme.en.alibaba.com, linkedin.com/company/acme)."""
    return normalise_websites([raw])[0]


def normalise_websites(raw: Iterable[object] | pa.Array) -> np.ndarray:
    """`normalise_website` for a column: the URL is cut to its host (scheme, user, port and path
    dropped) in Arrow, then each distinct host's registered domain is looked up once."""
    text = _clean_lower(raw)
    text = pc.replace_substring_regex(text, r"[\s;,、，；].*$", "")
    text = pc.replace_substring_regex(text, r"^[a-z][a-z0-9+.-]*://", "")
    found = pc.extract_regex(text, r"^(?:[^/@]*@)?(?P<host>[^/:]*)(?::[^/]*)?(?P<path>/.*)?$").flatten()
    host = pc.utf8_trim(found[0].fill_null(""), ".")
    path = found[1].fill_null("")
    usable = np.asarray(pc.match_substring(host, "."), dtype=bool)
    out = np.full(len(text), None, dtype=object)
    rows = np.flatnonzero(usable)
    domains = registered_domains(host.take(pa.array(rows)))
    out[rows] = domains
    platform = np.flatnonzero(np.isin(domains, list(PLATFORM_DOMAINS)))
    if len(platform):
        hosts, paths = host.to_pylist(), path.to_pylist()
        for k in platform:
            i = rows[k]
            out[i] = _platform_key(hosts[i], paths[i], domains[k])
    return out


def _platform_key(host: str, path: str, domain: str) -> str | None:
    """On a platform hosting many companies, the tenant: its subdomain or first path segments."""
    sub = host[: -len(domain)].strip(".").removeprefix("www").strip(".")
    if sub and sub not in {"en", "m", "cn", "shop", "zh"}:
        return f"{sub}.{domain}"
    segments = [p for p in path.split("/") if p][:2]
    return f"{domain}/{'/'.join(segments)}" if segments else None


# A phone written with its country code: "+49 …", "(+852) …", "Tel: 0049 …". A number written
# nationally says nothing about the country (it was parsed with the record's or the default one).
_INTERNATIONAL = re.compile(r"^[^\d+]*(?:\+|00(?=\s*[1-9]))")
# Country-code top-level domains sold as generic names (.io, .co, .ai, .tv …) or shared by
# many countries (.eu): a website there says nothing about where the company is.
_GENERIC_CCTLDS = frozenset({"io", "co", "ai", "tv", "me", "cc", "fm", "ly", "to", "ws", "gg", "la", "nu", "sh",
                             "ac", "vc", "gd", "am", "so", "tk", "ml", "ga", "cf", "gq", "eu", "su"})


def phone_countries(raw: Iterable[object], e164: Iterable[object]) -> np.ndarray:
    """Per row, the ISO alpha-2 country of a phone written with its country code (+49 → DE,
    +852 → HK, +1 by its area code), else None."""
    out = np.full(len(e164 := np.asarray(list(e164), dtype=object)), None, dtype=object)
    for i, (text, number) in enumerate(zip(raw, e164, strict=True)):
        if isinstance(number, str) and isinstance(text, str) and _INTERNATIONAL.match(unicodedata.normalize("NFKC", text)):
            out[i] = _number_country(number)
    return out


@lru_cache(maxsize=65536)
def _number_country(e164: str) -> str | None:
    region = phonenumbers.region_code_for_number(phonenumbers.parse(e164))
    return region if region and region.isalpha() else None  # "001": a non-geographic number


def domain_countries(domains: Iterable[object]) -> np.ndarray:
    """Per row, the ISO alpha-2 country a domain's country-code top-level domain names
    (huaqiang.com.cn → CN, acme.co.uk → GB), else None: weak evidence, taken after what a
    record states and a phone written with its country code."""
    return np.asarray([_tld_country(d) if isinstance(d, str) else None for d in domains], dtype=object)


@lru_cache(maxsize=65536)
def _tld_country(domain: str) -> str | None:
    tld = domain.split("/", 1)[0].rsplit(".", 1)[-1].lower()
    if len(tld) != 2 or tld in _GENERIC_CCTLDS:
        return None
    tld = "gb" if tld == "uk" else tld
    return tld.upper() if pycountry.countries.get(alpha_2=tld.upper()) else None
