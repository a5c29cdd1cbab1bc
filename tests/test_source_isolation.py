"""One broken source never spoils the night: through the pipeline steps (and the Prefect flow),
a source whose server answers 500 three times is reported failed with its reason, in the
warehouse too, while the other sources load, resolve and publish."""

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.read import ranked_leads
from tests.helpers import run_pipeline
from tests.http_fakes import allow_all_robots

GOOD_1 = "".join(f"<div class='e'><h3>{n}</h3><span class='tel'>{t}</span></div>" for n, t in [
    ("深圳市华强电子有限公司", "0755-83216688"), ("广州市白云文具股份有限公司", "020-26847269")])
GOOD_2 = """<table><tr><th>会员名称</th><th>电话</th><th>会员级别</th></tr>
<tr><td>杭州西湖纸业有限公司</td><td>0571-46680104</td><td>理事单位</td></tr></table>"""


@pytest.fixture
def three_sources(httpserver, tmp_path) -> Path:
    allow_all_robots(httpserver)
    httpserver.expect_request("/expo").respond_with_data(GOOD_1, content_type="text/html; charset=utf-8")
    httpserver.expect_request("/assoc").respond_with_data(GOOD_2, content_type="text/html; charset=utf-8")
    httpserver.expect_request("/broken").respond_with_data("oops", status=500)
    path = tmp_path / "sources.yaml"
    path.write_text(f"""
fetch: {{rate_limit: 0, allow_private_network: true, max_retries: 2, backoff_base: 0.001}}
sources:
  - {{name: expo, kind: exhibition, url: "{httpserver.url_for('/expo')}", items: div.e,
      fields: {{company_name: h3, phone: .tel}}}}
  - {{name: broken, kind: exhibition, url: "{httpserver.url_for('/broken')}", items: div.e, fields: {{company_name: h3}}}}
  - {{name: assoc, kind: association, url: "{httpserver.url_for('/assoc')}",
      columns: {{company_name: 会员名称, phone: 电话, member_level: 会员级别}}}}
""", encoding="utf-8")
    return path


def broken_requests(httpserver) -> int:
    return sum(1 for request, _ in httpserver.log if request.path == "/broken")


def test_pipeline_steps_report_the_failed_source_and_load_the_others(three_sources, httpserver, tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    result = run_pipeline(str(three_sources), url)
    reports = {r["source"]: r for r in result["sources"]}
    assert reports["broken"]["status"] == "failed" and reports["broken"]["reason"].startswith("HTTP 500 after 3 attempts")
    assert broken_requests(httpserver) == 3
    assert reports["expo"]["status"] == reports["assoc"]["status"] == "ok"
    engine = make_engine(url)
    with engine.connect() as conn:
        runs = pd.read_sql(text("SELECT source, status, records, reason FROM stg_source_runs"), conn).set_index("source")
        staged = pd.read_sql(text("SELECT source, company_name FROM stg_prospects"), conn)
    assert runs.loc["broken", "status"] == "failed" and "HTTP 500" in runs.loc["broken", "reason"]
    assert runs.loc["expo", "records"] == 2 and runs.loc["assoc", "records"] == 1
    assert sorted(staged["company_name"]) == ["广州市白云文具股份有限公司", "杭州西湖纸业有限公司", "深圳市华强电子有限公司"]
    assert len(ranked_leads(engine)) == 3  # the night published without the broken source


@pytest.mark.prefect
def test_flow_reports_the_failed_source_and_publishes(prefect_harness, three_sources, httpserver, tmp_path):
    from leadrank.flows.nightly import nightly_refresh

    url = f"sqlite:///{tmp_path / 'flow.db'}"
    summary = nightly_refresh(config=str(three_sources), warehouse=url)
    statuses = {r["source"]: r["status"] for r in summary["sources"]}
    assert statuses == {"expo": "ok", "broken": "failed", "assoc": "ok"}
    assert summary["leads"]["new"] == 3 and len(ranked_leads(make_engine(url))) == 3
