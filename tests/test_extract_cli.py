"""`leadrank extract`: the column contract, per-source outcomes, --source, --replay and errors."""

import re

import pandas as pd
from typer.testing import CliRunner

from leadrank.cli import app
from tests.http_fakes import allow_all_robots

runner = CliRunner()
CONTRACT = ["source", "source_kind", "url", "fetched_at", "company_name", "website", "phone", "email", "address",
            "country", "province", "city"]


def config(tmp_path, httpserver):
    allow_all_robots(httpserver)
    httpserver.expect_request("/list").respond_with_data(
        "<div class='e'><h3> Acme Ltd </h3><a href='https://acme.example.com'>w</a><p>No. 1 Road</p></div>",
        content_type="text/html")
    httpserver.expect_request("/down").respond_with_data("no", status=503)
    path = tmp_path / "sources.yaml"
    path.write_text(f"""
fetch: {{rate_limit: 0, allow_private_network: true, max_retries: 0}}
sources:
  - {{name: expo, kind: exhibition, url: "{httpserver.url_for('/list')}", items: div.e,
      fields: {{company_name: h3, website: a@href, address: p}}, set: {{country: GB}}}}
  - {{name: down, kind: exhibition, url: "{httpserver.url_for('/down')}", items: div.e, fields: {{company_name: h3}}}}
""", encoding="utf-8")
    return path


def test_extract_writes_the_contract_and_reports_each_source(tmp_path, httpserver):
    out = tmp_path / "x.csv"
    result = runner.invoke(app, ["extract", "--config", str(config(tmp_path, httpserver)), "-o", str(out)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output  # one source failed, not all
    assert "failed" in result.output and "HTTP 503" in result.output
    frame = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert set(CONTRACT) <= set(frame.columns)
    row = frame.iloc[0]
    assert (row["source"], row["source_kind"], row["company_name"], row["website"], row["address"], row["country"]) == (
        "expo", "exhibition", "Acme Ltd", "https://acme.example.com", "No. 1 Road", "GB")
    assert row["url"] == httpserver.url_for("/list") and row["fetched_at"].endswith("+00:00")


def test_extract_one_source_then_replay_without_the_site(tmp_path, httpserver):
    cfg = config(tmp_path, httpserver)
    first = runner.invoke(app, ["extract", "-c", str(cfg), "--source", "expo", "-o", str(tmp_path / "a.csv")],
                          env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    run_id = re.search(r"--replay (\S+)\)", first.output).group(1)
    httpserver.clear()
    again = runner.invoke(app, ["extract", "-c", str(cfg), "-s", "expo", "--replay", run_id, "-o", str(tmp_path / "b.csv")],
                          env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    a, b = (pd.read_csv(tmp_path / n, encoding="utf-8-sig", dtype=str) for n in ("a.csv", "b.csv"))
    assert a.drop(columns="run_id").equals(b.drop(columns="run_id"))


def test_extract_exits_1_when_every_source_failed_and_on_bad_input(tmp_path, httpserver):
    cfg = config(tmp_path, httpserver)
    result = runner.invoke(app, ["extract", "-c", str(cfg), "-s", "down", "-o", str(tmp_path / "x.csv")])
    assert result.exit_code == 1
    assert list(pd.read_csv(tmp_path / "x.csv", encoding="utf-8-sig").columns)[:6] == [
        "run_id", "source", "source_kind", "url", "fetched_at", "record_key"]
    unknown = runner.invoke(app, ["extract", "-c", str(cfg), "-s", "nope", "-o", str(tmp_path / "x.csv")])
    assert unknown.exit_code == 1 and "no source named 'nope'" in unknown.output
    replay = runner.invoke(app, ["extract", "-c", str(cfg), "--replay", "no-such-run", "-o", str(tmp_path / "x.csv")])
    assert replay.exit_code == 1 and "no raw responses kept for run 'no-such-run'" in replay.output
