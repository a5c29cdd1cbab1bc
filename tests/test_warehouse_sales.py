"""What sales get out of the warehouse and put back into it, on SQLite and PostgreSQL: XLSX/CSV
exports, the HTML report, outcome imports the model trains on, read-only access on PostgreSQL,
and retention."""

import html
import os
import re
import secrets
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from typer.testing import CliRunner

from leadrank.cli import app
from leadrank.paths import DEMO_CONFIG, DEMO_DIR, http_cache_dir, run_dir
from leadrank.pipeline import begin, fail
from leadrank.run_files import RunFiles
from leadrank.warehouse import export, formats, labels, report
from leadrank.warehouse.charts import TIER_COLOURS
from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.read import ranked_leads
from leadrank.warehouse.report import build_report
from leadrank.warehouse.retention import purge
from tests.helpers import run_pipeline

runner = CliRunner()


def said(result) -> str:
    """What a command printed, with rich's line wrapping undone."""
    return " ".join(result.output.split())


def query(engine, sql: str, **params) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params).all()]


# --- exports ---------------------------------------------------------------------------------

def test_xlsx_export_has_a_sheet_per_segment_and_chinese_headers(warehouse_url, demo_config, tmp_path, demo_night):
    demo_night(str(demo_config), warehouse_url)
    engine = make_engine(warehouse_url)
    sizes = dict(query(engine, "SELECT segment, COUNT(*) FROM ranked_leads GROUP BY segment"))
    total = sum(sizes.values())
    for lang, all_title, first_header in [("en", "All leads", "rank"), ("zh", "全部线索", "排名")]:
        out = tmp_path / f"leads-{lang}.xlsx"
        result = runner.invoke(app, ["export", "-o", str(out), "--lang", lang, "--warehouse", warehouse_url])
        assert result.exit_code == 0, result.output
        book = load_workbook(out)
        expected = [all_title, *[labels.segment(s, lang) for s in sorted(sizes, key=lambda s: (-sizes[s]))]]
        assert sorted(book.sheetnames[1:]) == sorted(expected[1:]) and book.sheetnames[0] == all_title
        for sheet in book.worksheets:
            assert sheet.freeze_panes == "A2"
            assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, sheet.max_column).column_letter}{sheet.max_row}"
            assert sheet.cell(1, 1).font.b
        everything = book[all_title]
        assert everything.max_row == total + 1 and everything.cell(1, 1).value == first_header
        assert [everything.cell(r, 1).value for r in range(2, total + 2)] == sorted(
            everything.cell(r, 1).value for r in range(2, total + 2))
        for code, n in sizes.items():
            sheet = book[labels.segment(code, lang)]
            assert sheet.max_row == n + 1
            assert [sheet.cell(r, 1).value for r in range(2, n + 2)] == list(range(1, n + 1))  # rank in segment
    zh = load_workbook(tmp_path / "leads-zh.xlsx")["全部线索"]
    headers = [c.value for c in zh[1]]
    assert {"公司名称", "客户类型", "优先级", "主要原因", "变动", "统一社会信用代码"} <= set(headers)
    movement = headers.index("变动") + 1
    assert {zh.cell(r, movement).value for r in range(2, zh.max_row + 1)} == {"新增"}

    csv_out = tmp_path / "leads-zh.csv"
    assert runner.invoke(app, ["export", "-o", str(csv_out), "--lang", "zh", "--warehouse", warehouse_url]).exit_code == 0
    frame = pd.read_csv(csv_out, encoding="utf-8-sig")
    assert list(frame.columns[:4]) == ["排名", "等级", "线索ID", "公司名称"] and len(frame) == total
    assert not frame["主要原因"].str.contains("[A-Za-z]{4}", regex=True).any()  # Chinese reasons only
    # Every lead's country as an ISO 3166 code, from the warehouse's leads (the marts lack it).
    countries = dict(query(engine, "SELECT lead_id, country FROM leads"))
    assert frame["国家/地区"].tolist() == [countries[lead] for lead in frame["线索ID"]]
    assert frame["国家/地区"].notna().any()
    # Names come from the open web: a formula is neutralised, a phone number is not.
    top = ranked_leads(engine).iloc[0]
    with engine.begin() as conn:
        conn.execute(text("UPDATE leads SET company_name = :n WHERE lead_id = :l"),
                     {"n": '=HYPERLINK("http://evil.example/","点我")', "l": top["lead_id"]})
    # CSV can only neutralise it with an apostrophe; XLSX stores it as text marked "quote prefix",
    # which Excel shows as typed and never runs, not even after the cell is edited.
    out = tmp_path / "formula.csv"
    assert runner.invoke(app, ["export", "-o", str(out), "--warehouse", warehouse_url]).exit_code == 0
    first = pd.read_csv(out, encoding="utf-8-sig", dtype=str).iloc[0]
    assert first["company_name"] == '\'=HYPERLINK("http://evil.example/","点我")'
    assert first["phone"] == formats.phone(top["phone"]) and not first["phone"].startswith("+86")
    out = tmp_path / "formula.xlsx"
    assert runner.invoke(app, ["export", "-o", str(out), "--warehouse", warehouse_url]).exit_code == 0
    name = load_workbook(out).worksheets[0].cell(2, 4)
    assert name.value == '=HYPERLINK("http://evil.example/","点我")'
    assert name.data_type == "s" and name.quotePrefix
    bad = runner.invoke(app, ["export", "-o", str(csv_out), "--lang", "fr", "--warehouse", warehouse_url])
    assert bad.exit_code == 1 and "unknown language" in said(bad)


def column_cells(sheet, header: str) -> list:
    col = [c.value for c in sheet[1]].index(header) + 1
    return [sheet.cell(r, col) for r in range(2, sheet.max_row + 1)]


def test_xlsx_cells_read_as_a_person_reads_them(warehouse_url, demo_config, tmp_path, demo_night):
    demo_night(str(demo_config), warehouse_url)
    engine = make_engine(warehouse_url)
    ranked = ranked_leads(engine)
    with engine.begin() as conn:  # a website that must never become a link
        conn.execute(text("UPDATE leads SET website = 'javascript:alert(1)' WHERE lead_id = :l"),
                     {"l": ranked.iloc[1]["lead_id"]})
    ranked = ranked_leads(engine)
    out = tmp_path / "leads.xlsx"
    assert runner.invoke(app, ["export", "-o", str(out), "--warehouse", warehouse_url]).exit_code == 0
    sheet = load_workbook(out)["All leads"]
    assert [c.value for c in column_cells(sheet, "lead_id")] == list(ranked["lead_id"])

    priority = column_cells(sheet, "priority")
    assert [c.value for c in priority] == pytest.approx([float(v) for v in ranked["priority"]])
    assert {c.number_format for c in priority} == {"0.00"}  # 0.83, not 0.832231
    assert {c.number_format for c in column_cells(sheet, "model_score")} == {"0%"}
    volume = column_cells(sheet, "est_monthly_volume")
    assert {c.number_format for c in volume} == {"#,##0"} and all(isinstance(c.value, int | float) for c in volume)

    # first_seen is a date cell on the sales team's clock (Asia/Shanghai unless told otherwise).
    seen = column_cells(sheet, "first_seen_at")
    assert {c.number_format for c in seen} == {"yyyy-mm-dd hh:mm"} and all(c.is_date for c in seen)
    utc = datetime.fromisoformat(str(ranked.iloc[0]["first_seen_at"]).replace(" ", "T"))
    utc = utc if utc.tzinfo else utc.replace(tzinfo=ZoneInfo("UTC"))
    assert seen[0].value == utc.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
    berlin = tmp_path / "berlin.xlsx"
    assert runner.invoke(app, ["export", "-o", str(berlin), "--timezone", "Europe/Berlin", "--warehouse",
                               warehouse_url]).exit_code == 0
    assert column_cells(load_workbook(berlin)["All leads"], "first_seen_at")[0].value == (
        utc.astimezone(ZoneInfo("Europe/Berlin")).replace(tzinfo=None, microsecond=0))

    # Tier colours, here and on the segment sheets.
    for part in load_workbook(out).worksheets:  # a first run: no dropped-out sheet
        for cell in column_cells(part, "tier"):
            assert cell.fill.fgColor.rgb.endswith(TIER_COLOURS[cell.value].lstrip("#").upper())
    assert [c.value for c in column_cells(sheet, "tier")] == list(ranked["tier"])
    # Websites are links to themselves; anything but a web address is left as text.
    for cell, website in zip(column_cells(sheet, "website"), ranked["website"], strict=True):
        if website and website.startswith("http"):
            assert cell.hyperlink is not None and cell.hyperlink.target == website and cell.font.u == "single"
        else:
            assert cell.hyperlink is None
    assert column_cells(sheet, "website")[1].value == "javascript:alert(1)"
    # Phones as dialled in China; foreign ones with their country code.
    phones = [c.value for c in column_cells(sheet, "phone") if c.value]
    assert phones and not [p for p in phones if p.startswith("+86")]
    assert any(re.fullmatch(r"0\d{2,3} \d{3,4} \d{4}", p) for p in phones)
    assert all(re.fullmatch(r"0\d{2,3} \d{3,4} \d{4}|1\d\d \d{4} \d{4}|\+[1-9][\d -]+", p) for p in phones), phones
    # Reasons wrap and carry no apostrophe; "+…" is text, not a formula, and a name that starts
    # with a letter is left alone.
    for cell in column_cells(sheet, "top_reasons"):
        assert cell.alignment.wrap_text and not cell.value.startswith("'")
        assert cell.data_type == "s" and cell.quotePrefix == cell.value.startswith(("+", "-"))
    names = column_cells(sheet, "company_name")
    assert all(not c.quotePrefix and not c.value.startswith("'") for c in names)

    zh = tmp_path / "leads-zh.xlsx"
    assert runner.invoke(app, ["export", "-o", str(zh), "--lang", "zh", "--warehouse", warehouse_url]).exit_code == 0
    lines = {c.value for c in column_cells(load_workbook(zh)["全部线索"], "产品线")}
    assert lines == {labels.product_line(code, "zh") for code in set(ranked["product_line"])}
    assert "其他" in lines and not any(re.search("[A-Za-z]", v) for v in lines)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_exports_and_reports_are_written_with_the_users_umask(tmp_path, demo_config, mask, demo_night):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    demo_night(str(demo_config), url)
    before = os.umask(mask)
    try:
        for name, command in (("l.xlsx", "export"), ("l.csv", "export"), ("r.html", "report")):
            result = runner.invoke(app, [command, "-o", str(tmp_path / name), "--warehouse", url])
            assert result.exit_code == 0, result.output
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask, name
    finally:
        os.umask(before)


def test_export_to_an_unwritable_place_is_clear_and_leaves_nothing(warehouse_url, demo_config, tmp_path, monkeypatch,
                                                                   demo_night):
    demo_night(str(demo_config), warehouse_url)
    (tmp_path / "folder.xlsx").mkdir()
    cases = {str(tmp_path / "nope" / "x.xlsx"): "does not exist", str(tmp_path / "folder.xlsx"): "is a directory"}
    (tmp_path / "a-file").write_text("x")
    cases[str(tmp_path / "a-file" / "x.csv")] = "does not exist"
    if Path("/sys").is_dir():
        cases["/sys/leads.xlsx"] = "cannot write to /sys"
    for target, message in cases.items():
        result = runner.invoke(app, ["export", "-o", target, "--warehouse", warehouse_url])
        assert result.exit_code == 1 and message in said(result), (target, result.output)

    # A failure in the middle of writing leaves the previous file as it was, and no temporary file.
    out = tmp_path / "leads.xlsx"
    assert runner.invoke(app, ["export", "-o", str(out), "--warehouse", warehouse_url]).exit_code == 0
    before = out.read_bytes()
    write_sheet = export._write_sheet
    calls = []

    def fail_on_second_sheet(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return write_sheet(*args, **kwargs)

    monkeypatch.setattr(export, "_write_sheet", fail_on_second_sheet)
    result = runner.invoke(app, ["export", "-o", str(out), "--warehouse", warehouse_url])
    assert result.exit_code == 1 and "No space left on device" in said(result)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".leadrank-export")) == []


# --- top -------------------------------------------------------------------------------------

def table_lines(result) -> list[list[str]]:
    """The rows of a `leadrank top` table printed on a wide terminal, as lists of cell texts."""
    rows = [line for line in result.output.splitlines() if line.startswith("│") and line[1:].strip()[:1].isdigit()]
    return [[cell.strip() for cell in line.strip("│").split("│")] for line in rows]


def test_top_ranks_within_a_segment_and_filters_by_tier_and_region(warehouse_url, demo_config, demo_night):
    demo_night(str(demo_config), warehouse_url)
    engine = make_engine(warehouse_url)
    ranked = ranked_leads(engine)
    wide = {"COLUMNS": "250"}

    def top(*args: str):
        return runner.invoke(app, ["top", *args, "--warehouse", warehouse_url], env=wide)

    government = ranked[ranked["segment"] == "government"]
    for typed in ("government", "GOVERNMENT", "政府", "政府机关事业单位", "Government & institutions"):
        result = top("--segment", typed)
        assert result.exit_code == 0, result.output
        rows = table_lines(result)
        assert [r[0] for r in rows] == [str(i) for i in range(1, len(government) + 1)]  # rank within the segment
        assert [r[1] for r in rows] == [str(r) for r in government["rank"]]  # overall rank beside it
        assert {r[4] for r in rows} == {"government"}
    assert "┃ # ┃ overall ┃" in top("--segment", "政府").output

    banks = table_lines(top("--segment", "金融", "-n", "2"))
    assert [r[1] for r in banks] == [str(r) for r in ranked[ranked["segment"] == "bank_finance"]["rank"][:2]]

    tier_b = table_lines(top("--tier", "b", "-n", "50"))
    assert [r[0] for r in tier_b] == [str(r) for r in ranked[ranked["tier"] == "B"]["rank"]]
    a_or_b = table_lines(top("--tier", "A", "--tier", "B", "-n", "50"))
    assert [r[0] for r in a_or_b] == [str(r) for r in ranked[ranked["tier"].isin(["A", "B"])]["rank"]]
    for flag, typed, column, value in (("--city", "深圳", "city", "深圳市"), ("--city", "Shenzhen", "city", "深圳市"),
                                       ("--province", "guangdong", "province", "广东省")):
        rows = table_lines(top(flag, typed, "-n", "50"))
        assert [r[0] for r in rows] == [str(r) for r in ranked[ranked[column] == value]["rank"]], typed
    both = top("--segment", "large_enterprise", "--province", "广东", "--tier", "C")
    expected = ranked[(ranked["segment"] == "large_enterprise") & (ranked["province"] == "广东省") & (ranked["tier"] == "C")]
    segment_ranks = ranked[ranked["segment"] == "large_enterprise"].reset_index(drop=True)
    assert [r[0] for r in table_lines(both)] == [str(segment_ranks.index[segment_ranks["lead_id"] == lead][0] + 1)
                                                 for lead in expected["lead_id"]]
    assert len(expected) and "(segment large_enterprise, tier C, province 广东省)" in said(both)

    unknown = top("--segment", "goverment")
    assert unknown.exit_code == 1 and "unknown segment 'goverment'" in said(unknown)
    assert all(f"{code} ({zh})" in said(unknown) for code, (_, zh) in labels.SEGMENTS.items())
    several = top("--segment", "企业")
    assert several.exit_code == 1 and "fits several" in said(several) and "sme (中小企业)" in said(several)
    bad_tier = top("--tier", "E")
    assert bad_tier.exit_code == 1 and "unknown tier E: the tiers are A, B, C, D" in said(bad_tier)
    nowhere = top("--city", "拉萨")
    assert nowhere.exit_code == 1 and "no leads match city 拉萨市" in said(nowhere)


# --- report ----------------------------------------------------------------------------------

def svgs(page: str) -> list[ET.Element]:
    charts = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)
    return [ET.fromstring(chart) for chart in charts]  # each chart is well-formed XML


def bars(chart: ET.Element) -> list[dict[str, str]]:
    return [rect.attrib for rect in chart.iter("rect") if rect.get("class") == "bar"]


def test_report_renders_its_charts_self_contained(warehouse_url, demo_config, tmp_path):
    no_run = runner.invoke(app, ["report", "-o", str(tmp_path / "r.html"), "--warehouse", warehouse_url])
    assert no_run.exit_code == 1 and "leadrank run" in said(no_run)
    run_pipeline(str(demo_config), warehouse_url)
    engine = make_engine(warehouse_url)
    ranked = ranked_leads(engine)
    top = ranked.iloc[0]["lead_id"]
    with engine.begin() as conn:  # a hostile name from the web
        conn.execute(text("UPDATE leads SET company_name = :n WHERE lead_id = :l"),
                     {"n": "<script>alert('x')</script>有限公司", "l": top})

    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", "-o", str(out), "--warehouse", warehouse_url])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "&lt;script&gt;" in page
    assert not re.search(r"\b(src|href)\s*=|url\(|@import|<link|<iframe|<img", page)  # nothing fetched to view it

    charts = {chart.get("aria-label"): chart for chart in svgs(page)}
    tiers = charts["Tier counts by segment"]
    assert sum(float(b["data-value"]) for b in bars(tiers)) == len(ranked)
    per_segment = ranked.groupby("segment").size()
    for segment, n in per_segment.items():
        assert sum(float(b["data-value"]) for b in bars(tiers) if b["data-category"] == labels.segment(segment, "en")) == n
    assert all(float(b["width"]) > 0 for b in bars(tiers))
    distribution = charts["Score distribution (priority, by tier)"]
    assert sum(float(b["data-value"]) for b in bars(distribution)) == len(ranked)
    assert {b["data-series"] for b in bars(distribution)} == {f"tier {t}" for t in set(ranked["tier"])}
    movement = charts["Movement against the previous run"]
    assert {b["data-category"]: float(b["data-value"]) for b in bars(movement)} == {"new": len(ranked)}
    new_leads = charts["This run's new leads by segment"]
    assert sum(float(b["data-value"]) for b in bars(new_leads)) == len(ranked)
    sources = charts["Each source's yield: its leads by tier"]
    yields = dict(query(engine, "SELECT source, leads FROM mart_source_yield"))
    for source, n in yields.items():
        assert sum(float(b["data-value"]) for b in bars(sources) if b["data-category"] == source) == n
    assert "Cities with the most tier A and B leads" in charts
    assert table_rows(page, "new-leads") == min(len(ranked), 20)

    zh = build_report(engine, "zh")
    assert "线索排名报告" in zh and "各客户类型的等级分布" in zh and len(svgs(zh)) == len(charts)


def table_rows(page: str, css_class: str) -> int:
    table = re.search(rf"<table class='{css_class}'>.*?</table>", page, flags=re.S)
    assert table, css_class
    return table.group(0).count("<tr>") - 1  # less the header


def test_report_opens_with_the_leads_to_call_under_a_readable_header(warehouse_url, demo_config, monkeypatch,
                                                                     demo_night):
    first = demo_night(str(demo_config), warehouse_url)
    engine = make_engine(warehouse_url)
    ranked = ranked_leads(engine)
    page = build_report(engine, "en")
    # The page opens with the title, the header, the summary cards, then the leads to call.
    assert page.index("<h1>") < page.index("class='meta'") < page.index("class='cards'") < page.index("<table class='top-leads'>")
    assert page.index("<table class='top-leads'>") < page.index("<svg")
    top = re.search(r"<table class='top-leads'>(.*?)</table>", page, flags=re.S).group(1)
    head = re.findall(r"<th>(.*?)</th>", top)
    assert head == ["Rank", "Tier", "Company", "Segment", "City", "Phone", "Top reasons"]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", top)[1:]]
    assert len(rows) == len(ranked) < 50
    for cells, lead in zip(rows, ranked.itertuples(), strict=True):
        assert cells[0] == str(lead.rank) and f">{lead.tier}<" in cells[1]
        assert cells[2] == html.escape(lead.company_name) and cells[3] == html.escape(labels.segment(lead.segment, "en"))
        assert cells[5] == html.escape(str(formats.phone(lead.phone) or ""))
        assert cells[6] == html.escape(labels.reasons(lead.reasons_for, lead.reasons_against, "en"))
    assert any(re.fullmatch(r"0\d{2,3} \d{3,4} \d{4}", cells[5]) for cells in rows)  # dialled as at home

    # The header: the run's number and its local publishing time, no microseconds, no UUIDs.
    published = query(engine, "SELECT published_at FROM pipeline_runs WHERE run_id = :r", r=first["run_id"])[0][0]
    local = formats.local_time(published, ZoneInfo("Asia/Shanghai"))
    meta = re.search(r"<div class='meta'>(.*?)</div>", page).group(1)
    assert meta == f"Run 1 · published {local:%Y-%m-%d %H:%M} (Asia/Shanghai)"
    berlin = formats.local_time(published, ZoneInfo("Europe/Berlin"))
    assert f"published {berlin:%Y-%m-%d %H:%M} (Europe/Berlin)" in build_report(engine, "en", "Europe/Berlin")
    assert first["run_id"] in page.split("<footer>")[1]  # the id, for support, at the bottom only
    run_pipeline(str(demo_config), warehouse_url)
    zh = build_report(engine, "zh")
    assert re.search(r"<div class='meta'>第 2 次运行 · 发布于 \d{4}-\d\d-\d\d \d\d:\d\d \(Asia/Shanghai\)</div>", zh)
    assert "优先联系的前 35 条线索" in zh and "<th>电话</th>" in zh
    bad = runner.invoke(app, ["report", "-o", "r.html", "--timezone", "Mars/Olympus", "--warehouse", warehouse_url])
    assert bad.exit_code == 1 and "unknown time zone 'Mars/Olympus'" in said(bad)
    # Text asks for the CJK faces of every desktop, in the page and in the charts.
    for face in ('"Noto Sans CJK SC"', '"WenQuanYi Micro Hei"', '"Microsoft YaHei"', '"PingFang SC"'):
        assert face in re.search(r"body\{font-family:([^;]*);", zh).group(1)
        assert all(face in text_.get("font-family") for chart in svgs(zh) for text_ in chart.iter("text"))
    monkeypatch.setattr(report, "TOP_LEADS", 10)  # at most TOP_LEADS (50) rows
    assert table_rows(build_report(engine, "en"), "top-leads") == 10


# --- outcome feedback ------------------------------------------------------------------------

def config_without_outcomes(tmp_path: Path) -> Path:
    """The demo sources with no outcomes file: the model can only learn from imported outcomes."""
    text_ = DEMO_CONFIG.read_text(encoding="utf-8").split("\noutcomes:")[0]
    text_ = text_.replace("${CONFIG_URL}", DEMO_DIR.as_uri()).replace(
        "path: financials/statements.csv", f"path: {DEMO_DIR / 'financials' / 'statements.csv'}")
    path = tmp_path / "sources.yaml"
    path.write_text(text_, encoding="utf-8")
    return path


def crm_export(lead_id: str) -> pd.DataFrame:
    """The demo CRM file as another CRM would export it, plus the rows a real export has wrong."""
    demo = pd.read_csv(DEMO_DIR / "crm" / "outcomes.csv", dtype=str, keep_default_na=False)
    crm = pd.DataFrame({"线索ID": "", "客户名称": demo["公司名称"], "统一社会信用代码": demo["统一社会信用代码"],
                        "状态": demo["结果"], "成交日期": demo["日期"], "负责人": demo["负责人"]})
    extra = pd.DataFrame([
        {"线索ID": lead_id, "客户名称": "", "统一社会信用代码": "", "状态": "contacted", "成交日期": "2026-04-01",
         "负责人": "赵六"},
        crm.iloc[1].to_dict(),  # a duplicate of row 3
        {**crm.iloc[2].to_dict(), "成交日期": "2026-13-45"},  # a date that does not exist
        {**crm.iloc[3].to_dict(), "状态": "maybe"},  # an outcome nobody knows
    ])
    return pd.concat([crm, extra], ignore_index=True)


def latest_model(engine) -> str:
    return query(engine, "SELECT status FROM model_versions ORDER BY trained_at DESC, model_id DESC")[0][0]


def test_outcomes_import_reports_bad_rows_and_the_model_trains_on_it(warehouse_url, tmp_path):
    config = config_without_outcomes(tmp_path)
    run_pipeline(str(config), warehouse_url)
    engine = make_engine(warehouse_url)
    assert latest_model(engine) == "cold_start"
    lead_id = ranked_leads(engine).iloc[-1]["lead_id"]
    crm = crm_export(lead_id)
    source = tmp_path / "crm-2026-04.csv"
    crm.to_csv(source, index=False, encoding="gb18030")  # Chinese Excel's default encoding

    result = runner.invoke(app, ["outcomes", "import", str(source), "--unmatched", str(tmp_path / "unmatched.csv"),
                                 "--warehouse", warehouse_url])
    assert result.exit_code == 0, result.output
    n = len(crm)
    unknown_row = crm.index[crm["客户名称"] == "不存在科技有限公司"][0] + 2
    unmatched = pd.read_csv(tmp_path / "unmatched.csv", encoding="utf-8-sig")
    reasons = dict(zip(unmatched["row_ref"], unmatched["reason"], strict=True))
    assert reasons[f"crm-2026-04.csv:{unknown_row}"].startswith("no lead matches '不存在科技有限公司'")
    assert "not understood" in reasons[f"crm-2026-04.csv:{n}"] and "2026-13-45" in reasons[f"crm-2026-04.csv:{n}"]
    assert "unknown outcome 'maybe'" in reasons[f"crm-2026-04.csv:{n + 1}"]
    assert len(unmatched) == 3
    assert f"row crm-2026-04.csv:{n - 1} repeats row crm-2026-04.csv:3" in said(result)
    stored = query(engine, "SELECT outcome, outcome_date, lead_id, owner FROM outcomes")
    assert len(stored) == n - 4 and f"{n - 4} outcomes imported" in said(result)
    assert ("contacted", "2026-04-01", lead_id, "赵六") in stored
    dates = {d for _, d, _, _ in stored}
    assert {"2026-02-04", "2026-03-03"} <= dates  # 2026/2/4 and 2026年3月3日
    assert {o for o, *_ in stored} == {"won", "lost", "contacted"}  # 成交 / 丢单 understood

    # The same outcomes again, now as an XLSX export: nothing new.
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(crm.columns))
    for row in crm.itertuples(index=False):
        sheet.append(list(row))
    sheet.cell(2, 5).value = datetime(2026, 1, 10)  # a real date cell, as Excel writes them
    workbook.save(tmp_path / "crm.xlsx")
    again = runner.invoke(app, ["outcomes", "import", str(tmp_path / "crm.xlsx"), "--warehouse", warehouse_url])
    assert again.exit_code == 0, again.output
    assert "0 outcomes imported" in said(again) and f"{n - 4} already imported" in said(again)
    assert len(query(engine, "SELECT outcome_id FROM outcomes")) == n - 4

    rerun = run_pipeline(str(config), warehouse_url)
    assert rerun["scoring"]["model"] == "trained" and latest_model(engine) == "trained"


def test_outcomes_import_bad_files(warehouse_url, tmp_path):
    empty = runner.invoke(app, ["outcomes", "import", str(DEMO_DIR / "crm" / "outcomes.csv"), "--warehouse",
                                warehouse_url])
    assert empty.exit_code == 1 and "no leads yet" in said(empty)
    run_pipeline(str(config_without_outcomes(tmp_path)), warehouse_url)
    missing = runner.invoke(app, ["outcomes", "import", str(tmp_path / "nope.csv"), "--warehouse", warehouse_url])
    assert missing.exit_code == 1 and "file not found" in said(missing)
    no_outcome = tmp_path / "no-outcome.csv"
    no_outcome.write_text("公司名称,备注\n深圳市华强电子有限公司,hello\n", encoding="utf-8")
    result = runner.invoke(app, ["outcomes", "import", str(no_outcome), "--warehouse", warehouse_url])
    assert result.exit_code == 1 and "no outcome column" in said(result) and "--map" in said(result)
    mapped = runner.invoke(app, ["outcomes", "import", str(no_outcome), "--map", "备注=outcome", "--warehouse",
                                 warehouse_url])
    assert mapped.exit_code == 0 and "unknown outcome 'hello'" in said(mapped)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"this is not a workbook")
    result = runner.invoke(app, ["outcomes", "import", str(broken), "--warehouse", warehouse_url])
    assert result.exit_code == 1 and "cannot read broken.xlsx" in said(result)


# --- access on PostgreSQL --------------------------------------------------------------------

def test_grant_sales_reads_marts_only(warehouse_url, demo_config, demo_night):
    if make_url(warehouse_url).get_backend_name() != "postgresql":
        result = runner.invoke(app, ["db", "grant-sales", "sales", "--warehouse", warehouse_url])
        assert result.exit_code == 1 and "only on PostgreSQL" in said(result)
        return
    demo_night(str(demo_config), warehouse_url)
    admin = make_engine(warehouse_url)
    role = f"leadrank_sales_{secrets.token_hex(4)}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    sales = create_engine(make_url(warehouse_url).set(username=role, password=None))
    try:
        unknown = runner.invoke(app, ["db", "grant-sales", role + "x", "--warehouse", warehouse_url])
        assert unknown.exit_code == 1 and "does not exist" in said(unknown)
        superuser = runner.invoke(app, ["db", "grant-sales", "postgres", "--warehouse", warehouse_url])
        assert superuser.exit_code == 1 and "superuser" in said(superuser)
        result = runner.invoke(app, ["db", "grant-sales", role, "--warehouse", warehouse_url])
        assert result.exit_code == 0, result.output
        assert "ranked_leads" in said(result) and "mart_segment_leads" in said(result)

        with sales.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == role
            n = conn.execute(text("SELECT COUNT(*) FROM ranked_leads")).scalar()
            assert n == len(ranked_leads(admin)) > 0
            for mart in ("mart_segment_leads", "mart_region_leads", "mart_segment_tiers", "mart_source_yield",
                         "mart_dropped_leads", "mart_runs"):
                conn.execute(text(f"SELECT * FROM {mart}")).all()
        refused = [
            "SELECT * FROM stg_prospects", "SELECT * FROM stg_rejects", "SELECT * FROM leads",
            "SELECT * FROM lead_records", "SELECT * FROM lead_scores", "SELECT * FROM suppressions",
            "SELECT * FROM outcomes", "SELECT * FROM pipeline_runs",
            "INSERT INTO outcomes (outcome_id, lead_id, outcome, imported_at) VALUES ('x', 'y', 'won', now())",
            # mart_runs selects from one table, so PostgreSQL could write through it: only the grant stops it.
            "UPDATE mart_runs SET run_id = run_id", "DELETE FROM mart_runs", "INSERT INTO mart_runs (run_id) VALUES ('x')",
            "DELETE FROM leads", "UPDATE lead_ranks SET tier = 'A'", "SELECT * FROM score_versions",
            "CREATE TABLE sales_scratch (x int)", "TRUNCATE stg_prospects",
        ]
        for statement in refused:
            with sales.connect() as conn, pytest.raises(ProgrammingError, match="permission denied"):
                conn.execute(text(statement))
    finally:
        sales.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
        admin.dispose()
        with create_engine(warehouse_url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.exec_driver_sql(f"DROP ROLE {role}")


# --- retention -------------------------------------------------------------------------------

def test_staging_is_purged_by_start_time_whatever_its_offset(warehouse_url, demo_config, demo_night):
    """A run's start written with another offset (an edited row, another tool's clock) counts by
    its time, as for run directories and rankings: 11:40 at +08:00 is 03:40 UTC, before a 04:40
    UTC cutoff, though its text sorts after it."""
    run = demo_night(str(demo_config), warehouse_url)
    engine = make_engine(warehouse_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE pipeline_runs SET started_at = :t"), {"t": "2026-12-07T11:40:00+08:00"})
    now = datetime.fromisoformat("2027-01-06T04:40:00+00:00")  # (30 days: the cutoff is 2026-12-07 04:40 UTC)
    staged = query(engine, "SELECT COUNT(*) FROM stg_prospects WHERE run_id = :r", r=run["run_id"])[0][0]
    assert staged > 0
    assert purge(engine, 30, now=now, dry_run=True).staging_rows["stg_prospects"] == staged
    assert purge(engine, 30, now=now - timedelta(hours=2)).staging_rows == {}  # (not yet old)
    assert purge(engine, 30, now=now).staging_rows["stg_prospects"] == staged
    assert query(engine, "SELECT COUNT(*) FROM stg_prospects") == [(0,)]


def test_retention_purges_old_raw_responses_and_staging(warehouse_url, demo_config):
    old = run_pipeline(str(demo_config), warehouse_url, run_id="20200101T023000Z-old000")
    engine = make_engine(warehouse_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE pipeline_runs SET started_at = :t WHERE run_id = :r"),
                     {"t": "2020-01-01T02:30:00+00:00", "r": old["run_id"]})
    stray = run_dir("extract-20200105T000000Z-abcdef")  # a `leadrank extract` try-out, long ago
    (stray / "x.parquet").write_bytes(b"x" * 100)
    recent = run_pipeline(str(demo_config), warehouse_url)
    ranked = ranked_leads(engine)
    staged = dict(query(engine, "SELECT run_id, COUNT(*) FROM stg_prospects GROUP BY run_id"))
    assert staged[old["run_id"]] > 0 and run_dir(old["run_id"]).joinpath("extract").is_dir()

    dry = runner.invoke(app, ["db", "purge", "--days", "30", "--dry-run", "--warehouse", warehouse_url])
    assert dry.exit_code == 0 and "would purge 2 run directories" in said(dry)
    assert stray.is_dir() and dict(query(engine, "SELECT run_id, COUNT(*) FROM stg_prospects GROUP BY run_id")) == staged

    result = runner.invoke(app, ["db", "purge", "--days", "30", "--warehouse", warehouse_url])
    assert result.exit_code == 0, result.output
    assert "purged 2 run directories" in said(result)
    runs = run_dir(recent["run_id"]).parent
    assert sorted(p.name for p in runs.iterdir()) == [recent["run_id"]]
    after = dict(query(engine, "SELECT run_id, COUNT(*) FROM stg_prospects GROUP BY run_id"))
    assert after == {recent["run_id"]: staged[recent["run_id"]]}
    assert query(engine, "SELECT COUNT(*) FROM stg_source_runs WHERE run_id = :r", r=old["run_id"]) == [(0,)]
    assert query(engine, "SELECT COUNT(*) FROM stg_rejects WHERE run_id = :r", r=old["run_id"]) == [(0,)]
    pd.testing.assert_frame_equal(ranked_leads(engine), ranked)  # marts and history untouched
    assert query(engine, "SELECT COUNT(*) FROM lead_scores WHERE run_id = :r", r=old["run_id"])[0][0] == len(ranked)
    zero = runner.invoke(app, ["db", "purge", "--days", "0", "--warehouse", warehouse_url])
    assert zero.exit_code == 2 and "greater than or equal to 1" in said(zero)


def test_retention_keeps_the_latest_published_run_however_old(warehouse_url, demo_config):
    """The next night resolves incrementally from the latest published run's state: its directory
    stays, however old; an older published run's and a failed later one's go."""
    engine = make_engine(warehouse_url)
    older = run_pipeline(str(demo_config), warehouse_url, run_id="20200101T023000Z-aaaaaa")["run_id"]
    latest = run_pipeline(str(demo_config), warehouse_url, run_id="20200102T023000Z-bbbbbb")["run_id"]
    failed = "20200103T023000Z-cccccc"
    begin(str(demo_config), failed, warehouse_url)
    fail(failed, warehouse_url, "a test")
    with engine.begin() as conn:
        for day, run_id in enumerate((older, latest, failed), start=1):
            conn.execute(text("UPDATE pipeline_runs SET started_at = :t WHERE run_id = :r"),
                         {"t": f"2020-01-0{day}T02:30:00+00:00", "r": run_id})
    assert RunFiles(latest).state("resolution").exists()
    result = purge(engine, 30)
    assert sorted(result.run_dirs) == [older, failed]
    assert sorted(p.name for p in run_dir(latest).parent.iterdir()) == [latest]
    assert RunFiles(latest).state("resolution").exists()


def test_retention_purges_old_rankings_but_the_two_that_movement_reads(warehouse_url, demo_config, monkeypatch):
    """A published run's full ranking (lead_ranks: a row per lead per night) goes after the
    ranking retention, but the latest published run's and its base run's stay: ranked_leads'
    rank and movement read them. Every score version stays; a run still inside the ranking
    retention keeps its ranking."""
    engine = make_engine(warehouse_url)
    runs = [run_pipeline(str(demo_config), warehouse_url, run_id=f"2020010{day}T023000Z-rank0{day}")["run_id"]
            for day in (1, 2, 3)]
    recent = run_pipeline(str(demo_config), warehouse_url)["run_id"]
    with engine.begin() as conn:
        for day, run_id in enumerate(runs, start=1):
            conn.execute(text("UPDATE pipeline_runs SET started_at = :t WHERE run_id = :r"),
                         {"t": f"2020-01-0{day}T02:30:00+00:00", "r": run_id})
    ranked, versions = ranked_leads(engine), query(engine, "SELECT COUNT(*) FROM score_versions")
    ranks = dict(query(engine, "SELECT run_id, COUNT(*) FROM lead_ranks GROUP BY run_id"))
    assert set(ranks) == {*runs, recent} and min(ranks.values()) > 0
    # The latest run's base is runs[2]: with the runs re-dated, all three are old.
    assert query(engine, "SELECT base_run_id FROM pipeline_runs WHERE run_id = :r", r=recent) == [(runs[2],)]

    dry = runner.invoke(app, ["db", "purge", "--days", "30", "--rank-days", "60", "--dry-run", "--warehouse",
                              warehouse_url])
    assert dry.exit_code == 0, dry.output
    assert f"would purge the rankings of 2 published runs ({ranks[runs[0]] + ranks[runs[1]]} rows)" in said(dry)
    assert dict(query(engine, "SELECT run_id, COUNT(*) FROM lead_ranks GROUP BY run_id")) == ranks

    # Three days before 5 January 2020: the first run's ranking goes, the second's is inside.
    first = purge(engine, 30, rank_days=3, now=datetime(2020, 1, 5, tzinfo=ZoneInfo("UTC")))
    assert first.rankings == [runs[0]] and first.ranking_rows == ranks[runs[0]]
    monkeypatch.setenv("LEADRANK_RANK_RETENTION_DAYS", "60")
    result = purge(engine, 30)
    assert result.rankings == [runs[1]] and result.ranking_rows == ranks[runs[1]]
    assert dict(query(engine, "SELECT run_id, COUNT(*) FROM lead_ranks GROUP BY run_id")) == {
        runs[2]: ranks[runs[2]], recent: ranks[recent]}
    pd.testing.assert_frame_equal(ranked_leads(engine), ranked)  # rank and movement as before
    assert query(engine, "SELECT COUNT(*) FROM score_versions") == versions
    assert query(engine, "SELECT COUNT(*) FROM lead_scores WHERE run_id = :r", r=runs[0]) == [(0,)]
    kept = {run_id: bool(flag) for run_id, flag in query(engine, "SELECT run_id, ranking_kept FROM mart_runs")}
    assert kept == {runs[0]: False, runs[1]: False, runs[2]: True, recent: True}

    monkeypatch.setenv("LEADRANK_RANK_RETENTION_DAYS", "soon")
    refused = runner.invoke(app, ["db", "purge", "--warehouse", warehouse_url])
    assert refused.exit_code != 0 and "LEADRANK_RANK_RETENTION_DAYS must be a whole number" in said(refused)



def _purged_rows(engine, megabytes: int = 6) -> None:
    """What a staging purge leaves behind: a few MB of rows written, then deleted. PostgreSQL's
    autovacuum is kept off the table: run between the delete and the test's vacuum, it would
    already have truncated the freed pages (seen once, in a loaded hour: 9.5 -> 9.3 MB)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE stg_rejects SET (autovacuum_enabled = false, "
                              "toast.autovacuum_enabled = false)"))
        conn.execute(text("INSERT INTO stg_rejects (run_id, stage, reason, raw) VALUES (:r, 'extract', 'old', :raw)"),
                     [{"r": "20200101T000000Z-old", "raw": secrets.token_hex(1000)} for _ in range(megabytes * 500)])
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM stg_rejects WHERE run_id = '20200101T000000Z-old'"))


def _sqlite_with_free_pages(path: Path, megabytes: int):
    """The engine of a SQLite warehouse at `path` (upgraded from what is there) whose purged rows
    left `megabytes` of free pages."""
    from leadrank.warehouse.migrate import upgrade

    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    _purged_rows(engine, megabytes)
    return engine


def test_vacuum_gives_back_the_space_a_purge_freed(warehouse_url, demo_config, demo_night):
    """`db vacuum` returns the pages purged rows left (SQLite: the file shrinks; PostgreSQL
    --full: the tables are rewritten), and the published list reads as before."""
    engine = make_engine(warehouse_url)
    demo_night(str(demo_config), warehouse_url)
    ranked = ranked_leads(engine)
    _purged_rows(engine)
    done = runner.invoke(app, ["db", "vacuum", "--full", "--warehouse", warehouse_url])
    assert done.exit_code == 0, done.output
    before, after = (float(mb) for mb in re.search(r"warehouse ([\d.]+) MB -> ([\d.]+) MB", said(done)).groups())
    assert after < before - 4, said(done)  # (6 MB purged)
    pd.testing.assert_frame_equal(ranked_leads(engine), ranked)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA freelist_count").scalar() == 0
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_vacuum_on_postgresql_skips_a_table_it_cannot_lock_soon(warehouse_url):
    """VACUUM FULL locks a table against reads: one a session is reading waits at most
    --lock-wait and is skipped and named, and every other table is vacuumed."""
    engine = make_engine(warehouse_url)
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's table locks")
    from leadrank.warehouse.migrate import upgrade
    from leadrank.warehouse.vacuum import vacuum

    upgrade(engine)
    with engine.connect() as reader:
        reader.execute(text("SELECT COUNT(*) FROM stg_rejects")).scalar()  # (holds its lock to the end)
        result = vacuum(engine, full=True, lock_wait=0.2)
    assert result.skipped == ["stg_rejects"]
    assert "stg_prospects" in result.tables and "stg_rejects" not in result.tables
    assert vacuum(engine).tables == sorted([*result.tables, "stg_rejects"])  # (plain VACUUM takes no such lock)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE pipeline_runs CASCADE"))
    refused = runner.invoke(app, ["db", "vacuum", "--warehouse", warehouse_url])
    assert refused.exit_code != 0 and "holds no leadrank warehouse" in said(refused)


def test_vacuum_refuses_when_the_disk_lacks_room_for_its_copy(tmp_path, monkeypatch):
    """SQLite's VACUUM writes a copy of the live pages in its temporary directory, then writes
    them back through the WAL beside the file: without room for both it would fail half-way.
    It is refused first, with the space needed and free, naming SQLite's temporary directory
    ($SQLITE_TMPDIR here) when that is what lacks room; the file is untouched."""
    from collections import namedtuple

    from leadrank.warehouse import vacuum as vacuum_module

    path, temp = tmp_path / "w.db", tmp_path / "sqlite-tmp"
    temp.mkdir()
    engine = _sqlite_with_free_pages(path, 2)
    with engine.connect() as conn:
        free_pages = conn.exec_driver_sql("PRAGMA freelist_count").scalar()
    engine.dispose()
    size = path.stat().st_size
    usage, real = namedtuple("usage", "total used free"), vacuum_module.shutil.disk_usage
    monkeypatch.setenv("SQLITE_TMPDIR", str(temp))
    monkeypatch.setattr(vacuum_module.shutil, "disk_usage",
                        lambda place: usage(10**12, 0, 10**5) if Path(place) == temp else real(place))
    refused = runner.invoke(app, ["db", "vacuum", "--warehouse", f"sqlite:///{path}"])
    assert refused.exit_code == 1 and f"MB free in {temp}" in said(refused), said(refused)
    assert "0 MB are free; nothing was changed" in said(refused)
    assert path.stat().st_size == size
    with make_engine(f"sqlite:///{path}").connect() as conn:
        assert conn.exec_driver_sql("PRAGMA freelist_count").scalar() == free_pages > 0
    monkeypatch.setattr(vacuum_module.shutil, "disk_usage", real)
    done = runner.invoke(app, ["db", "vacuum", "--warehouse", f"sqlite:///{path}"])  # with room, it runs
    assert done.exit_code == 0 and path.stat().st_size < size, said(done)


def test_vacuum_gives_an_old_sqlite_warehouse_larger_pages_when_nothing_else_has_it_open(tmp_path):
    """A warehouse made with SQLite's 4 KiB pages gets PAGE_BYTES pages, which SQLite can only
    do outside WAL: while another connection has the file open it is vacuumed at its own size
    and the note says why."""
    import sqlite3

    from leadrank.warehouse.engine import PAGE_BYTES
    from leadrank.warehouse.vacuum import vacuum

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute("PRAGMA page_size=4096")
    old.execute("CREATE TABLE made_before (x)")
    old.commit()
    old.close()
    engine = _sqlite_with_free_pages(path, 2)
    other = sqlite3.connect(path)
    other.execute("SELECT COUNT(*) FROM leads").fetchone()
    busy = vacuum(engine)
    assert busy.page_size_after == 4096 and "another connection" in busy.note and busy.bytes_after < busy.bytes_before
    other.close()
    result = vacuum(engine)
    assert (result.page_size_before, result.page_size_after, result.note) == (4096, PAGE_BYTES, "")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


def test_vacuum_while_a_night_writes_is_a_clear_error_and_changes_nothing(tmp_path):
    """A night holding SQLite's write lock past the busy timeout: the vacuum fails with a
    message that says to try again, and the warehouse stays as it was (WAL, its rows)."""
    import sqlite3

    from sqlalchemy import event

    from leadrank.warehouse.vacuum import VacuumError, vacuum

    path = tmp_path / "w.db"
    engine = _sqlite_with_free_pages(path, 1)
    event.listen(engine, "connect", lambda db, _record: db.execute("PRAGMA busy_timeout=200"))  # (after the engine's)
    night = sqlite3.connect(path, isolation_level=None)
    night.execute("BEGIN IMMEDIATE")
    night.execute("INSERT INTO stg_rejects (run_id, stage, reason) VALUES ('night', 'extract', 'loading')")
    with pytest.raises(VacuumError, match="cannot be vacuumed now .*locked.* try again"):
        vacuum(engine)
    night.execute("ROLLBACK")
    night.close()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA freelist_count").scalar() > 0  # (not vacuumed)


def test_retention_prunes_http_cache_entries_no_night_stored_again(tmp_path):
    """The shared HTTP cache is rewritten for every page a night fetches; entries of pages no
    source fetched within the retention go, fresh ones stay (a dry run only counts)."""
    warehouse = f"sqlite:///{tmp_path / 'w.db'}"
    cache = http_cache_dir()
    stale, fresh = cache / "a" / "b" / "stale", cache / "c" / "fresh"
    for path in (stale, fresh):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
    long_ago = time.time() - 40 * 86400
    os.utime(stale, (long_ago, long_ago))
    dry = runner.invoke(app, ["db", "purge", "--days", "30", "--dry-run", "--warehouse", warehouse])
    assert dry.exit_code == 0 and "would purge 0 run directories, 1 HTTP cache entries" in said(dry), said(dry)
    assert stale.exists()
    result = runner.invoke(app, ["db", "purge", "--days", "30", "--warehouse", warehouse])
    assert result.exit_code == 0 and "purged 0 run directories, 1 HTTP cache entries" in said(result)
    assert not stale.exists() and fresh.exists()


@pytest.mark.prefect
def test_retention_flow(prefect_harness, warehouse_url, demo_config, monkeypatch):
    from leadrank.flows.retention import retention_purge
    from leadrank.warehouse import retention

    monkeypatch.setattr(retention, "RUNS_PER_STATEMENT", 1)  # (the old runs' staging deleted in several statements)

    run = run_pipeline(str(demo_config), warehouse_url, run_id="20200101T023000Z-flow00")
    latest = run_pipeline(str(demo_config), warehouse_url, run_id="20200102T023000Z-flow01")
    with make_engine(warehouse_url).begin() as conn:
        conn.execute(text("UPDATE pipeline_runs SET started_at = '2020-01-01T02:30:00+00:00'"))
    result = retention_purge(days=7, warehouse=warehouse_url)
    # Both runs are old; the latest published one keeps its directory (the next night's state).
    assert result["run_dirs"] == [run["run_id"]] and result["staging_rows"]["stg_prospects"] > 0
    assert query(make_engine(warehouse_url), "SELECT COUNT(*) FROM stg_prospects") == [(0,)]
    assert not run_dir(run["run_id"]).joinpath("extract").exists()
    assert run_dir(latest["run_id"]).joinpath("state").exists()
    assert "vacuum" not in result
    _purged_rows(make_engine(warehouse_url))
    vacuumed = retention_purge(days=7, warehouse=warehouse_url, vacuum=True)["vacuum"]
    if make_url(warehouse_url).get_backend_name() == "sqlite":
        assert vacuumed["bytes_after"] < vacuumed["bytes_before"]  # (a plain VACUUM on PostgreSQL shrinks no file)
    else:
        assert "stg_rejects" in vacuumed["tables"]


@pytest.mark.parametrize("command", [["report"], ["outcomes", "import"], ["suppress", "add"], ["suppress", "list"],
                                     ["suppress", "remove"], ["db", "grant-sales"], ["db", "purge"],
                                     ["db", "vacuum"]])
def test_sales_commands_explain_themselves(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output and len(said(result)) > 200
