"""Enrichment of a web-search candidate from its own site: the homepage and its contact page,
fetched through the same polite fetch layer, read for what Chinese company sites show in their
contact blocks and footers: emails, phone numbers, the 统一社会信用代码, the ICP备案 number and
the company's registered name (in the copyright line).

Values are kept as found on the page (normalisation is the next stage). Only pages of the
candidate's own site are read: a contact link to another host is not followed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from bs4 import BeautifulSoup

from leadrank.extractors.fetch.fetcher import Fetcher
from leadrank.extractors.fetch.result import FetchError
from leadrank.extractors.fields import node_text
from leadrank.extractors.pages import safe_link
from leadrank.extractors.parsers import soup

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][\w.+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?![\w-])")
_ASSET_SUFFIX = re.compile(r"\.(?:png|jpe?g|gif|svg|webp|css|js)$", re.I)
_USCC = re.compile(r"(?:统一社会信用代码|社会信用代码|信用代码)\s*[:：]?\s*([0-9A-HJ-NPQRTUWXY]{18})(?![0-9A-Z])", re.I)
_ICP = re.compile(r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]\s*ICP\s*[备证]\s*\d{6,12}\s*号?(?:\s*-\s*\d{1,3})?", re.I)
_COMPANY = re.compile(
    r"[\u4e00-\u9fff（）()]{2,40}?(?:股份有限公司|有限责任公司|有限公司|集团|研究所|研究院|公司|厂)"
)
_COPYRIGHT = re.compile(r"(?:版权所有|copyright|©|\(c\))", re.I)
_CONTACT_LINK = re.compile(r"联系我们|联系方式|contact", re.I)
FOOTER_SELECTORS = ("footer", "#footer", ".footer", "[class*=footer]", "[id*=footer]", "#bottom", ".bottom",
                    ".copyright", "#copyright")


@dataclass
class SiteFacts:
    """What a candidate's site says about it, with the pages it was read from."""

    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    uscc: str | None = None
    icp: str | None = None
    footer_name: str | None = None
    pages: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_raw(self) -> dict[str, Any]:
        """Provenance for the record's raw values: what was found and where."""
        return {k: v for k, v in self.__dict__.items() if v}


def _add(values: list[str], found: str, limit: int = 5) -> None:
    if found and found not in values and len(values) < limit:
        values.append(found)


def _footer_text(doc: BeautifulSoup, text: str) -> str:
    for selector in FOOTER_SELECTORS:
        nodes = doc.select(selector)
        if nodes:
            return " ".join(node_text(n) for n in nodes)
    return text[-1500:]  # no marked footer: the end of the page is where the copyright line is


def footer_company(footer: str) -> str | None:
    """The registered name in a copyright line: the company named right after the copyright mark,
    or right before 版权所有, else the first company name in the footer."""
    for marker in _COPYRIGHT.finditer(footer):
        after = re.sub(r"^[\s:：©\d\-–—,.年()（）cC]*", "", footer[marker.end():marker.end() + 80])
        match = _COMPANY.match(after)
        if match:
            return match.group(0).strip("()（）")
        before = footer[max(0, marker.start() - 60):marker.start()].rstrip(" ：:")
        names = _COMPANY.findall(before)
        if names and before.endswith(names[-1]):
            return names[-1]
    match = _COMPANY.search(footer)
    return match.group(0) if match else None


def read_facts(doc: BeautifulSoup, facts: SiteFacts) -> None:
    """Add what one page shows to `facts` (first finding wins for single-valued facts)."""
    body = doc.body or doc
    text = node_text(body)
    for link in body.find_all("a", href=True):
        href = link["href"].strip()
        if href.lower().startswith("mailto:"):
            _add(facts.emails, href[7:].split("?")[0].strip())
        elif href.lower().startswith("tel:"):
            _add(facts.phones, href[4:].strip())
    for email in _EMAIL.findall(text):
        if not _ASSET_SUFFIX.search(email):
            _add(facts.emails, email)
    for match in phonenumbers.PhoneNumberMatcher(text, "CN", leniency=phonenumbers.Leniency.VALID, max_tries=50):
        _add(facts.phones, match.raw_string.strip())
    if facts.uscc is None and (found := _USCC.search(text)):
        facts.uscc = found.group(1).upper()
    if facts.icp is None and (found := _ICP.search(text)):
        facts.icp = re.sub(r"\s+", "", found.group(0))
    if facts.footer_name is None:
        facts.footer_name = footer_company(_footer_text(doc, text))


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").removeprefix("www.")
    except ValueError:
        return ""


def _same_site(a: str, b: str) -> bool:
    host_a, host_b = _host(a), _host(b)
    return bool(host_a) and host_a == host_b


def contact_link(doc: BeautifulSoup, base: str) -> str | None:
    """The site's own contact page (联系我们 / Contact), if the page links to one."""
    for link in doc.find_all("a", href=True):
        label = f"{node_text(link)} {link.get('title', '')} {link['href']}"
        if _CONTACT_LINK.search(label):
            url = safe_link(base, link["href"])
            if url and _same_site(url, base) and url.rstrip("/") != base.rstrip("/"):
                return url
    return None


def enrich_site(fetcher: Fetcher, homepage: str, *, contact_page: bool = True) -> SiteFacts:
    """Read a candidate's homepage and (when it links one) contact page. Fetch failures are
    recorded in the facts, not raised: a candidate stays a candidate without its site."""
    facts = SiteFacts()
    targets = [homepage]
    while targets:
        url = targets.pop(0)
        try:
            result = fetcher.get(url)
        except FetchError as exc:
            facts.errors.append(str(exc))
            continue
        facts.pages.append({"url": result.url, "fetched_at": result.fetched_at.isoformat(timespec="seconds")})
        doc = soup(result.text)
        read_facts(doc, facts)
        if contact_page and len(facts.pages) == 1:
            link = contact_link(doc, result.url)
            if link:
                targets.append(link)
    return facts


def enriched_fields(fields: dict[str, str | None], facts: SiteFacts) -> dict[str, str | None]:
    """The candidate's fields completed from its site. The footer's registered name becomes the
    company name (the search title's name is kept as the alternative); found contacts fill empty
    fields, several joined with '; '."""
    out = dict(fields)
    if facts.footer_name and facts.footer_name != fields.get("company_name"):
        out["company_name_alt"] = fields.get("company_name_alt") or fields.get("company_name")
        out["company_name"] = facts.footer_name
    for name, values in (("email", facts.emails), ("phone", facts.phones)):
        if values and not out.get(name):
            out[name] = "; ".join(values)
    if facts.uscc and not out.get("uscc"):
        out["uscc"] = facts.uscc
    return out
