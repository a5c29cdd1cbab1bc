"""The outcome model: `leadrank model evaluate` on messy CRM exports, cold start, stored versions,
reuse by the nightly run, and the weekly retrain."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from sqlalchemy import text
from typer.testing import CliRunner

from leadrank import pipeline
from leadrank.cli import app
from leadrank.config import OutcomesConfig, ScoringConfig
from leadrank.paths import DEMO_DIR
from leadrank.scoring.model import PLACEHOLDER, clean_category, evaluate_and_fit
from leadrank.scoring.outcomes import load_outcomes, match_outcomes
from leadrank.scoring.priority import score_leads
from leadrank.warehouse.engine import make_engine
from tests.helpers import run_pipeline

runner = CliRunner()


def crm_export(path, n=800, seed=0, one_class=False, dates=False, blank_dates=0):
    """A messy CRM export: mixed case, 'Select' placeholders, blanks, text in a number column,
    an identifier column and a constant column; the outcome depends on visits and source."""
    rng = np.random.default_rng(seed)
    source = rng.choice(["Google", "google ", "Reference", "Select", "", "Olark Chat"], size=n)
    visits = rng.poisson(3, size=n).astype(float)
    logit = 1.0 * (visits - 3) + np.where(np.char.lower(np.char.strip(source.astype(str))) == "reference", 2.5, 0)
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame({
        "Lead ID": [f"id-{i:05d}" for i in range(n)],
        "Source": source,
        "Visits": visits.astype(int).astype(str),
        "Magazine": "No",
        "Converted": np.where(won, "Yes", "No") if not one_class else "Yes",
    })
    frame.loc[[3, 7], "Visits"] = ["unknown", "lots"]
    if dates:
        frame["Created"] = pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y/%m/%d")
        frame.loc[list(range(blank_dates)), "Created"] = ""
    frame.to_csv(path, index=False)
    return frame


def evaluate(*args):
    result = runner.invoke(app, ["model", "evaluate", *args])
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return result, (json.loads(lines[-1]) if lines else None)


def test_evaluate_reads_a_european_export_as_it_is_written(tmp_path):
    """Semicolons between the fields and commas in the numbers, as Excel writes CSV in much of
    Europe: no --sep needed (the header line shows it), and the numbers are read as written (read
    as thousands separators, "231,44" became 23144 and "22.946,46" 22.9: AUC 0.57, here 0.71)."""
    rng = np.random.default_rng(3)
    revenue = rng.lognormal(8, 1, 300)
    won = rng.random(300) < 1 / (1 + np.exp(-(np.log(revenue) - 8)))
    pd.DataFrame({"Umsatz": [f"{v:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".") for v in revenue],
                  "Quote": [f"{v:.1f}".replace(".", ",") for v in rng.random(300) * 10],
                  "Branche": rng.choice(["Handel", "Bau", "IT"], 300),
                  "Ergebnis": np.where(won, "gewonnen", "verloren")}).to_csv(tmp_path / "crm.csv", sep=";", index=False)
    result, out = evaluate("--data", str(tmp_path / "crm.csv"), "--target", "Ergebnis", "--positive", "gewonnen")
    assert result.exit_code == 0, result.output
    assert out["numeric_features"] == ["Umsatz", "Quote"] and out["categorical_features"] == ["Branche"]
    assert out["auc"] > 0.65 and out["columns"]["text_in_number_columns"] == {}


def test_evaluate_prints_one_json_with_metrics(tmp_path):
    crm_export(tmp_path / "crm.csv")
    result, out = evaluate("--data", str(tmp_path / "crm.csv"), "--target", "Converted", "--positive", "Yes")
    assert result.exit_code == 0, result.output
    assert {"auc", "n_rows", "n_positive", "validation", "precision_at_top_k", "brier", "calibration"} <= set(out)
    assert out["n_rows"] == 800 and out["validation"] == "stratified_5fold_cv" and out["auc"] > 0.75
    assert out["classifier"].startswith("calibrated weighted vote")
    assert out["columns"]["ignored"] == {"Lead ID": "looks like an identifier (almost every value distinct)",
                                         "Magazine": "constant"}
    assert out["columns"]["text_in_number_columns"] == {"Visits": 2}
    assert out["numeric_features"] == ["Visits"] and out["categorical_features"] == ["Source"]
    assert sum(b["n"] for b in out["calibration"]) == 800


def test_a_column_that_gives_the_outcome_away_is_flagged(tmp_path):
    frame = crm_export(tmp_path / "crm.csv", n=600)
    frame["Sales tag"] = np.where(frame["Converted"] == "Yes", "closed", "ringing")
    frame.loc[:20, "Sales tag"] = "busy"
    frame.to_csv(tmp_path / "crm.csv", index=False)
    result, out = evaluate("--data", str(tmp_path / "crm.csv"), "--target", "Converted")
    assert list(out["columns"]["possible_leaks"]) == ["Sales tag"] and out["auc"] > 0.95
    assert "'Sales tag' alone separates the outcome" in result.stderr


def test_cross_validated_auc_is_the_mean_of_the_folds(tmp_path):
    """Each fold is scored by its own model: `auc` averages the five folds' AUCs, the pooled
    figure is reported beside it, and another draw of the folds gives other folds."""
    frame = crm_export(tmp_path / "crm.csv", n=600)
    y = (frame["Converted"] == "Yes").astype(int)
    X = frame[["Source"]].assign(Visits=pd.to_numeric(frame["Visits"], errors="coerce"))
    first, second = (evaluate_and_fit(X, y, ["Visits"], ["Source"], fit_final=False, cv_seed=seed).metrics
                     for seed in (0, 1))
    for metrics in (first, second):
        assert len(metrics["auc_by_fold"]) == 5 and 0.5 < metrics["auc_pooled"] <= 1
        assert metrics["auc"] == pytest.approx(np.mean(metrics["auc_by_fold"]), abs=1e-4)
    assert first["auc_by_fold"] != second["auc_by_fold"]


def test_evaluate_on_later_data_when_dates_exist(tmp_path):
    crm_export(tmp_path / "crm.csv", n=600, dates=True)
    result, out = evaluate("--data", str(tmp_path / "crm.csv"), "--target", "Converted", "--drop", "Lead ID",
                           "--time-column", "Created")
    assert result.exit_code == 0, result.output
    # the later half of the dated rows in three blocks, each predicted by a model of the rows before it
    assert out["validation"] == "time_3_later_blocks" and out["validation_rows"] == 300
    assert len(out["auc_by_block"]) == 3 and "auc_by_fold" not in out
    assert min(out["auc_by_block"]) <= out["auc"] <= max(out["auc_by_block"])
    assert out["columns"]["positive_values"] == ["Yes"]  # found without --positive


def test_outcomes_without_some_dates_are_validated_on_the_later_dated_ones(tmp_path):
    crm_export(tmp_path / "crm.csv", n=600, dates=True, blank_dates=5)
    _, out = evaluate("--data", str(tmp_path / "crm.csv"), "--target", "Converted", "--time-column", "Created")
    assert out["validation"] == "time_3_later_blocks" and out["validation_rows"] == 298  # the later half of 595
    assert "5 outcomes without a date: trained on, never validated on" in out["validation_note"]


def test_outcomes_mostly_without_dates_fall_back_to_cross_validation(tmp_path):
    crm_export(tmp_path / "crm.csv", n=600, dates=True, blank_dates=400)
    _, out = evaluate("--data", str(tmp_path / "crm.csv"), "--target", "Converted", "--time-column", "Created")
    assert out["validation"].startswith("stratified") and "400 of 600 outcomes without a date" in out["validation_note"]


@pytest.mark.parametrize("dates", [["2026-10-15"], ["2026-10-14", "2026-10-15"]])
def test_outcomes_whose_dates_do_not_tell_later_from_earlier_are_cross_validated(tmp_path, dates):
    """One export day on every row (or a few days) made the "later" quarter a random one: a single
    split with the noise of a fifth of the rows (the bench's outcomes: AUC 0.31 on it, 0.48 by
    cross-validation)."""
    frame = crm_export(tmp_path / "crm.csv", n=600)
    frame["Created"] = np.resize(dates, len(frame))
    frame.to_csv(tmp_path / "crm.csv", index=False)
    _, out = evaluate("--data", str(tmp_path / "crm.csv"), "--target", "Converted", "--time-column", "Created")
    assert out["validation"].startswith("stratified") and len(out["auc_by_fold"]) == 5
    assert f"({len(dates)} distinct date" in out["validation_note"] and "do not tell earlier from later" in out["validation_note"]


def test_evaluate_one_class_only_is_cold_start(tmp_path):
    crm_export(tmp_path / "crm.csv", n=60, one_class=True)
    result, out = evaluate("--data", str(tmp_path / "crm.csv"), "--target", "Converted", "--positive", "Yes")
    assert result.exit_code == 1 and out["status"] == "cold_start" and out["auc"] is None
    assert "60 won and 0 lost" in out["reason"] and "cold start" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--drop", "Nope"], "no column(s) ['Nope']"),
    (["--positive", "Maybe"], "--positive 'Maybe' does not occur"),
])
def test_evaluate_bad_arguments_are_clear_errors(tmp_path, args, message):
    crm_export(tmp_path / "crm.csv", n=50)
    result, out = evaluate("--data", str(tmp_path / "crm.csv"), "--target", "Converted", *args)
    assert result.exit_code == 1 and out is None and message in result.output


def test_categories_are_cleaned():
    values = pd.Series(["Google", " google ", "GOOGLE", "Select", "请选择", "", None, "Olark  Chat"])
    cleaned = list(clean_category(values))
    assert cleaned[:3] == ["google"] * 3 and cleaned[3:5] == [PLACEHOLDER] * 2
    assert pd.isna(cleaned[5]) and pd.isna(cleaned[6]) and cleaned[7] == "olark chat"


def test_unseen_category_in_the_ensemble_is_treated_as_missing():
    from leadrank.scoring.model import predict

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=600), "cat": rng.choice(["a", "b", "c"], size=600)})
    y = pd.Series(((frame["x"] + (frame["cat"] == "a")) > 0.3).astype(int))
    result = evaluate_and_fit(frame, y, ["x"], ["cat"])
    assert result.metrics["classifier"].startswith("calibrated weighted vote") and result.metrics["auc"] > 0.85
    p = predict(result, pd.DataFrame({"x": [0.1, 0.1], "cat": ["never seen", None]}))
    assert 0 < p[0] < 1 and p[0] == pytest.approx(p[1])


def test_the_ensemble_votes_a_plain_logistic_regression_beside_the_trees_wide_data_or_not():
    """The vote's members: the pairwise model only while its one-hot input is narrow enough; the
    trees, the plain logistic regression, the default-settings trees and the logistic regression
    over frequent values always; each member scores every row and has a weight of zero or more.
    (Fitted on one OpenMP thread, as evaluate_and_fit fits: the boosted trees' two threads beside
    the other test worker spun, 37-88 s for this test against 3 s.)"""
    from threadpoolctl import threadpool_limits

    from leadrank.scoring.model import MAX_PAIR_WIDTH, build_pipeline, onehot_width

    rng = np.random.default_rng(2)
    narrow = pd.DataFrame({"x": rng.normal(size=600), "cat": rng.choice(["a", "b"], size=600)})
    wide = pd.DataFrame(rng.normal(size=(600, 40)), columns=[f"x{i}" for i in range(40)])
    for frame, members in ((narrow, ["trees", "pairs", "linear", "default_trees", "values"]),
                           (wide, ["trees", "linear", "default_trees", "values"])):
        numeric = [c for c in frame.columns if c != "cat"]
        categorical = ["cat"] if "cat" in frame else []
        width = onehot_width(frame, numeric, categorical)
        assert (width > MAX_PAIR_WIDTH) == (frame is wide)
        y = (frame[numeric[0]] + rng.normal(scale=0.5, size=600) > 0).astype(int)
        with threadpool_limits(1):
            pipeline = build_pipeline(numeric, categorical, 600, width).fit(frame, y)
            vote = pipeline.named_steps["model"].estimator_
            assert list(vote.named_estimators_) == members
            for member in vote.named_estimators_.values():
                assert member.predict_proba(frame).shape == (600, 2)
            weights = pipeline.named_steps["model"].slope_
            assert weights.shape == (len(members),) and np.all(weights >= 0) and weights.sum() > 0
            assert pipeline.predict_proba(frame)[:, 1][y.to_numpy() == 1].mean() > 0.7


def test_frequent_values_one_hot_the_values_several_rows_hold():
    """A number held by two rows or more gets an indicator named after its column; a value held
    once, a value unseen in fitting and a missing number get none (names tell values apart to the
    last digit); a column whose values never repeat gives nothing, and no frequent value anywhere
    gives one column of zeros."""
    from leadrank.scoring.model import FrequentValues

    fit = pd.DataFrame({"id": [7, 7, 3, 3, 3, 9, np.nan, np.nan], "amount": [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5],
                        "code": [1234567.0, 1234567.0, 1234568.0, 1234568.0, 0.1, 0.1, 0.1, 5.0]})
    values = FrequentValues().fit(fit)
    assert list(values.get_feature_names_out()) == ["id_3.0", "id_7.0", "code_0.1", "code_1234567.0", "code_1234568.0"]
    out = values.transform(pd.DataFrame({"id": [3, 7, 9, 4, np.nan], "amount": [1.5, 1.5, 0, 0, 0],
                                         "code": [1234568.0, 5.0, 0.1, 1234567.0, np.nan]})).toarray()
    assert out.tolist() == [[1, 0, 0, 0, 1], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 0]]
    nothing = FrequentValues().fit(fit[["amount"]])
    assert list(nothing.get_feature_names_out()) == ["amount_(no frequent value)"]
    assert nothing.transform(fit[["amount"]]).toarray().tolist() == [[0]] * len(fit)


def test_the_vote_learns_each_entitys_level_where_rows_repeat_an_entity():
    """A panel: 150 respondents of 8 answers each, the outcome following the respondent (a level
    of their own) and the question; respondents numbered at random, so no range of numbers
    ranks them. The members that read the number as a line or as ranges cannot learn a level
    per respondent; the values member can, and the weights follow it."""
    rng = np.random.default_rng(4)
    people, answers = 150, 8
    person = np.repeat(rng.permutation(people) * 7 + 1000, answers)
    level = np.repeat(rng.normal(0, 1.5, people), answers)
    question = np.tile(np.arange(answers), people)
    won = rng.random(people * answers) < 1 / (1 + np.exp(-(level + 0.3 * (question - 3.5))))
    frame = pd.DataFrame({"respondent": person.astype(float), "question": [f"q{q}" for q in question]})
    result = evaluate_and_fit(frame, pd.Series(won.astype(int)), ["respondent"], ["question"], fit_final=False)
    weights = result.metrics["member_weights"]
    assert max(weights, key=weights.get) == "values", weights
    assert result.metrics["auc"] > 0.75, result.metrics["auc"]


def test_predictions_run_on_one_thread_of_every_pool():
    """The nightly predictions hold OpenMP (the trees) and BLAS (the logistic regressions) to one
    thread each: two OpenMP threads beside one busy core spun at every slice and made the
    explanations 2 to 17 times slower (bench/effects_memory.py --threads 0 --busy 1)."""
    from threadpoolctl import threadpool_info

    from leadrank.scoring import model

    seen: list[list[int]] = []

    class Recording:
        def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
            seen.append([pool["num_threads"] for pool in threadpool_info()])
            return np.column_stack([np.zeros(len(rows)), np.ones(len(rows))])

    rows = pd.DataFrame({"x": np.arange(25.0)})
    pools = [pool["num_threads"] for pool in threadpool_info()]
    assert model._predict_in_chunks(Recording(), rows).tolist() == [1.0] * 25
    assert seen and all(threads == [1] * len(pools) for threads in seen)
    assert [pool["num_threads"] for pool in threadpool_info()] == pools  # given back afterwards


def test_outcomes_file_without_dates_still_trains(tmp_path):
    from tests.test_scoring import lead

    path = tmp_path / "crm.csv"
    rows = [f"公司{i:02d},{'成交' if i % 3 == 0 else '丢单'}" for i in range(40)]
    path.write_text("公司名称,结果\n" + "\n".join(rows) + "\n", encoding="utf-8")
    leads = pd.DataFrame([lead(f"L{i:02d}", f"公司{i:02d}", n_sources=1 + (i % 3 == 0)) for i in range(40)])
    good, bad = match_outcomes(load_outcomes(OutcomesConfig(name="o", path=path,
                                                            columns={"company_name": "公司名称", "outcome": "结果"})), leads)
    assert len(good) == 40 and bad.empty and good["outcome_date"].isna().all()
    result = score_leads(leads, pd.DataFrame(columns=["financials_source"]), good, ScoringConfig())
    assert result.stats["model"] == "trained" and result.stats["model_validation"].startswith("stratified")


def versions(url):
    with make_engine(url).connect() as conn:
        return pd.read_sql_query(text("SELECT * FROM model_versions ORDER BY trained_at, model_id"), conn)


def test_model_versions_are_stored_retrained_and_reused(warehouse_url, demo_config):
    first = run_pipeline(str(demo_config), warehouse_url)
    assert first["scoring"]["model"] == "trained"
    stored = versions(warehouse_url).iloc[0]
    assert stored["status"] == "trained" and stored["source"] == "nightly" and stored["artifact"] is not None
    summary = json.loads(stored["training_summary"])
    assert summary["n_positive"] > 0 and summary["n_negative"] > 0 and "customer_type" in summary["categorical_features"]
    metrics = json.loads(stored["metrics"])
    assert {"auc", "precision_at_top_k", "calibration", "brier"} <= set(metrics)
    # Without a retrain, a night whose outcomes did not change uses the deployed version again
    # (nightly_model); new outcomes train a new one (test_incremental_scoring).
    again = run_pipeline(str(demo_config), warehouse_url)["scoring"]
    assert again["model"] == "reused" and "reusing the stored model" in again["model_reason"]
    retrained = pipeline.retrain_step(str(demo_config), warehouse_url)
    assert retrained["status"] == "trained" and retrained["metrics"]["n_rows"] >= 16
    night = run_pipeline(str(demo_config), warehouse_url)
    assert night["scoring"]["model"] == "reused" and "reusing the stored model" in night["scoring"]["model_reason"]
    rows = versions(warehouse_url).set_index("model_id")
    assert rows.loc[retrained["model_id"], "source"] == "retrain"
    assert rows.loc[f"{night['run_id']}-model", "status"] == "reused"
    assert rows.loc[f"{night['run_id']}-model", "used_model_id"] == retrained["model_id"]
    # A stored artifact that fails its checksum is never unpickled: the night trains afresh.
    with make_engine(warehouse_url).begin() as conn:
        conn.execute(text("UPDATE model_versions SET artifact_sha256 = 'x' WHERE model_id = :m"),
                     {"m": retrained["model_id"]})
    assert run_pipeline(str(demo_config), warehouse_url)["scoring"]["model"] == "trained"


def config_without_outcomes(tmp_path):
    raw = (DEMO_DIR / "sources.yaml").read_text(encoding="utf-8")
    raw = raw.replace("${CONFIG_URL}", DEMO_DIR.as_uri()).replace("${CONFIG_DIR}", str(DEMO_DIR))
    data = yaml.safe_load(raw)
    data.pop("outcomes")
    for item in data["financials"]:
        item["path"] = str(DEMO_DIR / item["path"])
    path = tmp_path / "no-outcomes.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_cold_start_night_says_so_and_ranks_by_fit(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    night = run_pipeline(str(config_without_outcomes(tmp_path)), url)
    assert night["scoring"]["model"] == "cold_start" and "0 won and 0 lost" in night["scoring"]["model_reason"]
    row = versions(url).iloc[0]
    assert row["status"] == "cold_start" and row["artifact"] is None and "fit score only" in row["reason"]
    top = runner.invoke(app, ["top", "-n", "3", "--warehouse", url])
    assert top.exit_code == 0 and "cold start" in top.output and "fit score only" in top.output


def test_model_versions_command(tmp_path, demo_config):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    empty = runner.invoke(app, ["model", "versions", "--warehouse", url])
    assert empty.exit_code == 1
    run_pipeline(str(demo_config), url)
    shown = runner.invoke(app, ["model", "versions", "--warehouse", url], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "nightly" in shown.output and "trained" in shown.output
    auc = versions(url).iloc[0]["metrics"]
    assert f"{json.loads(auc)['auc']} (3 later blocks)" in shown.output  # the demo's outcomes are dated


def test_the_auc_is_shown_with_what_it_was_measured_on():
    from leadrank.cli.common import auc_in_words

    assert auc_in_words(0.8, "time_3_later_blocks") == "0.8 (3 later blocks)"
    assert auc_in_words(0.8712, "stratified_5fold_cv") == "0.8712 (5-fold CV)"
    assert auc_in_words(None, "none") == "None"
    assert auc_in_words(0.7, "time_split_75_25") == "0.7 (later 25 %)"  # a version stored before 7 December 2026
    assert auc_in_words(0.7, "something else") == "0.7"


@pytest.mark.prefect
def test_weekly_retrain_flow(prefect_harness, tmp_path, demo_config, demo_night):
    from leadrank.flows.retrain import weekly_retrain

    url = f"sqlite:///{tmp_path / 'w.db'}"
    demo_night(str(demo_config), url)
    summary = weekly_retrain(config=str(demo_config), warehouse=url)
    assert summary["status"] == "trained" and summary["model_id"].startswith("retrain-")
    assert "retrain" in set(versions(url)["source"])


def test_top_filters_one_segment_and_keeps_reasons(tmp_path, demo_config, demo_night):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    demo_night(str(demo_config), url)
    shown = runner.invoke(app, ["top", "-n", "50", "--segment", "government", "--warehouse", url], env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    assert "│ government" in shown.output
    for other in ("bank_finance", "telecom", "listed", "multinational", "large_enterprise", "retail_chain",
                  "wholesaler", "sme"):
        assert f"│ {other}" not in shown.output, other
    assert "(" in shown.output and ")" in shown.output and "Priority = fit score and outcome model" in shown.output
    missing = runner.invoke(app, ["top", "--segment", "nope", "--warehouse", url])
    assert missing.exit_code == 1 and "unknown segment 'nope'" in missing.output
    # An 80-column terminal stacks name, segment · city · phone and reasons in one wide cell.
    narrow = runner.invoke(app, ["top", "-n", "3", "--segment", "government", "--warehouse", url], env={"COLUMNS": "80"})
    assert narrow.exit_code == 0 and "┃ lead " in narrow.output and "┃ why" not in narrow.output
    assert narrow.output.count("│ government · ") == 3


@pytest.mark.parametrize("chunk", [100_000, 3])
def test_predictions_and_effects_on_distinct_rows_equal_row_by_row(monkeypatch, chunk):
    """The model runs once per distinct feature vector, on variants gathered into chunks (3: every
    feature's variants are predicted apart), and once over every call of one Explainer: the
    leads explained part by part get what they get all at once and what a row-by-row
    prediction gives, and a part whose vectors were explained before predicts nothing."""
    from leadrank.scoring import model
    from leadrank.scoring.model import Explainer, _as_frame, predict, typical_values

    monkeypatch.setattr(model, "PREDICT_CHUNK_ROWS", chunk)
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame({"visits": rng.integers(0, 4, n).astype(float),
                          "source": rng.choice(["a", "b", None], n)})
    frame.loc[::7, "visits"] = np.nan  # missing values group together too
    y = pd.Series((frame["visits"].fillna(0) + (frame["source"] == "a") * 2 + rng.normal(0, 1, n) > 2.5).astype(int))
    result = evaluate_and_fit(frame, y, ["visits"], ["source"])
    assert result.pipeline is not None
    frame.loc[380:, "visits"] = 7.0  # vectors the first part below does not have
    X = _as_frame(frame, result.numeric, result.categorical)
    typical = typical_values(result, X)
    predicted: list[int] = []
    real = model.Explainer._scored
    monkeypatch.setattr(model.Explainer, "_scored", lambda self, rows: predicted.append(len(rows)) or real(self, rows))

    explainer = Explainer(result, typical)
    first = explainer.explain(X.iloc[:150])
    assert predicted[0] == len(X.iloc[:150].drop_duplicates())  # its distinct vectors, once each
    calls = len(predicted)
    second = explainer.explain(X.iloc[150:])
    unseen = X.iloc[150:].drop_duplicates().merge(X.iloc[:150].drop_duplicates(), how="left", indicator=True)
    unseen = int((unseen["_merge"] == "left_only").sum())
    assert unseen and predicted[calls] == unseen  # only the vectors the first part did not have
    scores = np.concatenate([first[0], second[0]])
    effects, above = pd.concat([first[1], second[1]]), pd.concat([first[2], second[2]])
    calls = len(predicted)
    again, again_effects, _ = explainer.explain(X)
    assert len(predicted) == calls  # every vector explained before: nothing predicted
    assert np.array_equal(again, scores) and np.array_equal(again_effects.to_numpy(), effects.to_numpy())

    monkeypatch.setattr(model, "REMEMBERED_VECTORS", 0)  # past the limit: computed again, the same answers
    forgetful = Explainer(result, typical)
    forgetful.explain(X)
    calls = len(predicted)
    repeated, repeated_effects, _ = forgetful.explain(X)
    assert len(predicted) > calls and np.array_equal(repeated, again)
    assert np.array_equal(repeated_effects.to_numpy(), again_effects.to_numpy())

    assert np.allclose(scores, result.pipeline.predict_proba(X)[:, 1])
    assert np.allclose(scores, predict(result, frame))
    for col in ("visits", "source"):
        expected = scores - result.pipeline.predict_proba(X.assign(**{col: typical[col]}))[:, 1]
        assert np.allclose(effects[col].to_numpy(), expected)
    assert list(effects.index) == list(frame.index) and above["visits"].notna().any()
    assert above["visits"].eq(X["visits"] > typical["visits"]).where(above["visits"].notna(), True).all()


def test_calibrated_probabilities_reach_the_extremes():
    """Platt scaling on the vote's log-odds: the bottom and top deciles of the validated
    predictions say what those leads actually won (a sigmoid of the bounded probability itself
    predicted 7 % for a decile that won 5 %, and 93 % for one that won 96 %)."""
    rng = np.random.default_rng(1)
    n = 3000
    score, kind = rng.normal(0, 2.0, n), rng.choice(["a", "b", "c"], n)
    won = rng.random(n) < 1 / (1 + np.exp(-(score + np.where(kind == "a", 1.0, 0.0))))
    metrics = evaluate_and_fit(pd.DataFrame({"score": score, "kind": kind}), pd.Series(won.astype(int)),
                               ["score"], ["kind"], fit_final=False).metrics
    bottom, top = metrics["calibration"][0], metrics["calibration"][-1]
    assert abs(bottom["predicted"] - bottom["observed"]) < 0.015 and abs(top["predicted"] - top["observed"]) < 0.015
    assert metrics["calibration_error"] < 0.025


def _vote_model_and_leads(seed=5, n=1500):
    """The vote (trees, pairs, plain logistic regression, default trees, frequent values) on
    outcomes with missing numbers and blank categories, every member weighed (the learned weights
    leave the pairwise member out here: each kind of part is to be explained), and leads with
    unseen categories beside them."""
    rng = np.random.default_rng(seed)

    def leads(m):
        frame = pd.DataFrame({"margin": rng.normal(size=m).round(2), "visits": rng.integers(0, 6, m).astype(float),
                              "source": rng.choice(["expo", "web", "fair", None], m),
                              "segment": rng.choice(["bank", "telecom", "sme"], m)})
        frame.loc[::6, "margin"] = np.nan
        return frame

    train = leads(n)
    won = (train["margin"].fillna(0) + train["visits"] / 3 + (train["source"] == "expo") + rng.normal(0, 1, n) > 1.2)
    result = evaluate_and_fit(train, pd.Series(won.astype(int)), ["margin", "visits"], ["source", "segment"])
    platt = result.pipeline.named_steps["model"]
    platt.slope_ = np.maximum(platt.slope_, 0.2)
    frame = leads(300)
    frame.loc[::9, "segment"] = "unheard of"
    return result, frame


def _assert_effects_are_the_pipelines(result, X, typical, scores, effects):
    """Each input's effects are the pipeline's own prediction with that input typical, taken from
    the score (0 where the lead is typical already), to 1e-9; returns the inputs checked."""
    features = [*result.numeric, *result.categorical]
    for col in features:
        expected = scores - result.pipeline.predict_proba(X.assign(**{col: typical[col]}))[:, 1]
        unchanged = (X[col] == typical[col]).to_numpy()
        assert np.allclose(effects[col].to_numpy(), np.where(unchanged, 0.0, expected), rtol=0, atol=1e-9), col
    return features


def test_effects_from_the_members_parts_are_the_pipelines_own():
    """The explanations work the variants out from each member's parts (a logistic regression's
    coefficients, the pairwise member's quadratic form, only the trees that split on the
    feature) instead of predicting them through the pipeline: the effects are the pipeline's
    own predictions of the variants, to rounding, for the vote and for the small-data model."""
    from leadrank.scoring.model import SMALL_DATA_ROWS, Explainer, model_inputs, typical_values

    vote, frame = _vote_model_and_leads()
    n = SMALL_DATA_ROWS - 4
    small = evaluate_and_fit(frame.iloc[:n].reset_index(drop=True), pd.Series(np.arange(n) % 3 == 0).astype(int),
                             ["margin", "visits"], ["source", "segment"])
    for result, kinds in ((vote, ["trees", "quadratic", "linear", "trees", "linear"]), (small, ["linear"])):
        assert result.pipeline is not None
        X = model_inputs(frame, result.numeric, result.categorical)
        typical = typical_values(result, X)
        explainer = Explainer(result, typical)
        scores, effects, _ = explainer.explain(X)
        assert [member.kind for member in explainer._parts[0]] == kinds  # no member fell back
        assert np.allclose(scores, result.pipeline.predict_proba(X)[:, 1], rtol=0, atol=1e-12)
        for col in _assert_effects_are_the_pipelines(result, X, typical, scores, effects):
            assert np.abs(effects[col]).max() > 1e-4, col  # every feature moves some lead


def test_a_vote_stored_before_its_members_were_weighed_predicts_and_explains_as_it_did():
    """Models stored before 7 December 2026 hold one Platt slope on the log-odds of the members'
    equal-weight vote (the weekly retrain a night reuses): they still predict that, and their
    effects are still their own predictions of the variants."""
    from scipy.special import expit

    from leadrank.scoring.model import Explainer, LogOddsVote, model_inputs, typical_values

    result, frame = _vote_model_and_leads()
    platt = result.pipeline.named_steps["model"]
    platt.slope_, platt.intercept_ = 0.9, -0.2  # as an old skops file restores it
    X = model_inputs(frame, result.numeric, result.categorical)
    voted = np.mean([m.predict_proba(X)[:, 1] for m in platt.estimator_.estimators_], axis=0)
    expected = expit(0.9 * LogOddsVote.log_odds(voted) - 0.2)
    assert np.allclose(result.pipeline.predict_proba(X)[:, 1], expected, rtol=0, atol=1e-12)
    typical = typical_values(result, X)
    scores, effects, _ = Explainer(result, typical).explain(X)
    assert np.allclose(scores, expected, rtol=0, atol=1e-12)
    _assert_effects_are_the_pipelines(result, X, typical, scores, effects)


def _parity_outcomes(n=3000):
    """Three categories whose outcome is won where an odd number of a == p, b == s, c == u holds
    (15 % of labels flipped): no main effect at all, only their three-way interaction."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.choice(["p", "q", "r"], n), "b": rng.choice(["s", "t"], n),
                          "c": rng.choice(["u", "v"], n)})
    parity = (frame["a"] == "p").astype(int) + (frame["b"] == "s") + (frame["c"] == "u")
    return frame, pd.Series(((parity % 2 == 1) ^ (rng.random(n) < 0.15)).astype(int))


def test_the_members_weights_follow_the_member_that_ranks():
    """Equal weights held the vote under the default gradient-boosted model where the outcome is
    an interaction of three categories (a passenger list: class, age and sex): the weights,
    learned on out-of-fold scores, go to the trees and away from the main-effects logistic
    regression, and the vote ranks as well as its best member."""
    from sklearn.model_selection import cross_val_score

    from leadrank.scoring.model import _default_tree_model

    frame, y = _parity_outcomes()
    result = evaluate_and_fit(frame, y, [], ["a", "b", "c"])
    weights = result.metrics["member_weights"]
    assert min(weights.values()) >= 0 and weights["linear"] < max(weights["trees"], weights["default_trees"]), weights
    best = cross_val_score(_default_tree_model([], ["a", "b", "c"]), frame, y, scoring="roc_auc").mean()
    assert result.metrics["auc"] >= best - 0.005, (result.metrics["auc"], best)


def test_a_few_hundred_outcomes_get_the_vote_that_sees_interactions():
    """Below 500 outcomes the model was the logistic regression alone, which sees no
    interaction: on 300 outcomes decided by three categories together it ranked at chance. The
    vote is used at that size, and its trees and pairwise member rank them."""
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import Pipeline

    from leadrank.scoring.model import _linear_model

    frame, y = _parity_outcomes(300)
    result = evaluate_and_fit(frame, y, [], ["a", "b", "c"], fit_final=False)
    assert set(result.metrics["member_weights"]) == {"trees", "pairs", "linear", "default_trees", "values"}
    alone = cross_val_score(Pipeline([("model", _linear_model([], ["a", "b", "c"], 300))]), frame, y,
                            scoring="roc_auc").mean()
    assert alone < 0.6 and result.metrics["auc"] > alone + 0.1, (result.metrics["auc"], alone)


def test_the_vote_from_where_its_trees_can_split():
    """A tree member's leaf holds at least TREE_LEAF_ROWS rows: where the validation's fits hold
    fewer than twice that, its trees would be single leaves (constants), and the vote of the two
    logistic regressions left ranked as the plain one alone does. So the plain one is the model
    below SMALL_DATA_ROWS outcomes (a demo night's 33) and the vote of four from there on."""
    from leadrank.scoring.model import SMALL_DATA_ROWS, TREE_LEAF_ROWS, build_pipeline

    def members(rows: int) -> list[str]:
        model = build_pipeline(["x"], ["c"], rows).named_steps["model"]
        return [name for name, _ in model.estimator.estimators] if hasattr(model, "estimator") else ["alone"]

    assert SMALL_DATA_ROWS * 3 // 4 >= 2 * TREE_LEAF_ROWS > (SMALL_DATA_ROWS - 1) * 3 // 4
    assert members(SMALL_DATA_ROWS - 1) == ["alone"]
    assert members(SMALL_DATA_ROWS) == ["trees", "pairs", "linear", "default_trees", "values"]
    frame, y = _parity_outcomes(SMALL_DATA_ROWS - 1)
    assert evaluate_and_fit(frame, y, [], ["a", "b", "c"]).metrics["classifier"] == "logistic regression"


@pytest.mark.parametrize("values", ["none", "one"])
def test_a_number_column_without_values_in_a_fit_does_not_stop_the_trees(values):
    """scikit-learn's boosted trees fail on a column with no value in the rows they are fitted
    on: the ratio columns when no lead with an outcome has a statement, or a column whose few
    values all fall in one validation fold. Such a column is 0 for the trees (EmptyAsZero):
    the model trains, stores and loads (skops) and predicts."""
    from leadrank.scoring.model import model_inputs
    from leadrank.warehouse.models import dump, load

    frame, y = _parity_outcomes(600)
    frame["ratio"] = np.nan
    if values == "one":  # the validation fold that holds it is fitted on none
        frame.loc[0, "ratio"] = 1.0
    result = evaluate_and_fit(frame, y, ["ratio"], ["a", "b", "c"])
    assert result.pipeline is not None and result.metrics["auc"] > 0.6
    X = model_inputs(frame, result.numeric, result.categorical)
    restored = load(dump(result)[0], result.metrics)
    assert np.allclose(restored.pipeline.predict_proba(X), result.pipeline.predict_proba(X), rtol=0, atol=1e-12)


def test_an_infinite_number_is_a_missing_one():
    """Every member's input checks refuse ±inf ("Input X contains infinity"): a feature that
    divides by zero or takes the log of 0 would stop training and scoring. It is missing."""
    from leadrank.scoring.model import model_inputs

    frame, y = _parity_outcomes(300)
    frame["x"] = np.arange(300.0)
    frame.loc[[3, 4], "x"] = [np.inf, -np.inf]
    result = evaluate_and_fit(frame, y, ["x"], ["a", "b", "c"])
    X = model_inputs(frame, result.numeric, result.categorical)
    assert X["x"].isna().sum() == 2 and np.isfinite(result.pipeline.predict_proba(X)).all()


def test_a_night_without_financial_statements_trains_on_hundreds_of_outcomes():
    """A team with outcomes and no statements configured: every ratio input is empty. Until
    7 December 2026 the trees (500 outcomes and more) failed on those columns and with them the
    score step, every night."""
    from tests.test_incremental_scoring import synthetic

    leads, statements, outcomes = synthetic(n=1200)
    result = score_leads(leads, statements.iloc[:0], outcomes, ScoringConfig())
    assert len(outcomes) == 600 and result.stats["model"] == "trained", result.stats["model_reason"]
    assert "trees" in result.model.metrics["member_weights"]
    assert result.scores["priority"].notna().all()


def test_a_member_weighed_zero_is_neither_predicted_nor_explained():
    """A member whose learned weight is zero adds nothing to the log-odds: the model's scores are
    those of every member's log-odds weighed, without running that member at all."""
    from scipy.special import expit

    from leadrank.scoring.model import Explainer, model_inputs, typical_values

    frame, y = _parity_outcomes()
    result = evaluate_and_fit(frame, y, [], ["a", "b", "c"])
    platt = result.pipeline.named_steps["model"]
    zero = np.flatnonzero(platt.slope_ == 0)
    assert len(zero) and len(zero) < len(platt.slope_), platt.slope_
    X = model_inputs(frame.iloc[:200], result.numeric, result.categorical)
    every = platt.estimator_.member_log_odds(X)
    expected = expit(every @ platt.slope_ + platt.intercept_)
    for k in zero:
        platt.estimator_.estimators_[k].predict_proba = None  # a zero-weight member is never run
    assert np.allclose(result.pipeline.predict_proba(X)[:, 1], expected, rtol=0, atol=1e-12)
    typical = typical_values(result, X)
    scores, effects, _ = Explainer(result, typical).explain(X)
    assert np.allclose(scores, expected, rtol=0, atol=1e-12)
    _assert_effects_are_the_pipelines(result, X, typical, scores, effects)


def test_typical_values_an_input_at_a_time_are_the_frames():
    """The incremental score step gives typical_values a function of one input (the kept leads'
    stored values, then the changed ones'), not every input in one frame: the same values
    whatever the order of the rows, each input read once."""
    from leadrank.scoring.model import model_inputs, typical_values

    result, frame = _vote_model_and_leads()
    X = model_inputs(frame, result.numeric, result.categorical)
    X.loc[X.index[:3], result.categorical[0]] = None  # missing values count in no category
    whole = typical_values(result, X)
    half = len(X) // 2
    reversed_parts = typical_values(result, lambda c: pd.concat([X[c].iloc[half:], X[c].iloc[:half]], ignore_index=True))
    assert reversed_parts.keys() == whole.keys() and all(
        reversed_parts[c] == whole[c] or (pd.isna(reversed_parts[c]) and pd.isna(whole[c])) for c in whole)
    read: list[str] = []
    typical_values(result, lambda c: read.append(c) or X[c])
    assert read == [*result.numeric, *result.categorical]  # each input once


def test_a_member_whose_parts_disagree_with_its_predictions_predicts_the_variants_whole(monkeypatch):
    """The trees are read through HistGradientBoostingClassifier's private parts; if those ever
    mean something else (here: the features read in the wrong order), the first leads' check
    against the pipeline finds it and the member predicts its variants through the pipeline."""
    from leadrank.scoring import occlusion
    from leadrank.scoring.model import Explainer, model_inputs, typical_values

    result, frame = _vote_model_and_leads()
    monkeypatch.setattr(occlusion, "_tree_columns", lambda trees, width: np.arange(width)[::-1])
    X = model_inputs(frame, result.numeric, result.categorical)
    typical = typical_values(result, X)
    explainer = Explainer(result, typical)
    scores, effects, _ = explainer.explain(X)
    assert [member.kind for member in explainer._parts[0]] == ["predict", "quadratic", "linear", "predict", "linear"]
    _assert_effects_are_the_pipelines(result, X, typical, scores, effects)


def test_output_columns_are_put_down_to_one_input_or_none():
    """A ColumnTransformer's outputs belong to the input column whose name they carry; a
    transform that mixes columns, or names that are prefixes of other names' outputs, give no
    owners (and the Explainer predicts through the pipeline)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from leadrank.scoring.occlusion import column_owners

    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.5, 0.1, 0.2], "c": ["x", "y", "x"], "c_x": ["p", "q", "p"]})
    plain = ColumnTransformer([("num", StandardScaler(), ["a", "b"]), ("cat", OneHotEncoder(), ["c"])]).fit(frame)
    owners = column_owners(plain)
    assert {col: at.tolist() for col, at in owners.items()} == {"a": [0], "b": [1], "c": [2, 3]}
    assert column_owners(ColumnTransformer([("pca", PCA(1), ["a", "b"])]).fit(frame)) is None
    assert column_owners(ColumnTransformer([("cat", OneHotEncoder(), ["c", "c_x"])]).fit(frame)) is None


def test_evaluate_names_a_date_column_it_could_validate_on(tmp_path):
    crm_export(tmp_path / "crm.csv", dates=True)
    result, out = evaluate("--data", str(tmp_path / "crm.csv"), "--target", "Converted", "--positive", "Yes")
    assert result.exit_code == 0, result.output
    assert out["columns"]["date_columns"] == ["Created"] and out["validation"] == "stratified_5fold_cv"
    assert "give --time-column 'Created'" in " ".join(result.output.split())
    result, out = evaluate("--data", str(tmp_path / "crm.csv"), "--target", "Converted", "--positive", "Yes",
                           "--time-column", "Created")
    assert "date_columns" not in out["columns"] and "give --time-column" not in result.output
