"""Walking a declared source: start URLs, pagination and detail pages, for every format.

Pagination styles (`pagination:` in the source):
  - `{next: "a.next@href"}` follows a next link (for JSON, `next` is a dotted path to the next URL);
  - `{param: page, start: 1, step: 1}` counts a query parameter up from `start` (page numbers);
  - `{offset: start, step: 20}` sends a row offset (`?start=0`, `?start=20`, …); without `step`
    the first page's row count is the page size; `limit_param: rows` also sends the page size;
  - absent: the start URL(s) only.
Counted styles stop at the first page that yields no rows or repeats the previous page.
`max_pages` (default 200) bounds every style, so a site that always says "next" cannot trap us;
reaching it is reported as a warning, never silently.

A start URL without a scheme is a local path (absolute, or relative to the working directory;
`${CONFIG_DIR}/…` for one beside the sources file), read only by sources that allow local files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urldefrag, urlencode, urljoin, urlsplit, urlunsplit

from leadrank.extractors import parsers
from leadrank.extractors.fetch.fetcher import Fetcher
from leadrank.extractors.fetch.result import FetchResult
from leadrank.extractors.fields import css_value, json_path

WEB_SCHEMES = {"http", "https"}
Warn = Callable[[str], None]


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


def start_url(value: str, allow_local_files: bool) -> str:
    """A configured start URL; a bare path becomes a file:// URL when local files are allowed
    (else it stays as written and the fetch layer refuses it with the reason)."""
    value = value.strip()
    try:
        scheme = urlsplit(value).scheme
    except ValueError:  # malformed: the fetch layer refuses it with the reason
        return value
    if allow_local_files and (not scheme or Path(value).drive):
        return Path(value).expanduser().resolve().as_uri()
    return value


def safe_link(base: str, href: str | None) -> str | None:
    """Absolute URL of a link to follow, or None for javascript:, mailto:, ftp: and other
    non-page links and for malformed ones (`http://[bad`). A local page may link to local
    pages; a web page only to web pages."""
    if not href:
        return None
    try:
        url = urldefrag(urljoin(base, href.strip())).url  # `#top` is the same page
        scheme = urlsplit(url).scheme.lower()
        base_scheme = urlsplit(base).scheme.lower()
    except ValueError:
        return None
    if scheme in WEB_SCHEMES or (scheme == "file" and base_scheme == "file"):
        return url
    return None


def set_params(url: str, params: dict[str, object]) -> str:
    """The URL with these query parameters set (replacing any the start URL already has)."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode(kept + [(k, str(v)) for k, v in params.items()])))


def _next_link(result: FetchResult, doc: Any, spec: str, warn: Warn) -> str | None:
    if doc is None:
        return None
    if hasattr(doc, "select_one"):
        href = css_value(doc, spec if "@" in spec else spec + "@href")
    else:
        value = json_path(doc, spec)
        href = str(value) if value else None
    link = safe_link(result.url, href)
    if href and not link:
        warn(f"next link not followed (not a web page, or malformed): {href[:80]}")
    return link


def iter_pages(fetcher: Fetcher, opts: dict[str, Any], fmt: str, warn: Warn | None = None) -> Iterator[Page]:
    starts = opts.get("urls") or ([opts["url"]] if opts.get("url") else [])
    if not starts:
        raise parsers.ParseError("the source declares no `url` or `urls`")
    pagination = opts.get("pagination") or {}
    if not isinstance(pagination, dict):
        raise parsers.ParseError("`pagination` must be a mapping: {next: …}, {param: …} or {offset: …}")
    max_pages = int(pagination.get("max_pages", 200))
    warn = warn or (lambda _message: None)
    for start in starts:
        url = start_url(str(start), fetcher.settings.allow_local_files)
        if "param" in pagination or "offset" in pagination:
            yield from _counted_pages(fetcher, url, opts, fmt, pagination, max_pages, warn)
        else:
            yield from _linked_pages(fetcher, url, opts, fmt, pagination.get("next"), max_pages, warn)


def _linked_pages(fetcher: Fetcher, start: str, opts: dict[str, Any], fmt: str, next_spec: str | None,
                  max_pages: int, warn: Warn) -> Iterator[Page]:
    url: str | None = start
    seen: set[str] = set()
    while url and url not in seen:
        if len(seen) >= max_pages:
            warn(f"stopped at max_pages={max_pages}; more pages were linked ({url})")
            return
        seen.add(url)
        result = fetcher.get(url)
        rows, doc = _parse(result, fmt, opts)
        yield Page(result, rows)
        url = _next_link(result, doc, next_spec, warn) if next_spec else None


def _counted_pages(fetcher: Fetcher, start: str, opts: dict[str, Any], fmt: str, pagination: dict[str, Any],
                   max_pages: int, warn: Warn) -> Iterator[Page]:
    """Page-number and offset pagination: one counter in the query, up until the rows run out."""
    by_offset = "offset" in pagination
    param = pagination["offset"] if by_offset else pagination["param"]
    value = int(pagination.get("start", 0 if by_offset else 1))
    step = int(pagination["step"]) if pagination.get("step") else (None if by_offset else 1)
    limit_param = pagination.get("limit_param")
    previous: str | None = None
    for _ in range(max_pages):
        params: dict[str, object] = {param: value}
        if limit_param and pagination.get("step"):
            params[limit_param] = step
        result = fetcher.get(set_params(start, params))
        digest = hashlib.sha1(result.content).hexdigest()
        if digest == previous:
            return
        rows, _ = _parse(result, fmt, opts)
        if not rows:
            return
        yield Page(result, rows)
        previous = digest
        step = step or len(rows)
        value += step
    warn(f"stopped at max_pages={max_pages}; the last page still had rows")


def fetch_detail(fetcher: Fetcher, page_url: str, fields: dict[str, str | None], detail: dict[str, Any],
                 warn: Warn | None = None) -> tuple[dict[str, str | None], str | None, dict[str, Any] | None]:
    """Complete an entry from its detail page: (merged fields, detail page URL, what the detail
    page gave: its URL and values, for the record's raw). The detail page is the fuller record,
    so its values win over the list page's for the fields both declare (a list that prints
    "Quimicos" and a detail page that prints "Químicos" give "Químicos"); the list page's values
    fill what the detail page lacks. A link that is not a page (javascript:, ftp:, mailto:) is
    not followed, with a warning. Raises FetchError when the detail page cannot be fetched
    (the caller counts it)."""
    href = fields.get(detail.get("link_field", "detail_url"))
    link = safe_link(page_url, href)
    if not link:
        if href and warn:
            warn(f"detail link not followed (not a web page, or malformed): {href[:80]}")
        return fields, None, None
    result = fetcher.get(link)
    found = {k: v for k, v in parsers.detail_fields(parsers.soup(result.text), detail.get("fields") or {}).items() if v}
    return {**fields, **found}, result.url, {"url": result.url, **found}
