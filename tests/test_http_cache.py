"""HTTP caching across nights and robots.txt pacing (issue 18): a second night of an unchanged
list + detail site is answered by 304 Not Modified (ETag or Last-Modified), bodies from the cache
in data/http-cache; a changed page is fetched again; Crawl-delay slows a host down to what it
asks for, never speeds it up."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from werkzeug import Request, Response

from leadrank.config import SourceConfig
from leadrank.extractors.fetch.fetcher import Fetcher
from leadrank.extractors.fetch.robots import MAX_CRAWL_DELAY
from leadrank.extractors.runner import extract_source
from tests.http_fakes import FAST, extra_server

PAGES = 40
MODIFIED = datetime(2026, 11, 1, tzinfo=UTC)


class Site:
    """A list page linking PAGES detail pages; even pages carry an ETag, odd ones only
    Last-Modified; every answer (200 or 304) is counted."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.phone = {n: f"0755-{n:04d}" for n in range(PAGES)}

    def page(self, request: Request) -> Response:
        if request.path == "/list":
            body = "".join(f"<div class=c><h3>公司{n}</h3><a href='/d/{n}'>详情</a></div>" for n in range(PAGES))
            response = Response(body, content_type="text/html; charset=utf-8")
            response.set_etag("list-v1")
        else:
            number = int(request.path.rsplit("/", 1)[1])
            response = Response(f"<p class=tel>{self.phone[number]}</p>", content_type="text/html; charset=utf-8")
            if number % 2 == 0:
                response.set_etag(f"d{number}-{self.phone[number]}")
            else:
                response.last_modified = MODIFIED
        response = response.make_conditional(request)
        self.statuses.append(response.status_code)
        return response


def night(url: str, run_id: str, **fetch):
    source = SourceConfig.model_validate({
        "name": "fair", "kind": "exhibition", "url": url, "items": "div.c",
        "fields": {"company_name": "h3", "detail_url": "a@href"}, "detail": {"fields": {"phone": "p.tel"}}})
    return extract_source(source, FAST.model_copy(update=fetch), run_id=run_id)


def test_a_second_night_of_an_unchanged_site_is_answered_by_304(httpserver):
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    site = Site()
    httpserver.expect_request(re.compile(r"^/(list|d/\d+)$")).respond_with_handler(site.page)
    first, _, report1 = night(httpserver.url_for("/list"), "night-1")
    assert report1.status == "ok" and len(first) == PAGES and report1.revalidated == 0
    assert site.statuses == [200] * (PAGES + 1)

    site.statuses.clear()
    site.phone[4] = "0755-9999"  # one page changed since (so has its ETag): fetched in full
    second, _, report2 = night(httpserver.url_for("/list"), "night-2")
    share = site.statuses.count(304) / len(site.statuses)
    assert share >= 0.9 and report2.revalidated == site.statuses.count(304) == PAGES, (share, site.statuses)
    assert site.statuses.count(200) == 1
    keep = ["company_name", "phone"]
    expected = first[keep].assign(phone=first["phone"].replace("0755-0004", "0755-9999"))
    assert second[keep].equals(expected)  # cached bodies read as the pages they stand for

    site.statuses.clear()
    night(httpserver.url_for("/list"), "night-3", http_cache=False)
    assert site.statuses == [200] * (PAGES + 1)  # http_cache: false stores and asks nothing


def test_a_request_carrying_a_key_is_never_stored(httpserver, tmp_path):
    seen: list[str | None] = []

    def api(request: Request) -> Response:
        seen.append(request.headers.get("If-None-Match"))
        response = Response("{}", content_type="application/json")
        response.set_etag("same")
        return response

    httpserver.expect_request("/api").respond_with_handler(api)
    fetcher = Fetcher(FAST.model_copy(update={"respect_robots": False}), cache_dir=tmp_path / "cache")
    for _ in range(2):
        fetcher.get(httpserver.url_for("/api"), params={"api_key": "sk-secret"})
        fetcher.get(httpserver.url_for("/api"), headers={"X-Subscription-Token": "sk-secret"})
    assert seen == [None] * 4 and fetcher.revalidated == 0
    assert not any(b"sk-secret" in p.read_bytes() for p in (tmp_path / "cache").rglob("*") if p.is_file())


def test_crawl_delay_slows_a_host_down_never_speeds_it_up():
    """Seconds between two requests to a host, for robots.txt rules and rate_limit: the larger of
    the two wins; a fraction is rounded up (urllib ignores it), a value that is no ASCII number is
    ignored (urllib crashes on `²`), and a day is cut to MAX_CRAWL_DELAY."""
    cases = [("Crawl-delay: 2", 0.0, 2.0), ("Crawl-delay: 0.5", 0.0, 1.0), ("Crawl-delay: 1", 0.25, 4.0),
             ("Crawl-delay: 3", 1.0, 3.0), ("Crawl-delay: ²\nRequest-rate: 1/²", 0.0, 0.0),
             ("Request-rate: 1/3", 0.0, 3.0), ("Crawl-delay: 86400", 0.0, MAX_CRAWL_DELAY)]
    for rules, rate, expected in cases:
        with extra_server() as host:
            host.expect_request("/robots.txt").respond_with_data(f"User-agent: *\n{rules}\n")
            host.expect_request("/page").respond_with_data("ok")
            sleeps: list[float] = []
            fetcher = Fetcher(FAST.model_copy(update={"rate_limit": rate}), sleep=sleeps.append)
            assert fetcher.get(host.url_for("/page")).text == "ok"
            assert fetcher._interval(host.url_for("/page")) == expected, rules
            if rate == 0 and expected:  # the first page opened the host's clock: the second waits
                fetcher.get(host.url_for("/page"))
                assert abs(sleeps[-1] - expected) < 0.2, (rules, sleeps)
