"""Outcome imports: date headers, a file imported twice, a deal whose date arrives later,
`outcomes list` / `outcomes remove`, and header-only files (issue 15; issue 17 item 7)."""

import json

import pandas as pd
import pytest
import yaml
from sqlalchemy import text
from typer.testing import CliRunner

from leadrank.cli import app
from leadrank.config import OutcomesConfig
from leadrank.paths import DEMO_DIR
from leadrank.scoring.model import positive_labels
from leadrank.scoring.outcomes import load_outcomes, match_outcomes, outcome_word
from leadrank.transform.names import name_cores
from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.feedback import date_warning, detect_columns
from tests.helpers import run_pipeline
from tests.test_model import config_without_outcomes

runner = CliRunner()
DEMO_CRM = pd.read_csv(DEMO_DIR / "crm" / "outcomes.csv", dtype=str, keep_default_na=False)


def said(result) -> str:
    return " ".join((result.output or "").split())


def outcomes_of(url: str) -> list[tuple]:
    with make_engine(url).connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT lead_id, outcome, outcome_date, import_id FROM outcomes ORDER BY lead_id, outcome, outcome_date"))]


def do(*args: str):
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    return result


@pytest.mark.parametrize("header", ["签约日期", "成交日期", "Close Date", "closing date", "结束日期"])
def test_date_headers_are_recognised(header):
    assert detect_columns(["客户名称", "结果", header])["outcome_date"] == header


def test_an_unrecognised_date_column_is_named_in_a_warning():
    table = pd.DataFrame({"客户名称": ["甲公司"], "结果": ["成交"], "拜访时点": ["2026-03-01"], "备注": ["x"]})
    warning = date_warning(table, detect_columns(list(table.columns)))
    assert "'拜访时点'" in warning and "--map '拜访时点=outcome_date'" in warning and "备注" not in warning
    header_only = pd.DataFrame(columns=["客户名称", "结果", "签单时间点"])  # no values to look at: the header says it
    assert "'签单时间点'" in date_warning(header_only, detect_columns(list(header_only.columns)))
    dated = pd.DataFrame({"客户名称": ["甲公司"], "结果": ["成交"], "签约日期": ["2026-03-01"]})
    assert date_warning(dated, detect_columns(list(dated.columns))) == ""


@pytest.mark.parametrize(("value", "word"), [("1", "won"), ("0", "lost"), ("Yes", "won"), ("no", "lost"),
                                           ("TRUE", "won"), ("否", "lost"), ("Closed Won", "won"), ("丢单", "lost"),
                                           ("success", "won"), ("failure", "lost"), ("maybe", None)])
def test_a_converted_column_imports_as_model_evaluate_reads_it(value, word):
    """One table of outcome words: what `outcomes import` takes as won, `model evaluate` counts as
    won by default, and a yes/no or 1/0 column ('Converted' of a CRM export) is no unknown outcome."""
    assert outcome_word(value) == word
    if word is not None:
        other = "lost" if word == "won" else "won"
        wins, _ = positive_labels(pd.Series([value, other, value]))
        assert wins == ([value] if word == "won" else [other])


def test_a_one_zero_outcome_file_matches_without_rejects():
    outcomes = pd.DataFrame({"lead_id": ["L1", "L2"], "company_name": [None, None], "uscc": [None, None],
                             "outcome": ["1", "0"], "outcome_date": [None, None], "owner": [None, None],
                             "source_file": ["crm.csv", "crm.csv"], "row_no": [2, 3]})
    leads = pd.DataFrame({"lead_id": ["L1", "L2"], "uscc": [None, None], "uscc_valid": [False, False],
                          "name_core": ["甲", "乙"], "company_name_zh": ["甲公司", "乙公司"]})
    good, bad = match_outcomes(outcomes, leads)
    assert bad.empty and good.sort_values("lead_id")["outcome"].tolist() == ["won", "lost"]


def test_name_cores_of_no_names_is_empty():
    assert name_cores([]).shape == (0,) and list(name_cores(pd.Series([], dtype=object))) == []


def test_a_header_only_file_matches_nothing(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("公司名称,结果,日期\n", encoding="utf-8")
    table = load_outcomes(OutcomesConfig(name="e", path=path, columns={"company_name": "公司名称", "outcome": "结果",
                                                                        "outcome_date": "日期"}))
    good, bad = match_outcomes(table, pd.DataFrame(columns=["lead_id", "uscc", "uscc_valid", "name_core",
                                                            "company_name_zh"]))
    assert table.empty and good.empty and bad.empty


def test_a_configured_empty_outcomes_file_does_not_fail_the_night(tmp_path):
    raw = (DEMO_DIR / "sources.yaml").read_text(encoding="utf-8")
    raw = raw.replace("${CONFIG_URL}", DEMO_DIR.as_uri()).replace("${CONFIG_DIR}", str(DEMO_DIR))
    data = yaml.safe_load(raw)
    (tmp_path / "empty.csv").write_text("公司名称,统一社会信用代码,结果,日期,负责人\n", encoding="utf-8")
    data["outcomes"][0]["path"] = str(tmp_path / "empty.csv")
    for item in data["financials"]:
        item["path"] = str(DEMO_DIR / item["path"])
    config = tmp_path / "empty-outcomes.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    night = run_pipeline(str(config), f"sqlite:///{tmp_path / 'w.db'}")
    assert night["scoring"]["model"] == "cold_start" and night["scoring"]["outcomes_new"] == 0


def test_import_twice_late_dates_list_and_remove(warehouse_url, tmp_path):
    run_pipeline(str(config_without_outcomes(tmp_path)), warehouse_url)
    header_only = tmp_path / "header-only.csv"
    header_only.write_text("公司名称,结果,签约日期\n", encoding="utf-8")
    result = do("outcomes", "import", str(header_only), "--warehouse", warehouse_url)
    assert result.exit_code == 0, result.output
    assert "0 rows" in said(result) and "0 outcomes imported" in said(result)

    # The demo's deals under a date header the old aliases did not know.
    crm = DEMO_CRM.rename(columns={"日期": "签约日期"})
    crm.to_csv(tmp_path / "crm.csv", index=False)
    first = do("outcomes", "import", str(tmp_path / "crm.csv"), "--warehouse", warehouse_url)
    assert first.exit_code == 0, first.output
    stored = outcomes_of(warehouse_url)
    n = len(stored)
    assert n >= 30 and "outcome_date='签约日期'" in said(first) and all(date for _, _, date, _ in stored)
    again = do("outcomes", "import", str(tmp_path / "crm.csv"), "--warehouse", warehouse_url)
    assert "0 outcomes imported" in said(again) and "was imported before as imp-" in said(again)
    assert outcomes_of(warehouse_url) == stored

    # The same deals without their dates, then with them under an unknown header and --map: still one each.
    crm.drop(columns="签约日期").to_csv(tmp_path / "undated.csv", index=False)
    undated = do("outcomes", "import", str(tmp_path / "undated.csv"), "--warehouse", warehouse_url)
    assert "0 outcomes imported" in said(undated) and len(outcomes_of(warehouse_url)) == n

    # Undo the first import: its outcomes go, the others stay, and it cannot be undone twice.
    listing = do("outcomes", "list", "--warehouse", warehouse_url)
    assert listing.exit_code == 0 and "crm.csv" in listing.output and "header-only.csv" in listing.output
    first_id = next(i for *_, i in stored)
    removed = do("outcomes", "remove", first_id, "--warehouse", warehouse_url)
    assert removed.exit_code == 0 and f"{n} outcomes deleted" in said(removed)
    assert outcomes_of(warehouse_url) == []
    twice = do("outcomes", "remove", first_id, "--warehouse", warehouse_url)
    assert twice.exit_code == 1 and "removed already" in said(twice)
    unknown = do("outcomes", "remove", "imp-nope", "--warehouse", warehouse_url)
    assert unknown.exit_code == 1 and "no import 'imp-nope'" in said(unknown)


def test_a_deal_imported_without_its_date_is_not_counted_again_with_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    run_pipeline(str(config_without_outcomes(tmp_path)), url)
    crm = DEMO_CRM.rename(columns={"日期": "签约时点"})  # not recognised: imported without dates
    crm.to_csv(tmp_path / "crm.csv", index=False)
    first = do("outcomes", "import", str(tmp_path / "crm.csv"), "--warehouse", url)
    assert "'签约时点' looks like dates but is not used" in said(first)
    before = outcomes_of(url)
    assert before and all(date is None for _, _, date, _ in before)
    mapped = do("outcomes", "import", str(tmp_path / "crm.csv"), "--map", "签约时点=outcome_date", "--warehouse", url)
    assert mapped.exit_code == 0, mapped.output
    after = outcomes_of(url)
    assert len(after) == len(before) and all(date for _, _, date, _ in after)
    assert f"{len(before)} outcomes stored without a date" in said(mapped)


def _nightly_config(tmp_path, crm: pd.DataFrame):
    """The demo's sources with `crm` as the configured outcomes file."""
    raw = (DEMO_DIR / "sources.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(raw.replace("${CONFIG_URL}", DEMO_DIR.as_uri()).replace("${CONFIG_DIR}", str(DEMO_DIR)))
    crm.to_csv(tmp_path / "crm.csv", index=False)
    data["outcomes"][0]["path"] = str(tmp_path / "crm.csv")
    for item in data["financials"]:
        item["path"] = str(DEMO_DIR / item["path"])
    config = tmp_path / "nightly-outcomes.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(config)


def test_a_crm_row_matched_to_another_lead_moves_instead_of_counting_twice(warehouse_url, tmp_path):
    """The configured outcomes file is matched again every night: a row that reaches another lead
    tonight (here its CRM lead ID was corrected) is one outcome of that lead, in the warehouse and
    in the set the model trains on, not one of each lead."""
    night = run_pipeline(_nightly_config(tmp_path, DEMO_CRM), warehouse_url)
    before = outcomes_of(warehouse_url)
    engine = make_engine(warehouse_url)
    with engine.connect() as conn:
        first = conn.execute(text("SELECT lead_id FROM outcomes WHERE company_name = :c AND outcome_date = '2026-01-10'"),
                             {"c": DEMO_CRM.loc[0, "公司名称"]}).scalars().all()
        other = conn.execute(text("SELECT MIN(lead_id) FROM leads WHERE lead_id <> :l AND lead_id NOT IN "
                                  "(SELECT lead_id FROM outcomes)"), {"l": first[0]}).scalar()
    assert len(first) == 1 and other
    corrected = DEMO_CRM.assign(**{"Lead ID": [other] + [""] * (len(DEMO_CRM) - 1)})
    again = run_pipeline(_nightly_config(tmp_path, corrected), warehouse_url)
    after = outcomes_of(warehouse_url)
    assert len(after) == len(before)
    moved = [row for row in after if row[2] == "2026-01-10" and row[1] == "won" and row[0] in (first[0], other)]
    assert [row[0] for row in moved] == [other]
    assert again["scoring"]["outcomes_new"] == night["scoring"]["outcomes_new"]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT metrics FROM model_versions ORDER BY trained_at")).scalars().all()
    assert len({json.loads(m).get("n_rows") for m in rows}) == 1  # the same number of outcomes trained on


def test_a_deal_imported_again_after_its_lead_changed_moves_and_counts_once(warehouse_url, tmp_path):
    """A CRM export imported again once one of its rows reaches another lead (here its lead ID was
    corrected) stores that deal once, under the lead it matches now, still as the first import's
    (which `outcomes remove` undoes whole); the training set holds it once."""
    from leadrank.warehouse.read import stored_outcomes

    run_pipeline(str(config_without_outcomes(tmp_path)), warehouse_url)
    DEMO_CRM.to_csv(tmp_path / "crm.csv", index=False)
    first = do("outcomes", "import", str(tmp_path / "crm.csv"), "--warehouse", warehouse_url)
    assert first.exit_code == 0, first.output
    before = outcomes_of(warehouse_url)
    first_id = before[0][3]
    deal = next(row for row in before if row[2] == "2026-01-10" and row[1] == "won")
    with make_engine(warehouse_url).connect() as conn:
        other = conn.execute(text("SELECT MIN(lead_id) FROM leads WHERE lead_id NOT IN (SELECT lead_id FROM outcomes)")
                             ).scalar()
    DEMO_CRM.assign(**{"Lead ID": [other] + [""] * (len(DEMO_CRM) - 1)}).to_csv(tmp_path / "crm.csv", index=False)
    again = do("outcomes", "import", str(tmp_path / "crm.csv"), "--warehouse", warehouse_url)
    assert again.exit_code == 0, again.output
    assert "0 outcomes imported" in said(again) and "1 outcomes stored before under another lead" in said(again)
    after = outcomes_of(warehouse_url)
    assert len(after) == len(before)
    assert (other, "won", "2026-01-10", first_id) in after and deal not in after
    assert sorted(row for row in after if row[0] != other) == sorted(row for row in before if row != deal)
    training = stored_outcomes(make_engine(warehouse_url))
    assert len(training) == len(before) and (training["lead_id"] == other).sum() == 1

    # The night's configured file, the export as it first was: the row reaches its first lead again.
    night = run_pipeline(_nightly_config(tmp_path, DEMO_CRM), warehouse_url)
    assert outcomes_of(warehouse_url) == before
    with make_engine(warehouse_url).connect() as conn:
        metrics = json.loads(conn.execute(text("SELECT metrics FROM model_versions WHERE run_id = :r"),
                                          {"r": night["run_id"]}).scalar())
    assert metrics["n_rows"] == len({lead for lead, outcome, *_ in before if outcome in ("won", "lost")})

    removed = do("outcomes", "remove", first_id, "--warehouse", warehouse_url)
    assert removed.exit_code == 0 and f"{len(before)} outcomes deleted" in said(removed)


def test_superseded_outcomes_are_stored_rows_of_the_same_crm_row():
    from leadrank.warehouse.load import superseded

    row = {"source_file": "crm.csv", "company_name": "甲公司", "uscc": None, "outcome": "won",
           "outcome_date": "2026-01-10", "owner": None}
    stored = pd.DataFrame([{**row, "lead_id": "L1"},
                           {**row, "lead_id": "L3", "uscc": float("nan")},  # missing is missing, whatever its kind
                           {**row, "lead_id": "L1", "source_file": "other.csv"},
                           {**row, "lead_id": "L1", "outcome": "lost"},
                           {**row, "lead_id": "L1", "owner": "王磊"}])
    tonight = pd.DataFrame([{**row, "lead_id": "L2"}])
    assert superseded(stored, tonight).tolist() == [True, True, False, False, False]
    assert not superseded(stored, tonight.iloc[:0]).any()


def test_two_rows_that_differ_by_their_lead_alone_are_two_deals(warehouse_url):
    """A file's two rows alike but for the lead each names: neither is a move of the other, so
    storing the file again changes nothing (it deleted one copy and stored it again, night after
    night, and an import's copy lost its import)."""
    from leadrank.warehouse.engine import writer
    from leadrank.warehouse.load import write_outcomes
    from leadrank.warehouse.migrate import upgrade

    engine = make_engine(warehouse_url)
    upgrade(engine)
    row = {"company_name": "甲公司", "uscc": None, "outcome": "won", "outcome_date": "2026-01-10", "owner": None,
           "source_file": "crm.csv", "row_no": 2}
    rows = pd.DataFrame([{**row, "lead_id": "L1"}, {**row, "lead_id": "L2", "row_no": 3}])
    with writer(engine).begin() as conn:
        assert write_outcomes(conn, rows, "2026-01-11T00:00:00", import_id="imp-1") == (2, 0)
    first = outcomes_of(warehouse_url)
    with writer(engine).begin() as conn:
        assert write_outcomes(conn, rows, "2026-01-12T00:00:00") == (0, 0)
        assert write_outcomes(conn, rows.iloc[1:], "2026-01-12T00:00:00") == (0, 1)  # one row alone: L1's moves
    assert first == [("L1", "won", "2026-01-10", "imp-1"), ("L2", "won", "2026-01-10", "imp-1")]
    assert outcomes_of(warehouse_url) == [("L2", "won", "2026-01-10", "imp-1")]
