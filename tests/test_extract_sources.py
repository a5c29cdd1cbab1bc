"""Declared sources end to end through the fetch layer: the demo's three kinds and the ways a
source goes wrong (isolation: a report with a reason, never an exception)."""

import json
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from werkzeug import Response

from leadrank.config import SourceConfig, load_config
from leadrank.contracts import EXTRACTED
from leadrank.extractors.runner import extract_source
from tests.http_fakes import FAST, allow_all_robots, raw_server

LOCAL = FAST


@pytest.fixture
def demo(demo_config):
    return load_config(demo_config)


def truth_names(demo_config, source):
    truth = pd.read_csv(demo_config.parent / "truth.csv")
    return sorted(truth.loc[truth["source"] == source, "company_name"])


@pytest.mark.parametrize("source", ["demo-expo", "demo-assoc", "demo-search"])
def test_demo_sources_yield_every_row(demo, demo_config, source):
    records, rejects, report = extract_source(demo.source(source), demo.fetch, run_id="r1")
    assert report.status == "ok", report.reason
    assert list(records.columns) == EXTRACTED
    assert sorted(records["company_name"]) == truth_names(demo_config, source)
    assert records["record_key"].is_unique
    assert (records["run_id"] == "r1").all() and records["fetched_at"].notna().all()


def test_exhibition_pagination_and_fields(demo):
    records, _, report = extract_source(demo.source("demo-expo"), demo.fetch, run_id="r1")
    assert report.pages == 3
    first = records.iloc[0]
    assert first["url"].endswith("exhibitors-1.html")
    assert first["website"].startswith("https://www.") and first["booth"] and first["hall"].startswith("Hall")
    assert records["url"].str.endswith("exhibitors-3.html").any()


def test_association_quarantines_nameless_row(demo):
    records, rejects, report = extract_source(demo.source("demo-assoc"), demo.fetch, run_id="r1")
    assert report.rejected == 1 and len(rejects) == 1
    assert "required field empty: company_name" in rejects.iloc[0]["reason"]
    assert records["member_level"].notna().all() and records["uscc"].notna().all()


def test_websearch_excludes_portals_and_names_from_titles(demo):
    records, _, _ = extract_source(demo.source("demo-search"), demo.fetch, run_id="r1")
    assert not records["website"].str.contains("baidu|zhihu").any()
    assert "华强电子 (深圳)" in set(records["company_name"])  # "华强电子 (深圳) - 官网"


def source(tmp_path, body: str, **extra) -> SourceConfig:
    page = tmp_path / "page.html"
    page.write_text(body, encoding="utf-8")
    return SourceConfig.model_validate({"name": "t", "kind": "exhibition", "url": page.as_uri(), "items": "div.e",
                                        "fields": {"company_name": "h3"}, **extra})


def test_empty_page_where_rows_expected_fails_with_reason(tmp_path):
    _, _, report = extract_source(source(tmp_path, "<html><body>maintenance</body></html>"), LOCAL, run_id="r")
    assert report.status == "failed" and report.reason == "no rows where rows were expected"


def test_layout_change_fails_the_source(tmp_path):
    body = "".join(f"<div class='e'><h4>Company {i}</h4></div>" for i in range(5))
    records, rejects, report = extract_source(source(tmp_path, body), LOCAL, run_id="r")
    assert report.status == "failed" and "layout changed" in report.reason
    assert records.empty and len(rejects) == 5  # nothing lost silently: all quarantined with the reason


def test_malformed_html_still_parses(tmp_path):
    body = "<div class='e'><h3>Acme Ltd<div class='e'><h3>Beta GmbH</h3></p></span>"
    records, _, report = extract_source(source(tmp_path, body), LOCAL, run_id="r")
    assert report.status == "ok" and len(records) >= 1


def test_unreachable_source_is_reported_not_raised():
    cfg = SourceConfig.model_validate({"name": "down", "kind": "association", "url": "http://127.0.0.1:9/members"})
    records, _, report = extract_source(cfg, LOCAL, run_id="r")
    assert report.status == "failed" and "connection failed" in report.reason and "robots.txt unavailable" in report.reason and records.empty


def test_javascript_links_are_not_followed(tmp_path):
    body = "<div class='e'><h3>Acme</h3></div><a class='next' href='javascript:alert(1)'>next</a>"
    _, _, report = extract_source(source(tmp_path, body, pagination={"next": "a.next"}), LOCAL, run_id="r")
    assert report.status == "ok" and report.pages == 1


# -- faults against a local HTTP server, each through extract_source ----------------------------

def card(name: str, **extra: str) -> str:
    parts = "".join(f"<span class='{k}'>{v}</span>" for k, v in extra.items())
    return f"<div class='e'><h3>{name}</h3>{parts}</div>"


def web_source(url: str, name: str = "s", **extra) -> SourceConfig:
    return SourceConfig.model_validate({"name": name, "kind": "exhibition", "url": url, "items": "div.e",
                                        "fields": {"company_name": "h3", "phone": ".tel"}, **extra})


@pytest.fixture
def site(httpserver):
    allow_all_robots(httpserver)
    return httpserver


def test_next_link_pagination(site):
    for page, nxt in ((1, "/list?p=2"), (2, "list?p=3"), (3, None)):
        link = f"<a class='next' href='{nxt}'>下一页</a>" if nxt else ""
        site.expect_request("/list", query_string=f"p={page}").respond_with_data(
            card(f"Company {page}A") + card(f"Company {page}B") + link, content_type="text/html")
    records, _, report = extract_source(web_source(site.url_for("/list?p=1"), pagination={"next": "a.next"}), LOCAL, run_id="r")
    assert report.status == "ok" and report.pages == 3
    assert list(records["company_name"]) == ["Company 1A", "Company 1B", "Company 2A", "Company 2B", "Company 3A", "Company 3B"]
    assert records["url"].str.endswith("p=3").sum() == 2  # provenance: the page each row came from


def test_page_parameter_pagination_stops_at_the_empty_page(site):
    pages = {"1": card("A"), "2": card("B"), "3": "<p>没有更多了</p>"}
    site.expect_request("/list").respond_with_handler(
        lambda req: Response(pages[req.args["page"]], content_type="text/html"))
    records, _, report = extract_source(web_source(site.url_for("/list"), pagination={"param": "page", "start": 1}),
                                        LOCAL, run_id="r")
    assert list(records["company_name"]) == ["A", "B"] and report.pages == 2 and report.status == "ok"


def test_offset_pagination_learns_the_page_size(site):
    names = [f"Member {i}" for i in range(7)]
    requested = []

    def handler(req):
        requested.append(dict(req.args))
        start = int(req.args["start"])
        return Response("".join(card(n) for n in names[start:start + 3]), content_type="text/html")

    site.expect_request("/members").respond_with_handler(handler)
    records, _, _ = extract_source(web_source(site.url_for("/members"), pagination={"offset": "start"}), LOCAL, run_id="r")
    assert list(records["company_name"]) == names
    assert [r["start"] for r in requested] == ["0", "3", "6", "9"]


def test_offset_pagination_with_declared_page_size(site):
    names = [f"M{i}" for i in range(5)]
    site.expect_request("/api").respond_with_handler(lambda req: Response(json.dumps(
        {"data": {"rows": [{"n": n} for n in names[int(req.args["offset"]):int(req.args["offset"]) + int(req.args["limit"])]]}}),
        content_type="application/json"))
    cfg = SourceConfig.model_validate({"name": "api", "kind": "exhibition", "url": site.url_for("/api"), "format": "json",
                                       "records": "data.rows", "fields": {"company_name": "n"},
                                       "pagination": {"offset": "offset", "step": 2, "limit_param": "limit"}})
    records, _, report = extract_source(cfg, LOCAL, run_id="r")
    assert list(records["company_name"]) == names and report.pages == 3


def test_json_next_path_pagination(site):
    site.expect_request("/p1").respond_with_json({"items": [{"name": "A"}], "links": {"next": "/p2"}})
    site.expect_request("/p2").respond_with_json({"items": [{"name": "B"}], "links": {"next": None}})
    cfg = SourceConfig.model_validate({"name": "j", "kind": "exhibition", "url": site.url_for("/p1"), "format": "json",
                                       "records": "items", "fields": {"company_name": "name"},
                                       "pagination": {"next": "links.next"}})
    records, _, _ = extract_source(cfg, LOCAL, run_id="r")
    assert list(records["company_name"]) == ["A", "B"]


def test_max_pages_is_reported_not_silent(site):
    site.expect_request("/loop").respond_with_handler(
        lambda req: Response(card(f"C{req.args['p']}") + f"<a class='next' href='/loop?p={int(req.args['p']) + 1}'>n</a>",
                             content_type="text/html"))
    _, _, report = extract_source(web_source(site.url_for("/loop?p=1"), pagination={"next": "a.next", "max_pages": 3}),
                                  LOCAL, run_id="r")
    assert report.pages == 3 and any("max_pages=3" in w for w in report.warnings)


def test_gbk_page_without_declared_charset(site):
    body = ("<html><body>" + card("深圳市华强电子有限公司", tel="0755-83216688") + card("廣州市白雲文具股份有限公司") +
            "</body></html>").encode("gbk")
    site.expect_request("/gbk").respond_with_data(body, content_type="text/html")
    records, _, report = extract_source(web_source(site.url_for("/gbk")), LOCAL, run_id="r")
    assert list(records["company_name"]) == ["深圳市华强电子有限公司", "廣州市白雲文具股份有限公司"]
    assert records.iloc[0]["phone"] == "0755-83216688"


def test_429_with_retry_after_then_success(site):
    answers = [Response("slow down", status=429, headers={"Retry-After": "0"}), Response(card("Acme Ltd"), content_type="text/html")]
    site.expect_request("/busy").respond_with_handler(lambda _req: answers.pop(0))
    records, _, report = extract_source(web_source(site.url_for("/busy")), LOCAL, run_id="r")
    assert report.status == "ok" and list(records["company_name"]) == ["Acme Ltd"] and answers == []


def test_500_three_times_fails_that_source_and_the_others_load(site):
    calls = []
    site.expect_request("/broken").respond_with_handler(lambda _req: calls.append(1) or Response("oops", status=500))
    site.expect_request("/good1").respond_with_data(card("Alpha"), content_type="text/html")
    site.expect_request("/good2").respond_with_data(card("Beta") + card("Gamma"), content_type="text/html")
    sources = [web_source(site.url_for("/good1"), "good1"), web_source(site.url_for("/broken"), "broken"),
               web_source(site.url_for("/good2"), "good2")]
    with ThreadPoolExecutor(3) as pool:  # concurrently, as the nightly flow runs them
        results = list(pool.map(lambda src: extract_source(src, LOCAL, run_id="r"), sources))
    reports = {r[2].source: r[2] for r in results}
    assert len(calls) == 3  # first attempt + max_retries=2
    assert reports["broken"].status == "failed" and reports["broken"].reason.startswith("HTTP 500 after 3 attempts")
    assert reports["good1"].status == reports["good2"].status == "ok"
    assert [len(r[0]) for r in results] == [1, 0, 2]


def test_read_timeout_fails_the_source_with_reason(site):
    import time

    def slow(_req):
        time.sleep(0.5)
        return Response(card("Late"), content_type="text/html")

    site.expect_request("/slow").respond_with_handler(slow)
    settings = LOCAL.model_copy(update={"read_timeout": 0.1, "max_retries": 0})
    records, _, report = extract_source(web_source(site.url_for("/slow")), settings, run_id="r")
    assert report.status == "failed" and report.reason.startswith("timed out") and records.empty


def test_truncated_body_fails_the_source():
    response = [b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 9000\r\nConnection: close\r\n\r\n",
                card("Acme").encode()]
    with raw_server(response) as srv:
        settings = LOCAL.model_copy(update={"respect_robots": False})
        records, _, report = extract_source(web_source(srv.url("/list")), settings, run_id="r")
    assert report.status == "failed" and "truncated body" in report.reason and records.empty


def test_20_mb_body_is_capped_and_the_source_fails_with_reason(site):
    site.expect_request("/huge").respond_with_data(b"<div class='e'><h3>x</h3></div>" * 700_000, content_type="text/html")
    assert LOCAL.max_body_bytes == 10_000_000  # the default cap
    records, _, report = extract_source(web_source(site.url_for("/huge")), LOCAL, run_id="r")
    assert report.status == "failed" and "exceeds the cap of 10000000 bytes" in report.reason
    assert "body of 21700000 bytes" in report.reason and records.empty


def test_robots_disallow_fails_the_source(httpserver, caplog):
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nDisallow: /members\n")
    httpserver.expect_request("/members").respond_with_data(card("Hidden Co"), content_type="text/html")
    _, _, report = extract_source(web_source(httpserver.url_for("/members")), LOCAL, run_id="r")
    assert report.status == "failed" and report.reason.startswith("disallowed by robots.txt")
    opted_out = web_source(httpserver.url_for("/members"), fetch={"respect_robots": False})
    records, _, report = extract_source(opted_out, LOCAL, run_id="r")
    assert list(records["company_name"]) == ["Hidden Co"]
    assert "robots.txt is ignored for this source" in caplog.text


def test_redirect_loop_fails_the_source(site):
    site.expect_request("/a").respond_with_response(Response("", status=302, headers={"Location": "/b"}))
    site.expect_request("/b").respond_with_response(Response("", status=302, headers={"Location": "/a"}))
    _, _, report = extract_source(web_source(site.url_for("/a")), LOCAL, run_id="r")
    assert report.status == "failed" and report.reason.startswith("redirect loop")


def test_malformed_html_from_a_server(site):
    body = "<html><body><div class='e'><h3>Acme <b>Ltd</h3><div class='e'><h3>Beta GmbH</div></p></span><td>stray"
    site.expect_request("/bad").respond_with_data(body, content_type="text/html")
    records, _, report = extract_source(web_source(site.url_for("/bad")), LOCAL, run_id="r")
    assert report.status == "ok" and "Acme Ltd" in list(records["company_name"])


@pytest.mark.parametrize("href", ["javascript:void(0)", "ftp://files.example.com/list2.html", "mailto:x@example.com"])
def test_non_page_links_are_not_followed(site, href):
    site.expect_request("/list").respond_with_data(
        card("Acme", link=f"<a href='{href}'>d</a>") + f"<a class='next' href='{href}'>next</a>", content_type="text/html")
    cfg = web_source(site.url_for("/list"), pagination={"next": "a.next"},
                     fields={"company_name": "h3", "detail_url": ".link a@href"},
                     detail={"fields": {"phone": ".tel"}})
    records, _, report = extract_source(cfg, LOCAL, run_id="r")
    assert report.status == "ok" and report.pages == 1 and list(records["company_name"]) == ["Acme"]
    assert any("detail link not followed" in w for w in report.warnings)


def test_empty_page_where_rows_were_expected(site):
    site.expect_request("/list").respond_with_data("<html><body><p>系统维护中</p></body></html>", content_type="text/html")
    records, _, report = extract_source(web_source(site.url_for("/list")), LOCAL, run_id="r")
    assert report.status == "failed" and report.reason == "no rows where rows were expected" and records.empty
    optional = web_source(site.url_for("/list"), expect_rows=False)
    assert extract_source(optional, LOCAL, run_id="r")[2].status == "ok"


def test_a_failure_after_some_pages_is_partial_and_keeps_the_rows(site):
    site.expect_request("/p1").respond_with_data(card("A") + "<a class='next' href='/p2'>n</a>", content_type="text/html")
    site.expect_request("/p2").respond_with_data("gone", status=404)
    records, _, report = extract_source(web_source(site.url_for("/p1"), pagination={"next": "a.next"}), LOCAL, run_id="r")
    assert report.status == "partial" and report.reason.startswith("HTTP 404") and list(records["company_name"]) == ["A"]


def test_detail_pages_complete_list_entries(site):
    site.expect_request("/list").respond_with_data(
        "".join(f"<div class='e'><h3>{n}</h3><a class='more' href='/d/{i}'>详情</a></div>" for i, n in enumerate(["甲公司", "乙公司"])),
        content_type="text/html")
    site.expect_request("/d/0").respond_with_data("<dl><dt>电话</dt><dd>010-1234567</dd><dt>地址</dt><dd>北京市</dd></dl>")
    site.expect_request("/d/1").respond_with_data("<p>电话：021-7654321</p>")
    cfg = web_source(site.url_for("/list"), fields={"company_name": "h3", "detail_url": "a.more@href"},
                     detail={"fields": {"phone": {"label": "电话"}, "address": {"label": "地址"}}})
    records, _, _ = extract_source(cfg, LOCAL, run_id="r")
    assert list(records["phone"]) == ["010-1234567", "021-7654321"]
    assert records.iloc[0]["address"] == "北京市" and records.iloc[0]["url"].endswith("/d/0")


def test_a_run_can_be_reparsed_from_its_raw_store_without_refetching(site, tmp_path):
    site.expect_request("/list").respond_with_data(card("Acme", tel="010-1") + card("Beta"), content_type="text/html")
    cfg = web_source(site.url_for("/list"))
    live, _, _ = extract_source(cfg, LOCAL, run_id="r", raw_dir=tmp_path)
    site.clear()  # the site is gone; the raw copy is all there is
    changed = cfg.model_copy(update={"fields": {"company_name": "h3", "phone": ".tel", "booth": ".tel"}})
    replayed, _, report = extract_source(changed, LOCAL, run_id="r", raw_dir=tmp_path, replay=True)
    assert report.status == "ok" and list(replayed["company_name"]) == list(live["company_name"])
    assert list(replayed["booth"]) == ["010-1", None] and list(replayed["fetched_at"]) == list(live["fetched_at"])


def test_a_misspelt_setting_fails_the_source_by_name(tmp_path):
    with pytest.raises(ValueError, match=r"paginaton\n.*unknown key \(did you mean `pagination`\?\)"):
        source(tmp_path, "<div class='e'><h3>Acme</h3></div>", paginaton={"next": "a.next"})


def test_counted_pagination_replaces_the_parameter_of_the_start_url(site):
    seen = []
    site.expect_request("/list").respond_with_handler(
        lambda req: seen.append(req.query_string.decode()) or Response(card(f"C{req.args['page']}") if req.args["page"] < "3" else "",
                                                                       content_type="text/html"))
    records, _, _ = extract_source(web_source(site.url_for("/list?cat=7&page=1"), pagination={"param": "page"}), LOCAL, run_id="r")
    assert seen == ["cat=7&page=1", "cat=7&page=2", "cat=7&page=3"] and list(records["company_name"]) == ["C1", "C2"]
