"""Financial statements: the portals' transposed layout (UTF-8 and GBK), flat multi-file exports
(tushare-like), units, duplicates and bad cells. Fixtures are written here with numbers whose
ratios are worked out by hand in the assertions."""

import math

import numpy as np
import pandas as pd
import pytest

from leadrank.config import FinancialsConfig, ScoringConfig
from leadrank.contracts import LEAD_COLUMNS
from leadrank.scoring.financials import load_financials, normalise_stock_code, split_label
from leadrank.scoring.ratios import compute_ratios, lead_ratios, score_ratios


def ratios(statements: pd.DataFrame) -> pd.DataFrame:
    base = statements.rename(columns={"collection_days": "collection_days_src", "inventory_days": "inventory_days_src"})
    return score_ratios(compute_ratios(base), ScoringConfig())


def portal_files(folder, gbk: bool = False) -> None:
    """Two companies as a portal exports them: BOM, trailing commas, `--`, units in labels."""
    folder.mkdir(exist_ok=True)
    utf8 = {
        "zcfzb600001.csv": "报告日期,2019-12-31,2018-12-31,\n应收账款(万元),300,250,\n存货(万元),400,--,\n"
                           "流动资产合计(万元),1200,1000,\n资产总计(万元),3000,2500,\n",
        "lrb600001.csv": "报告日期,2019-12-31,2018-12-31,\n营业收入(万元),2000,1600,\n营业成本(万元),1460,1200,\n"
                         "净利润(万元),150,-40,\n基本每股收益,0.5,0.1,\n",
    }
    for name, text in utf8.items():
        (folder / name).write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    other = {  # full-width parentheses, a line item in 元, a text cell, a leading space before --
        "zcfzb600002_raw_gbk.csv": "报告日期,2019-12-31,\n应收账款(万元),50,\n存货(万元),0,\n应收利息(万元), --,\n"
                                   "流动资产合计(万元),500,\n资产总计(万元),800,\n",
        "lrb600002_raw_gbk.csv": "报告日期,2019-12-31,\n营业收入（元）,7300000,\n营业成本（元）,3650000,\n净利润(万元),未披露,\n",
    }
    for name, text in other.items():
        (folder / name).write_bytes(text.encode("gbk" if gbk else "utf-8"))


@pytest.mark.parametrize("gbk", [False, True])
def test_portal_layout_ratios_match_hand_computation(tmp_path, gbk):
    portal_files(tmp_path / "n163", gbk)
    cfg = FinancialsConfig(name="n163", layout="transposed", path=tmp_path / "n163", units="万元",
                           names={"600001": "东方机械股份有限公司"})
    statements, rejects = load_financials([cfg])
    frame = ratios(statements).set_index(["stock_code", "year"])
    a = frame.loc[("600001", 2019)]
    assert a["company_name"] == "东方机械股份有限公司" and a["revenue"] == 2000 * 1e4
    assert a["current_asset_ratio"] == pytest.approx(1200 / 3000)  # 0.4
    assert a["net_margin"] == pytest.approx(150 / 2000)  # 0.075
    assert a["roa"] == pytest.approx(150 / 3000)  # 0.05
    assert a["collection_days"] == pytest.approx(300 / 2000 * 365)  # 54.75
    assert a["inventory_days"] == pytest.approx(400 / 1460 * 365)  # 100.0
    assert a["revenue_growth"] == pytest.approx(2000 / 1600 - 1)  # 0.25, from the 2018 column
    earlier = frame.loc[("600001", 2018)]
    assert math.isnan(earlier["inventory_days"]) and not earlier["inventory_na"]  # `--` is missing, not n/a
    assert earlier["net_margin"] == pytest.approx(-40 / 1600) and "negative_margin" in earlier["risk_flags"]
    b = frame.loc[("600002", 2019)]
    assert b["revenue"] == 7_300_000  # the label said 元: not multiplied by 10,000
    assert b["current_asset_ratio"] == pytest.approx(500 / 800)
    assert b["collection_days"] == pytest.approx(50e4 / 7.3e6 * 365)  # 25.0
    assert b["inventory_na"] and math.isnan(b["inventory_days"])  # zero inventory: not applicable
    assert math.isnan(b["net_margin"])  # 未披露 is missing, and reported
    assert list(rejects["row_ref"]) == ["lrb600002_raw_gbk.csv:4:2019-12-31"]
    assert "'未披露' where a number belongs in 净利润" in rejects.iloc[0]["reason"]


def test_portal_file_without_company_in_name_is_reported(tmp_path):
    folder = tmp_path / "n163"
    portal_files(folder)
    (folder / "balance.csv").write_text("报告日期,2019-12-31,\n资产总计(万元),1,\n", encoding="utf-8")
    (folder / "lrb600009.csv").write_text("just some text\n", encoding="utf-8")
    statements, rejects = load_financials([FinancialsConfig(name="n", layout="transposed", path=folder)])
    assert set(statements["stock_code"]) == {"600001", "600002"}
    reasons = dict(zip(rejects["row_ref"], rejects["reason"], strict=True))
    assert "does not name a company" in reasons["balance.csv"]
    assert "cannot read statement" in reasons["lrb600009.csv"]


def test_structural_break_is_flagged_not_growth(tmp_path):
    folder = tmp_path / "n163"
    folder.mkdir()
    (folder / "lrb002352.csv").write_text("报告日期,2016-12-31,2015-12-31,\n营业收入(万元),5748270,66847,\n"
                                          "净利润(万元),416078,2513,\n", encoding="utf-8")
    statements, _ = load_financials([FinancialsConfig(name="n", layout="transposed", path=folder, units="万元")])
    frame = ratios(statements).set_index("year")
    assert frame.loc[2016, "structural_break"] and "structural_break" in frame.loc[2016, "risk_flags"]
    assert math.isnan(frame.loc[2016, "revenue_growth_pct"])  # a reverse merger is not scored as growth
    assert not frame.loc[2015, "structural_break"]


def tushare_like(folder):
    folder.mkdir()
    (folder / "basics.csv").write_text(
        "code,name,industry,totalAssets,liquidAssets\n000001,平安银行,银行,100000,40000\n"
        "000002,万科A,全国地产,200000,150000\n600003,*ST东方,机械,50000,--\n", encoding="utf-8")
    (folder / "profit.csv").write_text(
        ",code,name,net_profit_ratio,net_profits,business_income\n0,000001,平安银行,30.0,300.0,1000.0\n"
        "1,000002,万科A,12.5,250.0,2000.0\n2,600003,*ST东方,-10.0,-50.0,500.0\n3,000002,万科A,12.5,250.0,2000.0\n",
        encoding="utf-8")
    (folder / "operation.csv").write_text(
        ",code,name,arturndays,inventory_days\n0,000001,平安银行,,\n1,000002,万科A,10.5,1200.0\n"
        "2,600003,*ST东方,90.0,45.0\n3,600003,*ST东方,95.0,45.0\n", encoding="utf-8")
    return [
        FinancialsConfig(name="basics", path=folder / "basics.csv", year=2015, units="万元",
                         columns={"stock_code": "code", "company_name": "name", "industry": "industry",
                                  "total_assets": "totalAssets", "current_assets": "liquidAssets"}),
        FinancialsConfig(name="profit", path=folder / "profit.csv", year=2015, units="百万元",
                         columns={"stock_code": "code", "company_name": "name", "net_profit": "net_profits",
                                  "revenue": "business_income", "net_margin_percent": "net_profit_ratio"}),
        FinancialsConfig(name="operation", path=folder / "operation.csv", year=2015,
                         columns={"stock_code": "code", "company_name": "name", "collection_days": "arturndays",
                                  "inventory_days": "inventory_days"}),
    ]


def test_flat_files_merge_per_company_with_units_and_ready_made_days(tmp_path):
    statements, rejects = load_financials(tushare_like(tmp_path / "ts"))
    frame = ratios(statements).set_index("stock_code")
    assert len(frame) == 3 and frame.loc["000002", "financials_source"] == "basics;profit;operation"
    bank, vanke, east = frame.loc["000001"], frame.loc["000002"], frame.loc["600003"]
    assert bank["total_assets"] == 100000 * 1e4 and bank["revenue"] == 1000 * 1e6  # 万元 and 百万元 to yuan
    assert bank["net_margin"] == pytest.approx(300 / 1000)  # equals its own net_profit_ratio 30.0 %
    assert bank["roa"] == pytest.approx(300e6 / 100000e4)  # 0.3
    assert bank["inventory_na"] and math.isnan(bank["collection_days"])  # a bank: n/a, no receivable days given
    assert vanke["collection_days"] == 10.5 and vanke["inventory_days"] == 1200.0  # tushare's own days
    assert vanke["current_asset_ratio"] == pytest.approx(150000 / 200000)
    assert math.isnan(east["current_asset_ratio"]) and east["net_margin"] == pytest.approx(-50 / 500)
    assert east["collection_days"] == 90.0  # the first of two conflicting rows is kept
    reasons = sorted(rejects["reason"])
    assert len(reasons) == 2
    assert "code:000002, 2015): identical to profit.csv:3" in reasons[0]
    assert "code:600003, 2015): conflicts with operation.csv:4" in reasons[1]


def test_statements_match_leads_by_uscc_then_name_ignoring_st_marks(tmp_path):
    statements, _ = load_financials(tushare_like(tmp_path / "ts"))
    row = dict.fromkeys(LEAD_COLUMNS)
    leads = pd.DataFrame([{**row, "lead_id": "L1", "company_name": "东方股份有限公司", "company_name_zh": "东方股份有限公司",
                           "name_core": "东方", "uscc_valid": False},
                          {**row, "lead_id": "L2", "company_name": "无关公司", "company_name_zh": "无关公司",
                           "name_core": "无关", "uscc_valid": False}])
    out = lead_ratios(statements, leads, ScoringConfig()).set_index("lead_id")
    assert out.loc["L1", "net_margin"] == pytest.approx(-0.1) and out.loc["L1", "ratio_coverage"] > 0
    assert out.loc["L2", "ratio_coverage"] == 0 and out.loc["L2", "ratio_score"] == 0.5


def test_negative_assets_and_zero_revenue_are_flagged_and_undefined(tmp_path):
    path = tmp_path / "fin.csv"
    path.write_text("name,year,assets,current,revenue,profit\n甲,2025,-500,100,0,10\n乙,2025,1000,500,abc,10\n",
                    encoding="utf-8")
    cfg = FinancialsConfig(name="f", path=path, columns={"company_name": "name", "year": "year", "total_assets": "assets",
                                                          "current_assets": "current", "revenue": "revenue",
                                                          "net_profit": "profit"})
    statements, rejects = load_financials([cfg])
    frame = ratios(statements).set_index("company_name")
    for ratio in ("current_asset_ratio", "roa", "net_margin", "collection_days"):
        assert math.isnan(frame.loc["甲", ratio]) and not np.isinf(frame.loc["甲", ratio])
    assert {"negative_assets", "no_revenue"} <= set(frame.loc["甲", "risk_flags"].split(";"))
    assert frame.loc["乙", "current_asset_ratio"] == 0.5  # the text cell cost only its own ratio
    assert list(rejects["row_ref"]) == ["fin.csv:3"]


def test_unknown_unit_is_a_clear_reject(tmp_path):
    path = tmp_path / "fin.csv"
    path.write_text("name,revenue\n甲,1\n", encoding="utf-8")
    cfg = FinancialsConfig(name="f", path=path, units="万美元", columns={"company_name": "name", "revenue": "revenue"})
    statements, rejects = load_financials([cfg])
    assert statements.empty and "unknown unit '万美元'" in rejects.iloc[0]["reason"]


def test_labels_and_codes():
    assert split_label("营业收入(万元)") == ("营业收入", "万元")
    assert split_label("营业收入（元）") == ("营业收入", "元")
    assert split_label("基本每股收益") == ("基本每股收益", None)
    assert [normalise_stock_code(v) for v in ["600340", "002352.SZ", "SZ002352", "2352", 2352.0, "abc"]] == [
        "600340", "002352", "002352", "002352", "002352", None]


def test_portal_layout_from_xlsx(tmp_path):
    rows = [["报告日期", "2019-12-31", "2018-12-31"], ["资产总计(万元)", "3000", "2500"],
            ["流动资产合计(万元)", "1200", "--"], ["营业收入(万元)", "2000", "1600"]]
    pd.DataFrame(rows).to_excel(tmp_path / "zcfzb600001.xlsx", header=False, index=False)
    cfg = FinancialsConfig(name="x", layout="transposed", path=tmp_path, pattern="*.xlsx")
    statements, rejects = load_financials([cfg])
    frame = ratios(statements).set_index("year")
    assert rejects.empty and frame.loc[2019, "current_asset_ratio"] == pytest.approx(1200 / 3000)
    assert math.isnan(frame.loc[2018, "current_asset_ratio"]) and frame.loc[2019, "revenue_growth"] == pytest.approx(0.25)
