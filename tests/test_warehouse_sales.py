"""What sales get out of the warehouse and put back into it, on SQLite and PostgreSQL: XLSX/CSV
exports, the HTML report, outcome imports the model trains on, read-only access on PostgreSQL,
and retention."""

import re
import secrets
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from typer.testing import CliRunner

from leadrank.flows.cli import app
from leadrank.paths import DEMO_CONFIG, DEMO_DIR, run_dir
from leadrank.warehouse import export, labels
from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.read import ranked_leads
from leadrank.warehouse.report import build_report
from tests.helpers import run_pipeline

runner = CliRunner()


def said(result) -> str:
    """What a command printed, with rich's line wrapping undone."""
    return " ".join(result.output.split())


def query(engine, sql: str, **params) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params).all()]


# --- exports ---------------------------------------------------------------------------------

def test_xlsx_export_has_a_sheet_per_segment_and_chinese_headers(warehouse_url, demo_config, tmp_path):
    run_pipeline(str(demo_config), warehouse_url)
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
    for suffix in ("csv", "xlsx"):
        out = tmp_path / f"formula.{suffix}"
        assert runner.invoke(app, ["export", "-o", str(out), "--warehouse", warehouse_url]).exit_code == 0
        first = (pd.read_csv(out, encoding="utf-8-sig", dtype=str) if suffix == "csv"
                 else pd.read_excel(out, dtype=str)).iloc[0]
        assert first["company_name"] == '\'=HYPERLINK("http://evil.example/","点我")'
        assert first["phone"] == top["phone"] and first["phone"].startswith("+86")
    bad = runner.invoke(app, ["export", "-o", str(csv_out), "--lang", "fr", "--warehouse", warehouse_url])
    assert bad.exit_code == 1 and "unknown language" in said(bad)


def test_export_to_an_unwritable_place_is_clear_and_leaves_nothing(warehouse_url, demo_config, tmp_path, monkeypatch):
    run_pipeline(str(demo_config), warehouse_url)
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
    assert page.count("<tr>") == min(len(ranked), 20) + 1  # the new-leads table and its header

    zh = build_report(engine, "zh")
    assert "线索排名报告" in zh and "各客户类型的等级分布" in zh and len(svgs(zh)) == len(charts)


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

def test_grant_sales_reads_marts_only(warehouse_url, demo_config):
    if make_url(warehouse_url).get_backend_name() != "postgresql":
        result = runner.invoke(app, ["db", "grant-sales", "sales", "--warehouse", warehouse_url])
        assert result.exit_code == 1 and "only on PostgreSQL" in said(result)
        return
    run_pipeline(str(demo_config), warehouse_url)
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
            "DELETE FROM leads", "UPDATE lead_scores SET tier = 'A'",
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


@pytest.mark.prefect
def test_retention_flow(prefect_harness, warehouse_url, demo_config):
    from leadrank.flows.retention import retention_purge

    run = run_pipeline(str(demo_config), warehouse_url, run_id="20200101T023000Z-flow00")
    with make_engine(warehouse_url).begin() as conn:
        conn.execute(text("UPDATE pipeline_runs SET started_at = '2020-01-01T02:30:00+00:00' WHERE run_id = :r"),
                     {"r": run["run_id"]})
    result = retention_purge(days=7, warehouse=warehouse_url)
    assert result["run_dirs"] == [run["run_id"]] and result["staging_rows"]["stg_prospects"] > 0
    assert not run_dir(run["run_id"]).joinpath("extract").exists()


@pytest.mark.parametrize("command", [["report"], ["outcomes", "import"], ["suppress", "add"], ["suppress", "list"],
                                     ["suppress", "remove"], ["db", "grant-sales"], ["db", "purge"]])
def test_sales_commands_explain_themselves(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output and len(said(result)) > 200
