"""Secrets never leak, on SQLite and PostgreSQL. A search API key (sent in a query string to a
SerpAPI-shaped fake and in a header to a Brave-shaped one) and, on PostgreSQL, a warehouse
password in the URL are planted; the real `leadrank run` runs (debug logging on, urllib3's
request lines included), then exports, the report and failing commands; every output is searched
for them: the command lines' stdout and stderr, log records, every file of the data directory
(run directories, raw responses), every warehouse table, the exports, the report and the
Prefect database behind the flow (parameters, logs, artifacts)."""

from __future__ import annotations

import io
import logging
import os
import secrets
import subprocess
import sys
import traceback
import zipfile
from pathlib import Path

import pytest
import yaml
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner
from werkzeug import Request, Response

from leadrank.cli import app
from leadrank.config import load_config
from leadrank.extractors.runner import extract_source
from leadrank.paths import data_dir
from leadrank.warehouse.engine import make_engine
from tests.ops_fixtures import demo_sources, serve_demo
from tests.reliability_log import record

ROOT = Path(__file__).resolve().parents[1]
KEY_VAR = "LEADRANK_TEST_SEARCH_KEY"


def search_api(httpserver, key: str) -> list[str]:
    """SerpAPI- and Brave-shaped endpoints that want `key` (first answer 503, to log a retry), and
    a SerpAPI one that always fails; returns the keys they were sent."""
    sent: list[str] = []
    calls = {"n": 0}

    def serpapi(request: Request) -> Response:
        sent.append(request.args.get("api_key", ""))
        calls["n"] += 1
        if calls["n"] == 1:
            return Response("busy", status=503, headers={"Retry-After": "0"})
        if request.args.get("api_key") != key:
            return Response("bad key", status=401)
        return Response('{"organic_results": [{"link": "https://www.keyed-demo.com/", "title": '
                        '"钥匙测试科技有限公司 - 官网", "snippet": "办公用品"}]}', content_type="application/json")

    def brave(request: Request) -> Response:
        sent.append(request.headers.get("X-Subscription-Token", ""))
        return Response('{"web": {"results": [{"url": "https://www.header-demo.com/", "title": "头部测试有限公司",'
                        ' "description": "文具"}]}}', content_type="application/json")

    httpserver.expect_request("/serpapi").respond_with_handler(serpapi)
    httpserver.expect_request("/brave").respond_with_handler(brave)
    httpserver.expect_request("/serpapi-down").respond_with_data("down", status=500)
    return sent


def leaks(secret: str, where: str, content: str | bytes) -> list[str]:
    data = content if isinstance(content, bytes) else content.encode("utf-8", "replace")
    return [where] if secret.encode() in data else []


def files_holding(secret: str, root: Path) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += leaks(secret, str(path), data)
            if path.suffix == ".xlsx":
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    found += [f"{path}:{name}" for name in archive.namelist() if secret.encode() in archive.read(name)]
    return found


def tables_holding(secret: str, url: str) -> list[str]:
    engine = make_engine(url)
    found = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                found += leaks(secret, f"table {table}", repr(tuple(row)))
    return found


def prefect_database() -> list[Path]:
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL

    database = Path(make_url(str(PREFECT_API_DATABASE_CONNECTION_URL.value())).database)
    return [p for p in (database, Path(f"{database}-wal")) if p.exists()]


@pytest.mark.prefect
def test_planted_secrets_appear_in_no_output(prefect_harness, warehouse_url, httpserver, tmp_path, monkeypatch,
                                             caplog):
    from prefect.settings import PREFECT_API_URL

    key, password = "sk-planted-" + secrets.token_hex(8), "pw-planted-" + secrets.token_hex(8)
    planted = [key]
    if warehouse_url.startswith("postgresql"):  # the test server trusts local connections: any password works
        warehouse_url = make_url(warehouse_url).set(password=password).render_as_string(hide_password=False)
        planted.append(password)
    sent = search_api(httpserver, key)
    config = demo_sources(tmp_path, base_url=serve_demo(httpserver), allow_private_network=["127.0.0.1"])
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    endpoint = httpserver.url_for
    raw["sources"] += [
        {"name": "serpapi", "kind": "websearch", "engine": "serpapi", "endpoint": endpoint("/serpapi"),
         "api_key": "${" + KEY_VAR + "}", "queries": ["办公用品"], "fetch": {"backoff_base": 0.01}},
        {"name": "brave", "kind": "websearch", "engine": "brave", "endpoint": endpoint("/brave"),
         "api_key": {"env": KEY_VAR}, "queries": ["文具"]},
        {"name": "serpapi-down", "kind": "websearch", "engine": "serpapi", "endpoint": endpoint("/serpapi-down"),
         "api_key": "${" + KEY_VAR + "}", "queries": ["x"], "fetch": {"max_retries": 0}},
    ]
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv(KEY_VAR, key)
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PREFECT_LOGGING_LEVEL": "DEBUG",
           "PREFECT_LOGGING_ROOT_LEVEL": "DEBUG",
           "PREFECT_LOGGING_EXTRA_LOGGERS": "leadrank,urllib3"}

    run = subprocess.run([sys.executable, "-c", "from leadrank.cli import main; main()", "run", "--config",
                          str(config), "--warehouse", warehouse_url], cwd=ROOT, env=env, capture_output=True,
                         timeout=300)
    said = {"leadrank run stdout": run.stdout, "leadrank run stderr": run.stderr}
    assert run.returncode == 0, run.stdout.decode(errors="replace")[-3000:] + run.stderr.decode(errors="replace")[-3000:]
    assert sent.count(key) >= 3  # the key was really used: a retried query string and a header
    assert b"source serpapi-down failed: HTTP 500" in run.stderr and b"api_key=***" in run.stderr  # URL, masked
    assert b"GET /serpapi?" in run.stderr  # urllib3's request lines are in the debug log...
    assert b"Records" in run.stdout and b"extracted" in run.stdout  # the reconciliation, in the summary

    runner = CliRunner()
    for command in (["export", "-o", str(tmp_path / "out" / "leads.csv")],
                    ["export", "-o", str(tmp_path / "out" / "leads.xlsx")],
                    ["report", "-o", str(tmp_path / "out" / "report.html")], ["top"]):
        (tmp_path / "out").mkdir(exist_ok=True)
        result = runner.invoke(app, [*command, "--warehouse", warehouse_url])
        assert result.exit_code == 0, result.output
        said[" ".join(command[:1])] = result.output
    broken = [url for url in (f"postgresql+psycopg://leadrank:{password}@127.0.0.1:1/leadrank",
                              f"postgresql+psycopg://leadrank:{password}@127.0.0.1:5432/no_such_database",
                              f"postgresql+psycopg://leadrank:{password}@[::1/leadrank",
                              f"postgres://leadrank:{password}@127.0.0.1/leadrank")]
    for url in broken:  # warehouses that cannot be reached: the errors must not quote the URL
        for command in (["top"], ["db", "upgrade"], ["export", "-o", str(tmp_path / "x.csv")]):
            result = runner.invoke(app, [*command, "--warehouse", url])
            assert result.exit_code != 0
            error = "".join(traceback.format_exception(result.exception)) if result.exception else ""
            said[f"{' '.join(command)} on an unreachable warehouse"] = result.output + error

    caplog.set_level(logging.DEBUG)  # log records, in process: every logger, urllib3's request lines too
    cfg = load_config(config)
    extract_source(cfg.source("serpapi"), cfg.fetch, run_id="in-process", raw_dir=tmp_path / "raw-in-process")
    ours = [r for r in caplog.records if r.name != "werkzeug"]  # werkzeug: the fake API's own access log
    said["log records"] = "\n".join(f"{r.name}: {r.getMessage()}" for r in ours)
    assert "GET /serpapi?" in said["log records"]

    found: list[str] = []
    for secret in [*planted, password]:
        for where, content in said.items():
            found += leaks(secret, where, content)
        found += files_holding(secret, data_dir())  # run directories, raw store, the SQLite warehouse
        found += files_holding(secret, tmp_path / "out")  # exports and the report
        found += files_holding(secret, tmp_path / "raw-in-process")
        found += tables_holding(secret, warehouse_url)
        for path in prefect_database():  # flow run parameters, logs, artifacts
            found += leaks(secret, f"Prefect database {path.name}", path.read_bytes())
    assert found == [], found
    # The searches can find things: what was not secret is there.
    assert any(b"keyed-demo" in p.read_bytes() for p in data_dir().rglob("*.body"))
    assert any(b"nightly-run-summary" in p.read_bytes() for p in prefect_database())
    record("secrets", "search API key (query string and header) and warehouse password planted; every output "
           "searched", runs=1, survived=1, lost=0, detail=f"{len(said)} outputs, run directory, warehouse tables, "
           "exports, report, Prefect database: not found")


def test_a_config_error_never_quotes_an_expanded_secret(tmp_path, monkeypatch):
    """Issue 17, item 2: a web search source without `name:` and its `api_key:` last made pydantic
    print the whole source, the expanded key included, to the console (and Prefect's logs)."""
    key = "sk-planted-" + secrets.token_hex(8)
    monkeypatch.setenv(KEY_VAR, key)
    config = tmp_path / "sources.yaml"
    config.write_text("sources:\n  - kind: websearch\n    engine: brave\n    endpoint: https://search.example/api\n"
                      f"    queries: [x]\n    api_key: ${{{KEY_VAR}}}\n", encoding="utf-8")
    runner = CliRunner()
    outputs = [runner.invoke(app, [*command, "--config", str(config)]) for command in (["check"], ["run"])]
    for result in outputs:
        assert result.exit_code == 1 and "sources[0].name: Field required" in " ".join(result.output.split())
        assert key not in result.output
    record("secrets", "an API key expanded into a source that fails validation (no name:, api_key: last)", runs=2,
           survived=2, lost=0, warehouse="none", detail="`check` and `run` refuse it by path; the key is never quoted")


def test_a_warehouse_password_with_an_at_sign_never_shows_as_a_host(warehouse_url, monkeypatch):
    """Issue 17, item 12: `…:${PGPASSWORD}@host` with a password holding `@` made the rest of the
    password the host, which errors and `db upgrade` echoed. Such a URL is refused without being
    repeated; the password goes in LEADRANK_PG_PASSWORD, the URL is built with URL.create."""
    from leadrank.warehouse.engine import display_url
    from leadrank.warehouse.engine import warehouse_url as effective_url

    runner = CliRunner()
    rest = "rest-of-" + secrets.token_hex(6)
    broken = f"postgresql+psycopg://leadrank:pw@{rest}@127.0.0.1:5432/leadrank"
    for command in (["db", "upgrade"], ["top"], ["export", "-o", "x.csv"]):
        result = runner.invoke(app, [*command, "--warehouse", broken])
        error = "".join(traceback.format_exception(result.exception)) if result.exception else ""
        assert result.exit_code == 2 and "LEADRANK_PG_PASSWORD" in " ".join(result.output.split())
        assert rest not in result.output + error
    monkeypatch.setenv("LEADRANK_WAREHOUSE_URL", broken)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 2
    monkeypatch.delenv("LEADRANK_WAREHOUSE_URL")

    password = "p@ss/w:rd#" + secrets.token_hex(6)
    monkeypatch.setenv("LEADRANK_PG_PASSWORD", password)
    url = effective_url("postgresql+psycopg://leadrank@db.internal:5433/leadrank")
    assert (url.password, url.host, url.port, url.database) == (password, "db.internal", 5433, "leadrank")
    assert password not in display_url(url) and "db.internal" in display_url(url)
    if not warehouse_url.startswith("postgresql"):
        assert effective_url(warehouse_url).password is None  # SQLite takes no password
        return
    parts = make_url(warehouse_url)  # the test server trusts local connections: the password is sent, not checked
    for name, value in {"LEADRANK_PG_HOST": parts.host, "LEADRANK_PG_PORT": str(parts.port or 5432),
                        "LEADRANK_PG_USER": parts.username, "LEADRANK_PG_DATABASE": parts.database}.items():
        monkeypatch.setenv(name, value)
    assert effective_url().password == password
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0 and parts.database in result.output and password not in result.output
    record("secrets", "a warehouse password holding `@` written into the URL", runs=1, survived=1, lost=0,
           detail="refused without repeating it; LEADRANK_PG_PASSWORD and LEADRANK_PG_* build the URL")
