"""Ratios, segments, the model and priority."""

import math

import numpy as np
import pandas as pd
import pytest

from leadrank.config import FinancialsConfig, OutcomesConfig, ScoringConfig
from leadrank.contracts import LEAD_COLUMNS
from leadrank.scoring.financials import load_financials
from leadrank.scoring.model import evaluate_and_fit
from leadrank.scoring.outcomes import load_outcomes, match_outcomes, parse_dates
from leadrank.scoring.priority import assign_tiers, score_leads
from leadrank.scoring.ratios import compute_ratios, lead_ratios
from leadrank.scoring.segments import classify


def statements(**overrides) -> pd.DataFrame:
    base = {"financials_source": "t", "uscc": None, "stock_code": None, "company_name": "甲公司", "industry": "x",
            "year": 2025, "total_assets": 1000.0, "current_assets": 600.0, "revenue": 2000.0, "cost_of_sales": 1500.0,
            "net_profit": 100.0, "accounts_receivable": 250.0, "inventory": 300.0, "revenue_prev": 1600.0,
            "collection_days_src": np.nan, "inventory_days_src": np.nan, "net_margin_percent": np.nan}
    return pd.DataFrame([{**base, **overrides}])


def test_ratios_match_hand_computation():
    r = compute_ratios(statements()).iloc[0]
    assert r["current_asset_ratio"] == pytest.approx(0.6)
    assert r["net_margin"] == pytest.approx(0.05)
    assert r["roa"] == pytest.approx(0.1)
    assert r["collection_days"] == pytest.approx(250 / 2000 * 365)
    assert r["inventory_days"] == pytest.approx(300 / 1500 * 365)
    assert r["revenue_growth"] == pytest.approx(0.25)


def test_zero_revenue_and_negative_assets_are_undefined_not_infinite():
    r = compute_ratios(statements(revenue=0.0, total_assets=-5.0)).iloc[0]
    for ratio in ("net_margin", "collection_days", "roa", "current_asset_ratio"):
        assert math.isnan(r[ratio]), ratio


def test_bank_without_inventory_is_not_applicable():
    r = compute_ratios(statements(industry="银行", inventory=np.nan, cost_of_sales=np.nan)).iloc[0]
    assert r["inventory_na"] and math.isnan(r["inventory_days"])
    # A manufacturer whose inventory is simply not reported is missing data, not "not applicable".
    r = compute_ratios(statements(industry="机械", inventory=np.nan)).iloc[0]
    assert not r["inventory_na"] and math.isnan(r["inventory_days"])
    # Inventory reported as zero is not applicable in any industry (a service company).
    assert compute_ratios(statements(inventory=0.0)).iloc[0]["inventory_na"]


def lead(lead_id, name, **extra):
    row = dict.fromkeys(LEAD_COLUMNS)
    row.update(lead_id=lead_id, company_name=name, company_name_zh=name, name_core=name, uscc_valid=False,
               is_branch=False, n_sources=1, n_records=1, exhibitions=0, sources="s", source_kinds="exhibition")
    row.update(extra)
    return row


def test_financials_text_cells_are_reported_not_fatal(tmp_path):
    path = tmp_path / "fin.csv"
    path.write_text("公司名称,年度,营业收入,净利润\n甲公司,2025,1000,未披露\n乙公司,2025,abc,5\n", encoding="utf-8")
    cfg = FinancialsConfig(name="f", path=path, units="万元",
                           columns={"company_name": "公司名称", "year": "年度", "revenue": "营业收入", "net_profit": "净利润"})
    frame, rejects = load_financials([cfg])
    assert len(frame) == 2 and frame.loc[0, "revenue"] == 1000 * 1e4  # units normalised to yuan
    assert math.isnan(frame.loc[0, "net_profit"]) and frame.loc[1, "net_profit"] == 5e4
    assert sorted(rejects["row_ref"]) == ["fin.csv:2", "fin.csv:3"]
    assert rejects["reason"].str.contains("'未披露' where a number belongs in 净利润").any()


def test_gbk_financials_file(tmp_path):
    path = tmp_path / "fin.csv"
    path.write_bytes("公司名称,营业收入\n甲公司,10\n".encode("gbk"))
    cfg = FinancialsConfig(name="f", path=path, columns={"company_name": "公司名称", "revenue": "营业收入"})
    frame, _ = load_financials([cfg])
    assert frame.loc[0, "company_name"] == "甲公司"


def test_unreadable_financials_file_is_a_reject(tmp_path):
    cfg = FinancialsConfig(name="f", path=tmp_path / "missing.csv", columns={"company_name": "x"})
    frame, rejects = load_financials([cfg])
    assert frame.empty and "cannot read financials" in rejects.iloc[0]["reason"]


def test_leads_match_statements_by_code_then_name():
    leads = pd.DataFrame([lead("L1", "甲公司"), lead("L2", "丙公司")])
    out = lead_ratios(statements(), leads, ScoringConfig()).set_index("lead_id")
    assert out.loc["L1", "ratio_coverage"] > 0 and out.loc["L2", "ratio_coverage"] == 0
    assert out.loc["L2", "ratio_score"] == 0.5  # a neutral prior, not a zero


def test_outcomes_in_chinese_with_three_date_formats(tmp_path):
    path = tmp_path / "crm.csv"
    path.write_text("公司名称,结果,日期\n甲公司,成交,2026/3/1\n乙公司,丢单,2026年3月2日\n未知公司,成交,2026-03-03\n"
                    "甲公司,maybe,2026-03-04\n", encoding="utf-8")
    cfg = OutcomesConfig(name="o", path=path, columns={"company_name": "公司名称", "outcome": "结果", "outcome_date": "日期"})
    leads = pd.DataFrame([lead("L1", "甲公司"), lead("L2", "乙公司")])
    good, bad = match_outcomes(load_outcomes(cfg), leads)
    assert list(good["outcome"]) == ["won", "lost"] and list(good["outcome_date"]) == ["2026-03-01", "2026-03-02"]
    assert [r.split(":")[1] for r in bad["row_ref"]] == ["4", "5"]
    assert "no lead matches '未知公司'" in bad.iloc[0]["reason"] and "unknown outcome" in bad.iloc[1]["reason"]


def test_a_configured_outcomes_file_finds_its_columns_as_an_import_does(tmp_path):
    """An outcomes file of the sources file without `columns:` was read only under our own field
    names ("no outcome column 'outcome'" every night, for a CRM export headed 客户名称 / 结果 /
    签约日期 that `leadrank outcomes import` reads); a named header is found whatever its case and
    spaces, and one that is not in the file is an error naming it, not a silently empty field."""
    path = tmp_path / "crm.csv"
    path.write_text("客户名称,结果,签约日期,Sales Rep\n甲公司,成交,2026/3/1,王\n乙公司,丢单,2026-03-02,李\n",
                    encoding="utf-8")
    leads = pd.DataFrame([lead("L1", "甲公司"), lead("L2", "乙公司")])
    good, bad = match_outcomes(load_outcomes(OutcomesConfig(name="o", path=path)), leads)
    assert bad.empty and list(good["outcome"]) == ["won", "lost"]
    assert list(good["outcome_date"]) == ["2026-03-01", "2026-03-02"] and list(good["owner"]) == ["王", "李"]
    named = load_outcomes(OutcomesConfig(name="o", path=path, columns={"owner": "sales  rep"}))
    assert list(named["owner"]) == ["王", "李"]
    with pytest.raises(ValueError, match="'负责人' not in the file"):
        load_outcomes(OutcomesConfig(name="o", path=path, columns={"owner": "负责人"}))


def test_crm_stage_names_are_outcomes(tmp_path):
    """A Salesforce export says 'Closed Won' / 'Closed Lost' in its Stage column, HubSpot
    'closedwon' / 'closedlost': every row was rejected as an unknown outcome."""
    path = tmp_path / "opportunities.csv"
    path.write_text("Account Name,Stage,Close Date\n甲公司,Closed Won,2026-03-01\n乙公司,closed_lost,2026-03-02\n"
                    "甲公司,closedwon,2026-03-03\n乙公司,Prospecting,2026-03-04\n", encoding="utf-8")
    cfg = OutcomesConfig(name="o", path=path, columns={"company_name": "Account Name", "outcome": "Stage",
                                                       "outcome_date": "Close Date"})
    good, bad = match_outcomes(load_outcomes(cfg), pd.DataFrame([lead("L1", "甲公司"), lead("L2", "乙公司")]))
    assert list(good["outcome"]) == ["won", "lost", "won"] and "unknown outcome 'Prospecting'" in bad.iloc[0]["reason"]


def test_date_formats():
    assert list(parse_dates(pd.Series(["2026-03-01", "2026/3/1", "2026年3月1日", "garbage"]))) == [
        "2026-03-01", "2026-03-01", "2026-03-01", None]


@pytest.mark.parametrize(("column", "dates"), [
    (["01/03/2026", "13/03/2026"], ["2026-03-01", "2026-03-13"]),  # a day above 12: every first number a day
    (["03/01/2026", "03/13/2026"], ["2026-03-01", "2026-03-13"]),  # a day above 12 second: month first
    (["03/01/2026", "04/02/2026"], ["2026-03-01", "2026-04-02"]),  # no sign, slashes: month first, as before
    (["01.03.2026", "1.3.2026 10:00", "31.12.2025"], ["2026-03-01", "2026-03-01", "2025-12-31"]),  # dots: day first
    (["13/03/2026", "03/13/2026"], ["2026-03-13", "2026-03-13"]),  # both ways in one column: each cell its own
])
def test_a_columns_dates_with_the_year_last_are_read_in_the_order_the_column_shows(column, dates):
    """Read one by one, 01/03/2026 was 3 January beside 13/03/2026, 13 March, in one column."""
    assert list(parse_dates(pd.Series(column))) == dates


def model_frame(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    frame = pd.DataFrame({"x": x, "cat": rng.choice(["a", "b"], size=n)})
    y = pd.Series((x + rng.normal(scale=0.5, size=n) > 0).astype(int))
    return frame, y


def test_cold_start_is_stated():
    frame, y = model_frame(10)
    result = evaluate_and_fit(frame, y, ["x"], ["cat"], min_per_class=8)
    assert result.pipeline is None and "cold start" in result.reason


def test_one_class_only_is_cold_start():
    frame, _ = model_frame(50)
    result = evaluate_and_fit(frame, pd.Series([1] * 50), ["x"], ["cat"])
    assert result.pipeline is None and "0 lost" in result.reason


def test_model_learns_signal_and_validates_on_later_data():
    frame, y = model_frame(300)
    dates = pd.Series(pd.date_range("2025-01-01", periods=300, freq="D"))
    result = evaluate_and_fit(frame, y, ["x"], ["cat"], dates=dates)
    assert result.metrics["validation"] == "time_3_later_blocks"
    assert result.metrics["auc"] > 0.85


def test_unseen_category_at_prediction_is_fine():
    from leadrank.scoring.model import predict

    frame, y = model_frame(200)
    result = evaluate_and_fit(frame, y, ["x"], ["cat"])
    p = predict(result, pd.DataFrame({"x": [0.1], "cat": ["never seen"]}))
    assert 0 <= p[0] <= 1


def test_tiers_by_cumulative_share():
    tiers = assign_tiers(pd.Series(range(1, 11)), {"A": 0.1, "B": 0.3, "C": 0.6})
    assert "".join(tiers) == "ABBCCCDDDD"


def test_scores_with_all_financials_missing_and_cold_start():
    leads = pd.DataFrame([lead(f"L{i}", f"公司{i}") for i in range(6)])
    empty = pd.DataFrame(columns=statements().columns)
    result = score_leads(leads, empty, pd.DataFrame(columns=["lead_id", "outcome", "outcome_date"]), ScoringConfig())
    scores = result.scores
    assert result.stats["model"] == "cold_start" and scores["model_score"].isna().all()
    assert list(scores["rank"]) == list(range(1, 7)) and scores["lead_id"].is_unique
    assert (scores["ratio_coverage"] == 0).all()


def test_reasons_describe_the_leads_own_values():
    """A lead without statements is never told about its ratios; labels follow values."""
    rng = np.random.default_rng(3)
    leads, rows, outcomes = [], [], []
    for i in range(60):
        leads.append(lead(f"L{i:02d}", f"公司{i:02d}", n_sources=1 + i % 3))
        if i % 2 == 0:  # half the leads have statements
            margin = rng.uniform(-0.1, 0.3)
            rows.append(statements(company_name=f"公司{i:02d}", net_profit=2000.0 * margin).iloc[0])
        outcomes.append({"lead_id": f"L{i:02d}", "outcome": "won" if i % 3 == 0 else "lost",
                         "outcome_date": f"2026-01-{1 + i % 28:02d}"})
    result = score_leads(pd.DataFrame(leads), pd.DataFrame(rows), pd.DataFrame(outcomes), ScoringConfig())
    assert result.stats["model"] == "trained"
    ratio_words = ("流动资产率", "净利润率", "资产回报率", "回款", "存货", "财务数据完整", "财务指标")
    for row in result.scores.itertuples():
        if row.ratio_coverage == 0:
            assert not any(word in row.top_reasons for word in ratio_words), row.top_reasons
        if "单一" in row.top_reasons:  # "single source" only for leads seen in one source
            assert leads[int(row.lead_id[1:])]["n_sources"] == 1


def _reasons_one_by_one(factors, top=3):
    """The plain per-lead definition of the reasons, to check the array version against."""
    import json

    from leadrank.scoring.explain import label

    names = list(factors.impact)
    out = []
    for i in range(len(factors.index)):
        ranked = sorted(((f, float(factors.impact[f].iloc[i]), bool(factors.favourable[f].iloc[i])) for f in names),
                        key=lambda t: -abs(t[1]))
        pros = [t for t in ranked if t[1] > 0.005 and t[2]][:top]  # for: favourable values only
        cons = [t for t in ranked if t[1] < -0.005 and not t[2]][:top]  # against: unfavourable ones only

        def as_json(items):
            return json.dumps([{"factor": f, "zh": label(f, ok)[0], "en": label(f, ok)[1], "impact": round(v, 4)}
                               for f, v, ok in items], ensure_ascii=False)

        text = [f"+{label(f, ok)[0]} ({label(f, ok)[1]})" for f, _, ok in pros]
        text += [f"−{label(f, ok)[0]} ({label(f, ok)[1]})" for f, _, ok in cons]
        out.append((as_json(pros), as_json(cons), "; ".join(text)))
    return out


@pytest.mark.parametrize("repeated", [False, True], ids=["distinct-leads", "leads-sharing-effects"])
def test_reasons_for_every_lead_match_the_per_lead_definition(repeated):
    from leadrank.scoring.explain import Factors, reasons

    rng = np.random.default_rng(5)
    n = 500
    index = pd.RangeIndex(n)
    factors = Factors(index)
    for name in ("net_margin", "segment", "model", "coverage", "n_sources", "risk", "unlabelled_factor"):
        values = rng.choice([0.0, 0.01, -0.02, 0.03], n) if repeated else rng.normal(0, 0.05, n)
        values[rng.random(n) < 0.3] = 0.0  # ties and effects below the threshold
        # values mostly favourable where the effect is positive; some effects run against the value
        favourable = (values > 0) ^ (rng.random(n) < 0.2)
        factors.add(name, pd.Series(values, index=index), pd.Series(favourable, index=index))
    got = reasons(factors)
    expected = _reasons_one_by_one(factors)
    assert list(zip(got["reasons_for"], got["reasons_against"], got["top_reasons"], strict=True)) == expected
    assert (got["reasons_for"] == "[]").any() and got["top_reasons"].str.count(";").max() == 5


def test_statements_reach_leads_by_code_first_then_chinese_name_then_core():
    from leadrank.scoring.ratios import match_to_leads

    code = "91350100M000100Y43"
    table = pd.concat([statements(company_name="甲公司", net_profit=100.0),
                       statements(company_name="乙公司", uscc=code, net_profit=200.0),
                       statements(company_name="丙公司", net_profit=300.0)], ignore_index=True)
    leads = pd.DataFrame([
        lead("by-code", "甲公司", uscc=code, uscc_valid=True),  # its code names 乙, which wins over its name
        lead("by-name", "甲公司"),
        lead("by-core", "English name only", company_name_zh=None, name_core="丙"),
        lead("none", "丁公司"),
    ])
    matched = match_to_leads(table, leads).set_index("lead_id")
    assert sorted(matched.index) == ["by-code", "by-core", "by-name"]
    assert matched.loc["by-code", "net_profit"] == 200.0 and matched.loc["by-name", "net_profit"] == 100.0
    assert matched.loc["by-core", "net_profit"] == 300.0
    assert "_uscc" not in matched.columns and "_core" not in matched.columns


def segments_of(*rows: dict) -> dict[str, tuple[str, str]]:
    leads = pd.DataFrame(list(rows))
    ratios = pd.DataFrame({"lead_id": leads["lead_id"], "stock_code": None, "revenue": np.nan, "total_assets": np.nan})
    found = classify(leads, ratios, ScoringConfig())
    return dict(zip(found["lead_id"], zip(found["customer_type"], found["product_line"], strict=True), strict=True))


def test_segments_follow_what_a_company_is_not_whom_it_sells_to():
    """Product categories naming police or the military make an exhibitor's product line, never
    its customer type; names, legal form, the 统一社会信用代码 and membership make that."""
    en = {"company_name_zh": None, "country": "GB"}
    found = segments_of(
        lead("supplier", "Parmley Technologies Ltd", company_name_en="Parmley Technologies Ltd", legal_form="ltd",
             products="Police & Security; Military Equipment", **{**en, "country": None}),
        lead("ministry", "Ministry of Defence", company_name_en="Ministry of Defence", products="Defence", **en),
        lead("police", "Police Supplies Ltd", company_name_en="Police Supplies Ltd", legal_form="ltd", **en),
        lead("bureau", "上海市公安局"),
        lead("institute", "中国电子科技集团公司第五十研究所", legal_form="group corporation"),
        lead("press", "北京大学出版社有限公司", legal_form="有限公司"),
        lead("registry", "某某服务中心", uscc="12100000400000624D", uscc_valid=True),
        lead("garbled", "某某服务中心", uscc="12100000400000624X"),
        lead("fund", "易方达基金管理有限公司", legal_form="有限公司", sources="CYJGGS-jjglgs"),
        lead("payments", "汇付数据", sources="CYJGGS-zfjsjg"),
        lead("lawyers", "北京君合律师事务所", sources="CYJGGS-lssws"),
        lead("it", "恒生电子股份有限公司", legal_form="股份有限公司", sources="CYJGGS-xxjsxtfwjg"),
        lead("software", "上海铭创软件技术有限公司", legal_form="有限公司", sources="CYJGGS-xxjsxtfwjg"),
        lead("fund sales", "和讯信息科技有限公司", legal_form="有限公司", sources="CYJGGS-jjxsjg"),
        lead("both lists", "某某信息科技有限公司", legal_form="有限公司", sources="CYJGGS-xxjsxtfwjg;CYJGGS-zfjsjg"),
        lead("equipment", "深圳市某某有限公司", legal_form="有限公司", products="电信设备; 通信仪器"),
        lead("gmbh", "Muster Papier GmbH", company_name_en="Muster Papier GmbH", legal_form="GmbH",
             **{**en, "country": None}),
        lead("no form", "Muster Papier", company_name_en="Muster Papier", **{**en, "country": None}),
    )
    assert found == {
        "supplier": ("sme", "equipment_maker"), "ministry": ("government", "other"),
        "police": ("multinational", "other"), "bureau": ("government", "other"),
        "institute": ("government", "equipment_maker"), "press": ("sme", "other"), "registry": ("government", "other"),
        "garbled": ("sme", "other"),
        "fund": ("bank_finance", "other"), "payments": ("bank_finance", "other"), "lawyers": ("sme", "other"),
        "it": ("large_enterprise", "equipment_maker"), "software": ("sme", "other"),
        "fund sales": ("bank_finance", "other"), "both lists": ("bank_finance", "other"),
        "equipment": ("sme", "equipment_maker"),
        "gmbh": ("multinational", "other"), "no form": ("sme", "other"),
    }


def test_parts_are_stacked_as_concat_stacks_them_and_let_go():
    """The per-lead parts (a base run's reused rows first, its columns in another order) become
    one frame equal to pd.concat's, a column at a time, and the parts list is emptied."""
    from leadrank.memory import stacked_parts

    base = pd.DataFrame({"lead_id": ["L1", "L2"], "input_hash": np.array([1, 2], dtype=np.uint64),
                         "priority": [0.5, np.nan], "reasons_for": ["a", None]})
    fresh = pd.DataFrame({"priority": [0.9], "reasons_for": ["b"], "lead_id": ["L3"],
                          "input_hash": np.array([3], dtype=np.uint64)})
    expected = pd.concat([base, fresh], ignore_index=True)
    parts = [base.copy(), fresh.copy()]
    stacked = stacked_parts(parts)
    assert parts == []
    pd.testing.assert_frame_equal(stacked, expected)
