"""Phones, emails and websites, reduced to keys that identify a company.

Phones go to E.164 with phonenumbers (region from the record's country, CN when unknown) and
are typed landline or mobile. Emails are lower-cased and checked; free-mail domains (qq.com,
163.com, gmail.com, …) are marked, because a shared free-mail domain says nothing about who a
company is. Websites become their registered domain with tldextract's bundled suffix list
(no network); on platforms that host many companies (1688.com shops, LinkedIn pages) the host
or path is kept instead, so that two shops on one platform never share a key.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers
import tldextract
from phonenumbers import PhoneNumberType

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


@lru_cache(maxsize=500_000)
def normalise_phone(raw: str | None, region: str | None = None) -> tuple[str | None, str | None]:
    """(E.164, type) of the first valid number in `raw`, else (None, None).

    Several numbers in one field ("0755-8888 8888 / 138 0013 8000") are common; the first valid
    one is the record's phone.
    """
    if not raw:
        return None, None
    text = unicodedata.normalize("NFKC", str(raw))[:200]
    region = (region or "CN").upper()
    for part in _PHONE_SPLIT.split(text):
        if not re.search(r"\d{3}", part):
            continue
        try:
            number = phonenumbers.parse(part, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            kind = _PHONE_TYPES.get(phonenumbers.number_type(number), "other")
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), kind
    return None, None


@lru_cache(maxsize=500_000)
def normalise_email(raw: str | None) -> tuple[str | None, str | None, bool]:
    """(email, domain, is_free_mail); (None, None, False) when not a plausible address."""
    if not raw:
        return None, None, False
    text = unicodedata.normalize("NFKC", str(raw)).strip().lower()
    text = text.removeprefix("mailto:").split("?")[0]
    text = re.split(r"[\s;,/、，；]+", text)[0].strip("<>()[]\"'.")
    match = _EMAIL.match(text)
    if not match:
        return None, None, False
    domain = match.group(1)
    return text, domain, domain in FREE_MAIL_DOMAINS or registered_domain(domain) in FREE_MAIL_DOMAINS


@lru_cache(maxsize=500_000)
def registered_domain(host: str) -> str | None:
    ext = _EXTRACT(host)
    if not ext.domain or not ext.suffix:
        return None
    return f"{ext.domain}.{ext.suffix}".lower()


@lru_cache(maxsize=500_000)
def normalise_website(raw: str | None) -> str | None:
    """The key a website gives a company: its registered domain (huaqiang.com.cn), or on
    multi-tenant platforms the tenant's host or path (acme.en.alibaba.com, linkedin.com/company/acme)."""
    if not raw:
        return None
    text = unicodedata.normalize("NFKC", str(raw)).strip().lower()
    text = re.split(r"[\s;,、，；]+", text)[0]
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.split("@")[-1] if "@" in text.split("/")[0] else text
    host, _, path = text.partition("/")
    host = host.split(":")[0].strip(".")
    if not host or "." not in host:
        return None
    domain = registered_domain(host)
    if domain is None:
        return None
    if domain in PLATFORM_DOMAINS:
        sub = host[: -len(domain)].strip(".").removeprefix("www").strip(".")
        if sub and sub not in {"en", "m", "cn", "shop", "zh"}:
            return f"{sub}.{domain}"
        segments = [p for p in path.split("/") if p][:2]
        return f"{domain}/{'/'.join(segments)}" if segments else None
    return domain
