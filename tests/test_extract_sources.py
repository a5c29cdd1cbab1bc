"""Declared sources end to end through the fetch layer: the demo's three kinds and the ways a
source goes wrong (isolation: a report with a reason, never an exception)."""

import pandas as pd
import pytest

from leadrank.config import FetchSettings, SourceConfig, load_config
from leadrank.contracts import EXTRACTED
from leadrank.extractors.runner import extract_source

LOCAL = FetchSettings(allow_local_files=True, allow_private_network=True, rate_limit=0, backoff_base=0.01,
                      max_retries=1)


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


def test_param_pagination_stops_at_empty_page(httpserver):
    pages = {"1": "<div class='e'><h3>A</h3></div>", "2": "<div class='e'><h3>B</h3></div>", "3": "<p>no more</p>"}
    httpserver.expect_request("/robots.txt").respond_with_data("")
    httpserver.expect_request("/list").respond_with_handler(
        lambda req: __import__("werkzeug").Response(pages[req.args["page"]], content_type="text/html"))
    cfg = SourceConfig.model_validate({"name": "p", "kind": "exhibition", "url": httpserver.url_for("/list"),
                                       "items": "div.e", "fields": {"company_name": "h3"},
                                       "pagination": {"param": "page", "start": 1}})
    records, _, report = extract_source(cfg, LOCAL, run_id="r")
    assert list(records["company_name"]) == ["A", "B"] and report.pages == 2
