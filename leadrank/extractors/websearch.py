"""Web search as a source: query templates expanded over segments and regions, sent to a
pluggable search API, each result turned into a candidate company (name from the title or site
name, website from the URL).

Engines are response shapes, declared here once: SearXNG (`format=json`), Brave Search and
SerpAPI. The API key comes from the environment (`api_key: ${BRAVE_API_KEY}` or
`{env: BRAVE_API_KEY}`) or a secret store (`{secret: brave-api-key}`: a Prefect Secret block when
run by leadrank's flows or CLI); it is resolved only when the request is made and sent only in the
request, never logged or stored: the raw store keeps the URL without the key.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from leadrank.config import resolve_secret
from leadrank.extractors.fetch.fetcher import Fetcher
from leadrank.extractors.fetch.result import FetchResult
from leadrank.extractors.fields import clean_text, json_path
from leadrank.extractors.parsers import ParseError, load_json_document

_TITLE_SPLIT = re.compile(r"\s*(?:\||_|–|—|-{1,2}|·|:|：|»)\s*")
_TITLE_NOISE = re.compile(
    r"(官方网站|官网首页|官网|首页|主页|欢迎您?访问|欢迎光临|Official\s+(?:Web\s*)?Site|Home\s*Page|Homepage|Home|Welcome\s+to)",
    re.I,
)
_LEGAL_HINT = re.compile(r"(有限公司|有限责任公司|集团|公司|厂|Co\.|Ltd|Inc\b|Corp|GmbH|Limited|LLC|S\.A\.)", re.I)


@dataclass(frozen=True)
class Engine:
    results_path: str  # dotted path to the result list
    url_key: str
    title_key: str
    snippet_key: str
    site_name_key: str | None = None


ENGINES: dict[str, Engine] = {
    "searxng": Engine("results", "url", "title", "content"),
    "brave": Engine("web.results", "url", "title", "description", "profile.name"),
    "serpapi": Engine("organic_results", "link", "title", "snippet", "source"),
}


def expand_queries(templates: list[str], variables: dict[str, list[str]]) -> list[str]:
    """Every template with every combination of the variables it mentions, in order, once each."""
    out: list[str] = []
    for template in templates:
        names = [n for n in variables if "{" + n + "}" in template]
        for combo in itertools.product(*(variables[n] for n in names)):
            query = template.format(**dict(zip(names, combo, strict=True)))
            if query not in out:
                out.append(query)
    return out


def name_from_title(title: str | None, site_name: str | None = None) -> str | None:
    """The company a result page belongs to: the title segment that looks like a company
    (carries a legal form), else the site name, else the first non-noise segment."""
    if site_name and _LEGAL_HINT.search(site_name):
        return clean_text(site_name)
    if not title:
        return clean_text(site_name)
    segments = [_TITLE_NOISE.sub("", s).strip(" -|") for s in _TITLE_SPLIT.split(title)]
    segments = [s for s in segments if s]
    for segment in segments:
        if _LEGAL_HINT.search(segment):
            return segment
    return clean_text(site_name) or (segments[0] if segments else None)


def _request(engine: str, query: str, opts: dict[str, Any], secret: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    count = int(opts.get("max_results", 20))
    if engine == "searxng":
        return {"q": query, "format": "json", "language": opts.get("language", "zh-CN")}, {}
    if engine == "brave":
        if not secret:
            raise ParseError("the brave engine needs api_key (e.g. api_key: ${BRAVE_API_KEY} or {secret: NAME})")
        return {"q": query, "count": min(count, 20)}, {"X-Subscription-Token": secret, "Accept": "application/json"}
    if engine == "serpapi":
        if not secret:
            raise ParseError("the serpapi engine needs api_key (e.g. api_key: ${SERPAPI_API_KEY} or {secret: NAME})")
        return {"q": query, "engine": opts.get("serpapi_engine", "baidu"), "api_key": secret}, {}
    raise ParseError(f"unknown search engine {engine!r} (searxng, brave, serpapi)")


def search(fetcher: Fetcher, opts: dict[str, Any]) -> Iterator[tuple[FetchResult, str, list[dict[str, Any]]]]:
    """Run every expanded query; yields (response, query, results) per query (all the results
    the API gave; the caller keeps the first `max_results` and says so when there were more)."""
    engine_name = opts.get("engine", "searxng")
    engine = ENGINES.get(engine_name)
    if engine is None:
        raise ParseError(f"unknown search engine {engine_name!r} (searxng, brave, serpapi)")
    endpoint = opts.get("endpoint")
    if not endpoint:
        raise ParseError("a websearch source needs `endpoint` (the search API URL)")
    queries = expand_queries(opts.get("queries") or [], opts.get("vars") or {})
    if not queries:
        raise ParseError("a websearch source needs `queries`")
    secret = resolve_secret(opts.get("api_key"), what=f"api_key of the {engine_name} search")
    for query in queries:
        params, headers = _request(engine_name, query, opts, secret)
        result = fetcher.get(endpoint, params=params, headers=headers)
        if _host(result.url) != _host(endpoint):  # redirected away: not the API we asked
            raise ParseError(f"{engine_name} endpoint redirected to another host ({_host(result.url)}): "
                             "its results are not used")
        try:
            data = load_json_document(result.text, {})  # a 5,000-digit number fails one result, not all
        except ParseError:
            raise ParseError(f"{engine_name} answered with something that is not JSON "
                             f"({result.headers.get('Content-Type') or 'no content type'})") from None
        items = json_path(data, engine.results_path) or []
        if not isinstance(items, list):
            raise ParseError(f"{engine_name} response has no result list at {engine.results_path!r}")
        yield result, query, items


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def result_to_fields(item: dict[str, Any], engine_name: str,
                     exclude: set[str]) -> tuple[dict[str, str | None] | None, str | None]:
    """A candidate company from one search result, or (None, why it is not one): no http(s)
    URL, an excluded domain, or nothing that names a company."""
    engine = ENGINES[engine_name]
    url = clean_text(item.get(engine.url_key))
    if not url:
        return None, "no URL"
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        return None, f"malformed URL ({url[:80]})"
    if parts.scheme not in {"http", "https"} or not host:
        return None, f"not an http(s) URL ({url[:80]})"
    if any(host == d or host.endswith("." + d) for d in exclude):
        return None, f"excluded domain ({host}, exclude_domains)"
    site_name = clean_text(json_path(item, engine.site_name_key)) if engine.site_name_key else None
    name = name_from_title(clean_text(item.get(engine.title_key)), site_name)
    if not name:
        return None, "no company name in the title or site name"
    return {
        "company_name": name,
        "website": f"{parts.scheme}://{parts.netloc}/",
        "products": clean_text(item.get(engine.snippet_key)),
    }, None
