"""One lead index for statements and outcomes (issue 20): the same company row reaches the same
lead through both paths, with a documented precedence and tie rule."""

from __future__ import annotations

import pandas as pd
import pytest

from leadrank.scoring.lead_index import _ST_MARK, LeadIndex, join_by_lead, without_st_marks
from leadrank.scoring.outcomes import match_outcomes
from leadrank.scoring.ratios import match_to_leads
from leadrank.transform.names import name_cores
from tests.test_scoring import statements

CODE = "91350100M000100Y43"  # a valid 统一社会信用代码


def leads(*rows: tuple[str, str, str | None, str]) -> pd.DataFrame:
    """(lead_id, Chinese name, valid code or None, status) rows, with name cores as a night has them."""
    frame = pd.DataFrame(rows, columns=["lead_id", "company_name_zh", "uscc", "status"])
    frame["uscc_valid"] = frame["uscc"].notna()
    frame["name_core"] = name_cores(frame["company_name_zh"])
    return frame


def both_paths(frame: pd.DataFrame, name: str, uscc: str | None = None) -> tuple[list[str], list[str]]:
    """The leads a statement and an outcome row naming the same company reach."""
    statement = match_to_leads(statements(company_name=name, uscc=uscc), frame)
    outcome = pd.DataFrame([{"lead_id": None, "company_name": name, "uscc": uscc, "outcome": "won",
                             "outcome_date": "2026-03-01", "owner": None, "source_file": "crm.csv", "row_no": 2}])
    matched, _ = match_outcomes(outcome, frame)
    return list(statement["lead_id"]), list(matched["lead_id"])


def test_the_same_company_reaches_the_same_single_lead_through_statements_and_outcomes():
    # Two leads of one name (not merged: say, different cities the sources did not give).
    frame = leads(("L2", "深圳市甲乙科技有限公司", None, "active"), ("L1", "甲乙科技有限公司", None, "active"),
                  ("L3", "丙丁贸易有限公司", CODE, "active"))
    assert both_paths(frame, "甲乙科技股份有限公司") == (["L1"], ["L1"])
    assert both_paths(frame, "*ST甲乙科技") == (["L1"], ["L1"])  # exchanges' ST marks dropped on both paths
    assert both_paths(frame, "甲乙科技有限公司", uscc=CODE) == (["L3"], ["L3"])  # the code wins over the name
    assert both_paths(frame, "无名公司") == ([], [])


def test_ties_go_to_an_active_lead_then_one_without_a_code_then_the_smallest_id():
    code_b = "91110000600037341L"
    frame = leads(("L1", "甲乙科技有限公司", None, "merged"), ("L2", "甲乙科技有限公司", code_b, "active"),
                  ("L4", "甲乙科技有限公司", None, "active"), ("L3", "甲乙科技有限公司", None, "active"),
                  ("L5", "戊己有限公司", CODE, "merged"), ("L6", "戊己有限公司", CODE, "active"))
    found, level = LeadIndex(frame).match(pd.Series(["", None, CODE, code_b]),
                                          pd.Series(["甲乙科技", "戊己有限公司", "无关公司", "无关公司"]))
    assert list(found) == ["L3", "L6", "L6", "L2"]
    assert list(level) == [3, 1, 0, 0]  # the core; the whole name (levels: LEVELS)
    assert both_paths(frame.drop(columns="status"), "甲乙科技") == (["L1"], ["L1"])  # no status: all alike


def test_an_invalid_code_is_not_used_and_the_name_decides():
    typo = CODE[:-1] + "0"  # fails the check digit
    frame = leads(("L1", "甲乙科技有限公司", None, "active"), ("L2", "丙丁贸易有限公司", typo, "active"))
    frame["uscc_valid"] = False
    assert both_paths(frame, "甲乙科技", uscc=typo) == (["L1"], ["L1"])


def test_st_marks_are_dropped_on_both_sides_and_only_before_a_chinese_name():
    frame = leads(("L1", "*ST新都", None, "active"), ("L2", "华新水泥股份有限公司", None, "active"))
    frame = pd.concat([frame, pd.DataFrame([{"lead_id": "L3", "company_name_zh": None, "uscc": None, "status": "active",
                                             "uscc_valid": False, "name_core": "stanley work"}])], ignore_index=True)
    assert both_paths(frame, "新都") == (["L1"], ["L1"])  # the lead's own name carries the mark
    assert both_paths(frame, "*ST 华新水泥") == (["L2"], ["L2"])
    assert both_paths(frame, "Stanley Works") == (["L3"], ["L3"])  # "St" of an English name is no mark


def test_st_marks_found_by_the_arrow_prefilter_are_the_python_patterns_own():
    """without_st_marks looks only at cores an RE2 prefilter picks; the prefilter must pick every
    core the Python pattern changes (its Unicode spaces, the long s it folds, full-width text)."""
    cores = ["*st新都", "S*ST前锋", "st新都", "s st前锋", "st\u3000新都", "ſt新都", " st新", "*\tST华",
             "stanley", "st", "*ST", "abc*st新", "ＳＴ华", None, "", float("nan")]
    expected = [_ST_MARK.sub("", c) if isinstance(c, str) else None for c in cores]
    assert list(without_st_marks(cores)) == expected
    assert expected[:8] == ["新都", "前锋", "新都", "前锋", "新都", "新都", "新", "华"]
    # Arrow-backed text (as stage files hand names on) and values that are not text give the same
    arrow = pd.Series([c if isinstance(c, str) else None for c in cores], dtype="str")
    assert list(without_st_marks(arrow)) == expected
    assert list(without_st_marks([*cores, 7])) == [*expected, None]


@pytest.mark.parametrize("shape", ["aligned", "shuffled", "shorter", "overlapping"])
def test_join_by_lead_is_a_left_merge_on_lead_id(shape):
    leads = pd.DataFrame({"lead_id": ["L3", "L1", "L2", "L4"], "name": ["c", "a", "b", "d"],
                          "n": [3, 1, 2, 4]}, index=[7, 8, 9, 10])
    other = pd.DataFrame({"lead_id": leads["lead_id"].to_numpy(), "ratio": [0.3, 0.1, 0.2, 0.4],
                          "flag": [True, False, True, False]})
    if shape == "shuffled":
        other = other.iloc[[2, 0, 3, 1]].reset_index(drop=True)
    elif shape == "shorter":
        other = other.iloc[[1, 3]]
    elif shape == "overlapping":
        other = other.assign(name=["x", "y", "z", "w"])
    pd.testing.assert_frame_equal(join_by_lead(leads, other), leads.merge(other, on="lead_id", how="left"))


def test_the_whole_name_comes_before_a_core_that_another_company_shares():
    """A CRM row with a mistyped code: its whole name (region and legal form kept) is one lead's,
    and that lead is taken, not another company of the same core that the tie rule would prefer
    (no code of its own), nor the smallest ID. English names count as whole names too."""
    typo = CODE[:-1] + "0"
    frame = leads(("L2", "杭州市翔卓纺织有限责任公司", CODE, "active"), ("L1", "东莞翔卓纺织", None, "active"))
    frame["company_name_en"] = [None, "Dongguan Xiangzhuo Textile Co., Ltd."]
    assert both_paths(frame, "杭州市翔卓纺织有限责任公司", uscc=typo) == (["L2"], ["L2"])
    assert both_paths(frame, "翔卓纺织") == (["L1"], ["L1"])  # the core alone: the tie rule
    found, level = LeadIndex(frame).match(pd.Series([None]), pd.Series(["Dongguan Xiangzhuo Textile Co., Ltd."]))
    assert list(found) == ["L1"] and list(level) == [1]


def test_a_row_that_names_a_place_reaches_the_lead_of_its_core_there():
    """Two companies of one core in two cities (同名不同地): a row whose name gives the city, or
    only the province, reaches the lead there, by the lead's golden city or province, whichever
    lead the tie rule would prefer; a row without a place still reaches one by the tie rule, and a
    place no lead of the core has does not keep the row from its core."""
    frame = leads(("L1", "翔卓纺织有限公司", None, "active"), ("L2", "杭州市翔卓纺织有限责任公司", CODE, "active"),
                  ("L3", "东莞翔卓纺织", None, "active"))
    frame["city"] = [None, "杭州市", "东莞市"]
    frame["province"] = [None, "浙江省", "广东省"]
    rows = ["东莞市翔卓纺织有限公司", "杭州翔卓纺织股份有限公司", "浙江翔卓纺织有限公司", "翔卓纺织股份有限公司",
            "成都翔卓纺织有限公司"]
    found, level = LeadIndex(frame).match(pd.Series([None] * len(rows)), pd.Series(rows))
    assert list(found) == ["L3", "L2", "L2", "L1", "L1"]
    assert list(level) == [2, 2, 2, 3, 3]
    assert both_paths(frame, "广东省东莞市翔卓纺织有限公司") == (["L3"], ["L3"])
    # Without the golden places (leads read from elsewhere) the core decides, as before.
    found, _ = LeadIndex(frame.drop(columns=["city", "province"])).match(pd.Series([None]), pd.Series(rows[:1]))
    assert list(found) == ["L1"]


def test_a_row_with_the_chinese_and_the_english_name_reaches_the_lead_of_the_chinese_one():
    frame = leads(("L1", "深圳市华强电子有限公司", None, "active"), ("L2", "深圳市华强物流有限公司", None, "active"))
    assert both_paths(frame, "深圳市华强电子有限公司 Shenzhen Huaqiang Electronics Co., Ltd.") == (["L1"], ["L1"])
