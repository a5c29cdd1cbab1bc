"""Web search as a source against local fakes of the search APIs (SearXNG, Brave, SerpAPI), with
enrichment from fake company homepages; API keys from the environment, a registered secret store
or a Prefect Secret block, and never written anywhere."""

import json
from pathlib import Path

import pytest
from werkzeug import Response

from leadrank.config import load_config, register_secret_resolver, unregister_secret_resolver
from leadrank.extractors import websearch
from leadrank.extractors.enrich import footer_company
from leadrank.extractors.runner import extract_source
from tests.http_fakes import allow_all_robots, extra_server

HOME_A = """<html><head><title>华强电子</title></head><body>
<nav><a href="/">首页</a><a href="http://other.example.com/contact">合作伙伴 contact</a><a href="/about/contact.html#form">联系我们</a></nav>
<p>专业生产办公家具。销售热线：0755-83216688</p>
<div class="footer">Copyright © 2008-2024 深圳市华强电子有限公司 版权所有 <a href="https://beian.miit.gov.cn">粤ICP备12345678号-1</a></div>
</body></html>"""
CONTACT_A = """<html><body><h1>联系我们</h1><p>手机：13912345678</p>
<p>邮箱：<a href="mailto:sales@hqdz.example.cn">sales@hqdz.example.cn</a></p>
<p>统一社会信用代码：91440300MA5F1234XY</p></body></html>"""


@pytest.fixture
def sites():
    """Two company sites on their own hosts: A answers with contacts, B is down."""
    with extra_server() as site_a, extra_server() as site_b:
        for site in (site_a, site_b):
            allow_all_robots(site)
        site_a.expect_request("/").respond_with_data(HOME_A, content_type="text/html; charset=utf-8")
        site_a.expect_request("/about/contact.html").respond_with_data(CONTACT_A, content_type="text/html")
        site_b.expect_request("/").respond_with_data("down", status=503)
        yield site_a, site_b


def searxng_answer(site_a, site_b):
    return {"results": [
        {"url": site_a.url_for("/products/chairs.html"), "title": "华强电子 (深圳) - 官网", "content": "办公家具"},
        {"url": "https://baike.baidu.com/item/x", "title": "办公家具 - 百度百科", "content": ""},
        {"url": site_b.url_for("/"), "title": "东莞市南城家具厂 | 首页", "content": "家具"},
        {"url": site_a.url_for("/news"), "title": "华强电子 新闻", "content": "同一个站点"},
        {"url": "ftp://files.example.com/a", "title": "ftp", "content": ""},
    ]}


def write_config(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(f"""
fetch: {{rate_limit: 0, allow_private_network: true, max_retries: 1, backoff_base: 0.001, read_timeout: 2}}
sources:
{source}
""", encoding="utf-8")
    return path


def test_searxng_source_with_enrichment(httpserver, sites, tmp_path, monkeypatch):
    site_a, site_b = sites
    allow_all_robots(httpserver)
    queries = []

    def search(request):
        queries.append(request.args["q"])
        assert request.args["format"] == "json"
        return Response(json.dumps(searxng_answer(site_a, site_b)), content_type="application/json")

    httpserver.expect_request("/search").respond_with_handler(search)
    monkeypatch.setenv("SEARX_URL", httpserver.url_for("/search"))
    cfg = load_config(write_config(tmp_path, """
  - name: furniture-search
    kind: websearch
    engine: searxng
    endpoint: ${SEARX_URL}
    queries: ["{product} 生产商 {city}"]
    vars: {product: [办公家具], city: [深圳, 东莞]}
    exclude_domains: [baidu.com]
    enrich: {contact_page: true}
"""))
    records, _, report = extract_source(cfg.source("furniture-search"), cfg.fetch, run_id="r", raw_dir=tmp_path / "raw")
    assert queries == ["办公家具 生产商 深圳", "办公家具 生产商 东莞"]
    assert report.status == "ok" and len(records) == 2  # portal excluded, ftp dropped, one row per site
    a = records[records["website"] == site_a.url_for("/")].iloc[0]
    assert a["company_name"] == "深圳市华强电子有限公司" and a["company_name_alt"] == "华强电子 (深圳)"
    assert a["phone"] == "0755-83216688; 13912345678" and a["email"] == "sales@hqdz.example.cn"
    assert a["uscc"] == "91440300MA5F1234XY"
    enrichment = json.loads(a["raw"])["enrichment"]
    assert enrichment["icp"] == "粤ICP备12345678号-1" and enrichment["footer_name"] == "深圳市华强电子有限公司"
    assert [p["url"] for p in enrichment["pages"]] == [site_a.url_for("/"), site_a.url_for("/about/contact.html")]
    assert a["url"].startswith(httpserver.url_for("/search"))  # provenance: the search response
    b = records[records["website"] == site_b.url_for("/")].iloc[0]
    assert b["company_name"] == "东莞市南城家具厂" and b["phone"] is None  # kept as a candidate without its site
    assert any("enrichment of" in w and "HTTP 503" in w for w in report.warnings)
    assert not any("other.example.com" in w for w in report.warnings)  # the off-site contact link was not followed


@pytest.mark.parametrize("engine", ["brave", "serpapi"])
def test_commercial_api_key_from_the_environment_is_sent_and_never_kept(engine, httpserver, tmp_path, monkeypatch, caplog):
    allow_all_robots(httpserver)
    key = "sk-test-9f8e7d6c5b4a"
    seen = {}

    def brave(request):
        seen["key"] = request.headers.get("X-Subscription-Token")
        return Response(json.dumps({"web": {"results": [
            {"url": "https://www.acme-office.example.cn/", "title": "Home", "description": "办公用品",
             "profile": {"name": "深圳市艾克美办公用品有限公司"}}]}}), content_type="application/json")

    def serpapi(request):
        seen["key"] = request.args.get("api_key")
        return Response(json.dumps({"organic_results": [
            {"link": "https://www.acme-office.example.cn/about", "title": "深圳市艾克美办公用品有限公司_官网", "snippet": "办公用品"}]}),
            content_type="application/json")

    httpserver.expect_request("/api").respond_with_handler(brave if engine == "brave" else serpapi)
    monkeypatch.setenv("SEARCH_KEY", key)
    cfg = load_config(write_config(tmp_path, f"""
  - name: paid
    kind: websearch
    engine: {engine}
    endpoint: "{httpserver.url_for('/api')}"
    api_key: ${{SEARCH_KEY}}
    queries: ["打印耗材 生产商"]
"""))
    raw_dir = tmp_path / "raw"
    records, _, report = extract_source(cfg.source("paid"), cfg.fetch, run_id="r", raw_dir=raw_dir)
    assert report.status == "ok" and seen["key"] == key
    assert list(records["company_name"]) == ["深圳市艾克美办公用品有限公司"]
    assert list(records["website"]) == ["https://www.acme-office.example.cn/"]
    stored = "".join(p.read_text(encoding="utf-8", errors="ignore") for p in raw_dir.rglob("*") if p.is_file())
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("leadrank"))
    assert key not in stored and key not in records.to_csv() and key not in ours and key not in report.as_dict().__repr__()


def test_key_from_a_registered_secret_store(httpserver, tmp_path):
    allow_all_robots(httpserver)
    httpserver.expect_request("/api").respond_with_handler(lambda req: Response(json.dumps(
        {"web": {"results": [{"url": "https://a.example.cn/", "title": "甲有限公司"}]}}) if req.headers.get(
            "X-Subscription-Token") == "from-the-vault" else Response("no", status=401), content_type="application/json"))
    asked = []
    register_secret_resolver("test-vault", lambda name: asked.append(name) or ("from-the-vault" if name == "brave-key" else None))
    try:
        cfg = load_config(write_config(tmp_path, f"""
  - {{name: vaulted, kind: websearch, engine: brave, endpoint: "{httpserver.url_for('/api')}",
      api_key: {{secret: brave-key}}, queries: [a, b]}}
  - {{name: unknown-secret, kind: websearch, engine: brave, endpoint: "{httpserver.url_for('/api')}",
      api_key: {{secret: no-such-key}}, queries: [a]}}
"""))
        records, _, report = extract_source(cfg.source("vaulted"), cfg.fetch, run_id="r")
        assert report.status == "ok" and list(records["company_name"]) == ["甲有限公司"]
        assert asked == ["brave-key"]  # resolved once per source run, not per query
        _, _, missing = extract_source(cfg.source("unknown-secret"), cfg.fetch, run_id="r")
        assert missing.status == "failed" and "secret 'no-such-key' not found" in missing.reason
    finally:
        unregister_secret_resolver("test-vault")


def test_missing_key_fails_only_that_source(tmp_path, monkeypatch):
    monkeypatch.delenv("UNSET_KEY", raising=False)
    cfg = load_config(write_config(tmp_path, """
  - {name: nokey, kind: websearch, engine: serpapi, endpoint: "http://127.0.0.1:9/x", api_key: "${UNSET_KEY:-}", queries: [a]}
  - {name: envkey, kind: websearch, engine: brave, endpoint: "http://127.0.0.1:9/x", api_key: {env: UNSET_KEY}, queries: [a]}
"""))
    _, _, report = extract_source(cfg.source("nokey"), cfg.fetch, run_id="r")
    assert report.status == "failed" and "serpapi engine needs api_key" in report.reason
    _, _, report = extract_source(cfg.source("envkey"), cfg.fetch, run_id="r")
    assert report.status == "failed" and "environment variable UNSET_KEY is not set" in report.reason


@pytest.mark.prefect
def test_key_from_a_prefect_secret_block(prefect_harness, httpserver, tmp_path):
    from prefect.blocks.system import Secret

    import leadrank.flows  # noqa: F401 - registers Prefect Secret blocks as a store

    Secret(value="0123456789").save("leadrank-test-brave", overwrite=True)  # digits: must stay a string
    allow_all_robots(httpserver)
    seen = {}
    httpserver.expect_request("/api").respond_with_handler(lambda req: seen.update(key=req.headers["X-Subscription-Token"])
                                                           or Response(json.dumps({"web": {"results": []}})))
    cfg = load_config(write_config(tmp_path, f"""
  - {{name: p, kind: websearch, engine: brave, endpoint: "{httpserver.url_for('/api')}",
      api_key: {{secret: leadrank-test-brave}}, queries: [a], expect_rows: false}}
"""))
    _, _, report = extract_source(cfg.source("p"), cfg.fetch, run_id="r")
    assert report.status == "ok" and seen["key"] == "0123456789"


def test_query_expansion_and_names_from_titles():
    assert websearch.expand_queries(["{product} 生产商 {city}", "{product} 厂家"],
                                    {"product": ["文具", "纸"], "city": ["深圳"]}) == [
        "文具 生产商 深圳", "纸 生产商 深圳", "文具 厂家", "纸 厂家"]
    assert websearch.name_from_title("首页 - 广州市白云文具股份有限公司") == "广州市白云文具股份有限公司"
    assert websearch.name_from_title("Welcome to Acme | Home", "Acme Office Ltd") == "Acme Office Ltd"


@pytest.mark.parametrize("footer, name", [
    ("Copyright © 2010-2024 深圳市华强电子有限公司 All Rights Reserved", "深圳市华强电子有限公司"),
    ("杭州西湖纸业有限公司 版权所有 浙ICP备05012345号", "杭州西湖纸业有限公司"),
    ("版权所有：上海浦江办公设备有限公司 技术支持：某某网络科技有限公司", "上海浦江办公设备有限公司"),
    ("首页 | 关于我们 | 联系方式", None),
])
def test_footer_company_name(footer, name):
    assert footer_company(footer) == name
