"""Walking a declared source: start URLs, pagination and detail pages, for every format.

Pagination styles (`pagination:` in the source):
  - `{next: "a.next@href"}` follows a next link (for JSON, `next` is a dotted path to the next URL);
  - `{param: page, start: 1, step: 1}` increments a query parameter (page numbers or offsets:
    `{param: offset, start: 0, step: 20}`), stopping at the first page that yields no rows or
    repeats the previous page;
  - absent: the start URL(s) only.
`max_pages` (default 200) bounds every style, so a site that always says "next" cannot trap us.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from leadrank.extractors import parsers
from leadrank.extractors.fetch import Fetcher, FetchResult, with_params
from leadrank.extractors.fields import css_value, json_path

SAFE_LINK_SCHEMES = {"http", "https", "file"}


@dataclass
class Page:
    result: FetchResult
    rows: list[parsers.Row]


def _parse(result: FetchResult, fmt: str, opts: dict[str, Any]) -> tuple[list[parsers.Row], Any]:
    """Rows of one document and the parsed document (for finding the next link)."""
    if fmt == "html":
        doc = parsers.soup(result.text)
        return parsers.parse_html_items(doc, opts), doc
    if fmt == "table":
        doc = parsers.soup(result.text)
        return parsers.parse_html_table(doc, opts), doc
    if fmt == "json":
        data = parsers.load_json_document(result.text, opts)
        return parsers.parse_json_records(data, opts), data
    if fmt in {"csv", "xlsx"}:
        frame = parsers.read_table_bytes(result.content, fmt, opts, result.encoding)
        return parsers.parse_table_file(frame, opts), None
    raise parsers.ParseError(f"unknown format {fmt!r} (html, table, json, csv, xlsx)")


def safe_link(base: str, href: str | None) -> str | None:
    """Absolute URL of a link, or None for javascript:, mailto:, ftp: and other non-page links."""
    if not href:
        return None
    url = urljoin(base, href.strip())
    if urlsplit(url).scheme.lower() not in SAFE_LINK_SCHEMES:
        return None
    return url


def _next_link(result: FetchResult, doc: Any, spec: str) -> str | None:
    if doc is None:
        return None
    if hasattr(doc, "select_one"):
        if "@" not in spec:
            spec += "@href"
        return safe_link(result.url, css_value(doc, spec))
    value = json_path(doc, spec)
    return safe_link(result.url, str(value)) if value else None


def iter_pages(fetcher: Fetcher, opts: dict[str, Any], fmt: str) -> Iterator[Page]:
    starts = opts.get("urls") or ([opts["url"]] if opts.get("url") else [])
    if not starts:
        raise parsers.ParseError("the source declares no `url` or `urls`")
    pagination = opts.get("pagination") or {}
    max_pages = int(pagination.get("max_pages", 200))
    for start in starts:
        if "param" in pagination:
            yield from _param_pages(fetcher, start, opts, fmt, pagination, max_pages)
        else:
            yield from _linked_pages(fetcher, start, opts, fmt, pagination.get("next"), max_pages)


def _linked_pages(fetcher: Fetcher, start: str, opts: dict[str, Any], fmt: str, next_spec: str | None, max_pages: int) -> Iterator[Page]:
    url: str | None = start
    seen: set[str] = set()
    while url and url not in seen and len(seen) < max_pages:
        seen.add(url)
        result = fetcher.get(url)
        rows, doc = _parse(result, fmt, opts)
        yield Page(result, rows)
        url = _next_link(result, doc, next_spec) if next_spec else None


def _param_pages(fetcher: Fetcher, start: str, opts: dict[str, Any], fmt: str, pagination: dict[str, Any], max_pages: int) -> Iterator[Page]:
    param = pagination["param"]
    value = int(pagination.get("start", 1))
    step = int(pagination.get("step", 1))
    previous: str | None = None
    for _ in range(max_pages):
        result = fetcher.get(with_params(start, {param: value}))
        digest = hashlib.sha1(result.content).hexdigest()
        if digest == previous:
            return
        rows, _ = _parse(result, fmt, opts)
        if not rows:
            return
        yield Page(result, rows)
        previous = digest
        value += step


def fetch_detail(fetcher: Fetcher, page_url: str, fields: dict[str, str | None], detail: dict[str, Any]) -> tuple[dict[str, str | None], str | None]:
    """Complete an entry from its detail page; fields already found on the list page win.
    Raises FetchError when the detail page cannot be fetched (the caller counts it)."""
    link = safe_link(page_url, fields.get(detail.get("link_field", "detail_url")))
    if not link:
        return fields, None
    result = fetcher.get(link)
    found = parsers.detail_fields(parsers.soup(result.text), detail.get("fields") or {})
    merged = {**found, **{k: v for k, v in fields.items() if v}}
    return merged, result.url
