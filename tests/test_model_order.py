"""The outcome model never ranks leads backwards (issue 15): row order changes nothing, the
calibration map is increasing, a model worse than chance or than the fit score is not deployed,
several won values count together, and a time column that is not dates is an error."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score
from sqlalchemy import text
from typer.testing import CliRunner

from bench.eval_model import drifting_table, row_orders, with_call_dates
from leadrank import pipeline
from leadrank.cli import app
from leadrank.config import ScoringConfig
from leadrank.flows.artifacts import summary_markdown
from leadrank.scoring.model import IncreasingPlatt, evaluate_and_fit, outcome_table, predict, refusal
from leadrank.scoring.priority import train_model
from leadrank.warehouse.engine import make_engine
from tests.helpers import run_pipeline
from tests.test_model import config_without_outcomes

runner = CliRunner()


def test_drifting_generator_drifts():
    frame = drifting_table(4000)
    won = frame["y"].eq("yes")
    assert won.head(400).mean() < 0.12 and won.tail(400).mean() > 0.4


@pytest.mark.parametrize("dated", [False, True], ids=["undated", "with-call-dates"])
def test_evaluation_is_the_same_in_any_row_order(dated):
    """A table sorted by date whose won share drifts from ~5 % to ~50 %: the old calibration
    (unshuffled folds, free Platt slope) scored it 0.21 in file order and 0.79 shuffled. With the
    call's date as a column too (a number of days, one the order of the file follows)."""
    frame = with_call_dates(drifting_table(1500)) if dated else drifting_table(1500)
    aucs, predictions = {}, {}
    for order, rows in row_orders(frame, "euribor3m").items():
        table = outcome_table(rows.reset_index(drop=True), "y")
        assert ("call_date" in table.numeric) == dated
        deploy = order in ("file", "shuffled")  # the deployed model too: the same predictions for the same rows
        result = evaluate_and_fit(table.frame, table.y, table.numeric, table.categorical, fit_final=deploy)
        aucs[order] = result.metrics["auc"]
        if deploy:
            predictions[order] = predict(result, outcome_table(frame, "y").frame)
    assert max(aucs.values()) - min(aucs.values()) <= 0.01, aucs
    assert aucs["file"] >= aucs["shuffled"] - 0.01 and aucs["file"] > 0.7, aucs
    assert np.corrcoef(predictions["file"], predictions["shuffled"])[0, 1] > 0.999


def test_validation_on_later_blocks_is_the_same_in_any_row_order():
    """Dates shared by several outcomes (a CRM export's day of close): the blocks are cut at changes
    of date and the rows put in their own content order first, so the file's order changes
    nothing (without that order the vote's calibration folds, drawn by position, differ)."""
    frame = with_call_dates(drifting_table(150), days=50)  # three outcomes a day
    results = {}
    for order, rows in row_orders(frame, "euribor3m").items():
        rows = rows.reset_index(drop=True)
        table = outcome_table(rows.drop(columns=["call_date"]), "y")
        metrics = evaluate_and_fit(table.frame, table.y, table.numeric, table.categorical, dates=rows["call_date"],
                                   fit_final=False).metrics
        results[order] = (metrics["validation"], metrics["auc"], metrics["auc_by_block"])
    assert results["file"][0] == "time_3_later_blocks"
    assert all(result == results["file"] for result in results.values()), results


class Contrarian(ClassifierMixin, BaseEstimator):
    """Scores +x when fitted on every row, -x when fitted on a part: out-of-fold scores that
    rank the outcome backwards, as models of other periods did on a date-sorted export."""

    def __init__(self, n_all=None):
        self.n_all = n_all

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        self.sign_ = 1.0 if self.n_all is None or len(y) == self.n_all else -1.0
        return self

    def decision_function(self, X):
        return self.sign_ * np.asarray(X, dtype=float)[:, 0]


def test_calibration_never_reverses_the_models_order():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 1))
    y = (x[:, 0] + rng.normal(0, 0.5, 600) > 0).astype(int)
    calibrated = IncreasingPlatt(Contrarian(n_all=600)).fit(x, y)
    assert calibrated.slope_clamped_ and calibrated.slope_ > 0
    grid = np.linspace(-2, 2, 9).reshape(-1, 1)
    p = calibrated.predict_proba(grid)[:, 1]
    assert np.all(np.diff(p) > 0)  # increasing in the model's own score, never decreasing
    fitted = IncreasingPlatt(Contrarian()).fit(x, y)  # a model that ranks the same way in and out of fold
    assert not fitted.slope_clamped_ and fitted.slope_ > 0


def test_validation_calibrates_each_fold_on_the_others_and_the_final_fit_reuses_its_scores(monkeypatch):
    """Cross-validation fits the vote once per fold and the deployed model once more (no folds of
    the calibration's own inside); each fold's probabilities are the members' out-of-fold scores
    weighed (no weight below zero) and mapped by an increasing sigmoid, both fitted without that
    fold's outcomes; the deployed model's weights are those of all the folds' scores."""
    from sklearn.model_selection import StratifiedKFold

    from leadrank.scoring import model as model_mod

    fits, validated = [], {}
    real_fit, real_validate = model_mod.LogOddsVote.fit, model_mod._validate

    def counting_fit(self, X, y, **kwargs):
        fits.append(len(y))
        return real_fit(self, X, y, **kwargs)

    def keeping_validate(*args, **kwargs):
        validated["out"] = real_validate(*args, **kwargs)
        return validated["out"]

    monkeypatch.setattr(model_mod.LogOddsVote, "fit", counting_fit)
    monkeypatch.setattr(model_mod, "_validate", keeping_validate)
    table = outcome_table(drifting_table(1500).sample(frac=1, random_state=1).reset_index(drop=True), "y")
    result = evaluate_and_fit(table.frame, table.y, table.numeric, table.categorical)
    assert len(fits) == 6 and sorted(fits)[-1] == 1500, fits  # five folds, then every row once
    name, _, rows, p, scores, _ = validated["out"]
    y = table.y.astype(int).to_numpy()[model_mod.canonical_order(
        model_mod._as_frame(table.frame, table.numeric, table.categorical).reset_index(drop=True),
        table.y.astype(int).to_numpy())]
    members = [member for member, _ in result.pipeline.named_steps["model"].estimator.estimators]
    assert name == "stratified_5fold_cv" and scores.shape == (1500, len(members))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(np.zeros(len(y)), y)
    for train, test in folds:
        weights, intercept, _ = model_mod.increasing_sigmoid(scores[train], y[train])  # without the fold's outcomes
        assert np.all(weights >= 0)
        assert p[test] == pytest.approx(1 / (1 + np.exp(-(scores[test] @ weights + intercept))), abs=1e-12)
    deployed = result.pipeline.named_steps["model"]
    weights, intercept, _ = model_mod.increasing_sigmoid(scores, y)
    assert np.array_equal(deployed.slope_, weights) and deployed.intercept_ == intercept  # the folds' scores
    assert list(result.metrics["member_weights"]) == members
    # `model evaluate` fits no final model: it prints the weights the fit would make of those scores
    evaluated = evaluate_and_fit(table.frame, table.y, table.numeric, table.categorical, fit_final=False)
    assert evaluated.pipeline is None and evaluated.metrics["member_weights"] == result.metrics["member_weights"]


def test_a_model_below_chance_or_below_the_fit_score_is_refused():
    assert refusal({"auc": 0.42, "fit_score_auc": None}).startswith("model not deployed: its validated AUC 0.42 is below 0.5")
    assert "below the fit score's own AUC 0.8" in refusal({"auc": 0.7, "fit_score_auc": 0.8})
    assert refusal({"auc": 0.8, "fit_score_auc": 0.8}) == "" and refusal({"auc": None}) == ""
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.normal(size=400)})
    y = pd.Series((frame["x"] + rng.normal(0, 1.5, 400) > 0).astype(int))
    metrics = evaluate_and_fit(frame, y, ["x"], [], baseline=y + rng.normal(0, 0.1, 400), fit_final=False).metrics
    assert metrics["fit_score_auc"] > 0.99 and metrics["auc"] < metrics["fit_score_auc"]
    assert "below the fit score's own AUC" in refusal(metrics)


def outcomes_decided_by_fit(url, tmp_path):
    """Outcomes that the fit score ranks perfectly: the top third by fit score won, the rest lost."""
    with make_engine(url).connect() as conn:
        scores = pd.read_sql_query(text("SELECT lead_id, fit_score FROM lead_scores"), conn)
    scores = scores.sort_values(["fit_score", "lead_id"], ascending=False).reset_index(drop=True)
    cut = scores["fit_score"].iloc[len(scores) // 3]
    scores = scores[scores["fit_score"] != cut]  # no ties across the cut: the fit score separates them exactly
    outcome = np.where(scores["fit_score"] > cut, "成交", "丢单")
    path = tmp_path / "crm.csv"
    pd.DataFrame({"线索ID": scores["lead_id"], "结果": outcome}).to_csv(path, index=False)
    return path


def test_a_night_with_a_refused_model_ranks_by_fit_and_says_why(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    config = config_without_outcomes(tmp_path)
    run_pipeline(str(config), url)
    imported = runner.invoke(app, ["outcomes", "import", str(outcomes_decided_by_fit(url, tmp_path)), "--warehouse", url])
    assert imported.exit_code == 0, imported.output
    night = run_pipeline(str(config), url)
    scoring = night["scoring"]
    assert scoring["model"] == "refused" and scoring["model_fit_score_auc"] == 1.0
    assert scoring["model_reason"].startswith("model not deployed: its validated AUC")
    assert "priority uses the fit score only" in scoring["model_reason"]
    with make_engine(url).connect() as conn:
        row = conn.execute(text("SELECT status, reason, artifact FROM model_versions WHERE run_id = :r"),
                           {"r": night["run_id"]}).first()
        ranked = pd.read_sql_query(text("SELECT fit_score, model_score, priority FROM lead_scores WHERE run_id = :r"),
                                   conn, params={"r": night["run_id"]})
    assert row.status == "refused" and row.reason == scoring["model_reason"] and row.artifact is None
    assert ranked["model_score"].isna().all() and np.allclose(ranked["priority"], ranked["fit_score"])
    assert scoring["model_reason"] in summary_markdown({"run_id": night["run_id"], "scoring": scoring})
    retrained = pipeline.retrain_step(str(config), url)  # the weekly retrain refuses it as well
    assert retrained["status"] == "refused" and retrained["reason"].startswith("model not deployed")
    shown = runner.invoke(app, ["model", "versions", "--warehouse", url], env={"COLUMNS": "300"})
    assert shown.output.count("refused") == 2 and "model not deployed" in " ".join(shown.output.split())


def demo_like(path, values):
    rng = np.random.default_rng(4)
    n = len(values)
    pd.DataFrame({"visits": rng.poisson(3, n), "结果": values}).to_csv(path, index=False)


def test_crm_stage_names_are_recognised_as_won_without_positive(tmp_path):
    demo_like(tmp_path / "crm.csv", ["Closed Won"] * 90 + ["Closed Lost"] * 110)
    done = runner.invoke(app, ["model", "evaluate", "--data", str(tmp_path / "crm.csv"), "--target", "结果"])
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["n_positive"] == 90 and out["columns"]["positive_values"] == ["Closed Won"]


@pytest.mark.parametrize(("values", "named", "won"), [
    (["Yes"] * 90 + ["No"] * 110, "yes", ["Yes"]),  # another case
    (["1.0"] * 90 + ["0.0"] * 110, "1", ["1.0"]),  # a float column's 1
    ([" won "] * 90 + ["lost"] * 110, "won", ["won"]),
])
def test_a_named_won_value_is_found_whatever_its_case_or_number_format(tmp_path, values, named, won):
    """--positive yes on a column of Yes / No (or 1 on 1.0 / 0.0) stopped the command with "does
    not occur in the target"; a value that is truly absent still does."""
    demo_like(tmp_path / "crm.csv", values)
    base = ["model", "evaluate", "--data", str(tmp_path / "crm.csv"), "--target", "结果"]
    done = runner.invoke(app, [*base, "--positive", named])
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["n_positive"] == 90 and out["columns"]["positive_values"] == won
    absent = runner.invoke(app, [*base, "--positive", "maybe"])
    assert absent.exit_code == 1 and "'maybe' does not occur in the target" in " ".join(absent.output.split())


def test_several_won_values_count_together_and_a_third_value_warns(tmp_path):
    values = ["won"] * 80 + ["成交"] * 70 + ["lost"] * 110 + ["丢单"] * 80
    demo_like(tmp_path / "crm.csv", values)
    base = ["model", "evaluate", "--data", str(tmp_path / "crm.csv"), "--target", "结果"]
    default = runner.invoke(app, base)
    out = json.loads(default.stdout.splitlines()[-1])
    assert out["n_positive"] == 150 and out["columns"]["positive_values"] == ["won", "成交"]
    assert "the target has 4 values" in " ".join(default.stderr.split())
    named = runner.invoke(app, [*base, "--positive", "won", "--positive", "成交"])
    assert json.loads(named.stdout.splitlines()[-1])["n_positive"] == 150
    one = runner.invoke(app, [*base, "--positive", "won"])
    assert json.loads(one.stdout.splitlines()[-1])["n_positive"] == 80
    assert "['成交'] look like wins" in " ".join(one.stderr.split())
    two = tmp_path / "two.csv"
    demo_like(two, ["won"] * 100 + ["lost"] * 100)
    plain = runner.invoke(app, ["model", "evaluate", "--data", str(two), "--target", "结果"])
    assert plain.exit_code == 0 and "warning: the target" not in plain.stderr


def test_a_placeholder_target_is_no_outcome_not_a_loss(tmp_path):
    """A plebiscite's "NA" (or a CRM's "-") in the target is a row whose outcome was never
    recorded: it was counted as lost beside a warning of a third value."""
    values = ["Y"] * 90 + ["N"] * 100 + ["NA"] * 20 + ["-"] * 5 + ["n/a"] * 3
    demo_like(tmp_path / "crm.csv", values)
    base = ["model", "evaluate", "--data", str(tmp_path / "crm.csv"), "--target", "结果"]
    done = runner.invoke(app, [*base, "--positive", "Y"])
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout.splitlines()[-1])
    assert (out["n_rows"], out["n_positive"], out["columns"]["rows_without_target"]) == (190, 90, 28)
    assert "warning: the target" not in done.stderr
    named = runner.invoke(app, [*base, "--positive", "NA"])  # a value the user names is an outcome
    out = json.loads(named.stdout.splitlines()[-1])
    assert (out["n_rows"], out["n_positive"]) == (210, 20)


def test_a_time_column_that_is_not_dates_is_an_error(tmp_path):
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"visits": rng.poisson(3, 300), "y": rng.choice(["yes", "no"], 300),
                          "created": pd.date_range("2025-01-01", periods=300).strftime("%Y-%m-%d")})
    frame.loc[[4, 9], "created"] = ["soon", "n/a?"]
    frame.to_csv(tmp_path / "crm.csv", index=False)
    result = runner.invoke(app, ["model", "evaluate", "--data", str(tmp_path / "crm.csv"), "--target", "y",
                                 "--time-column", "created"])
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and "--time-column 'created': 2 of 300 filled values are not dates" in said
    assert "'soon'" in said
    # A placeholder is no date entered, not a bad one: that outcome is trained on, never validated on.
    frame.loc[[4, 9], "created"] = ["N/A", " - "]
    frame.to_csv(tmp_path / "crm.csv", index=False)
    result = runner.invoke(app, ["model", "evaluate", "--data", str(tmp_path / "crm.csv"), "--target", "y",
                                 "--time-column", "created"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["validation"] == "time_3_later_blocks" and "2 outcomes without a date" in out["validation_note"]


@pytest.mark.parametrize(("days_apart", "starts"), [(1, [45, 60, 75]), (0, [45, 63, 72])], ids=["days", "months"])
def test_each_later_block_is_predicted_by_a_model_of_the_outcomes_before_it(monkeypatch, days_apart, starts):
    """Blocks start at the later half's thirds, moved to the nearest change of date: with one
    date a month (nine outcomes each) no month is split between a block and its model's
    training (the thirds at 60 and 75 fall inside months)."""
    from sklearn.pipeline import Pipeline

    trained_on = []
    real_fit = Pipeline.fit

    def recording_fit(self, X, y=None, **kwargs):
        if isinstance(self.named_steps.get("model"), IncreasingPlatt):  # the vote, not its members' pipelines
            trained_on.append(X["x"].to_numpy())
        return real_fit(self, X, y, **kwargs)

    monkeypatch.setattr(Pipeline, "fit", recording_fit)
    rng = np.random.default_rng(3)
    n = 90
    frame = pd.DataFrame({"x": rng.normal(size=n), "cat": rng.choice(list("abc"), n)})
    y = pd.Series((frame["x"] + rng.normal(size=n) > 0).astype(int))
    every = (pd.date_range("2025-01-01", periods=n, freq="D") if days_apart
             else pd.date_range("2025-01-01", periods=10, freq="MS").repeat(9))
    dates = pd.Series(rng.permutation(every))
    day = dict(zip(frame["x"], dates, strict=True))
    fit_score = pd.Series(rng.normal(size=n)) + y  # the guard's other score of the same outcomes
    metrics = evaluate_and_fit(frame, y, ["x"], ["cat"], dates=dates, baseline=fit_score, fit_final=False).metrics
    assert metrics["validation"] == "time_3_later_blocks" and metrics["validation_rows"] == n - starts[0]
    ranked = dates.sort_values().to_numpy()
    assert [len(x) for x in trained_on] == starts  # every outcome before the block, and only those
    for x, first_of_block in zip(trained_on, ranked[starts], strict=True):
        assert max(day[v] for v in x) < first_of_block
    # the AUC within each block, the blocks weighed by their won x lost pairs; the fit score's alike
    in_order = np.argsort(dates.to_numpy(), kind="stable")
    cuts = [s - starts[0] for s in starts[1:]]
    blocks = np.split(y.to_numpy()[in_order][starts[0]:], cuts)
    pairs = [int(b.sum()) * int((b == 0).sum()) for b in blocks]
    assert metrics["auc"] == pytest.approx(np.average(metrics["auc_by_block"], weights=pairs), abs=1e-4)
    fit_aucs = [roc_auc_score(b, f) for b, f in zip(blocks, np.split(fit_score.to_numpy()[in_order][starts[0]:], cuts),
                                                    strict=True)]
    assert metrics["fit_score_auc"] == pytest.approx(np.average(fit_aucs, weights=pairs), abs=1e-4)


def test_later_blocks_of_one_class_only_fall_back_to_cross_validation():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(size=60), "cat": rng.choice(list("abc"), 60)})
    y = pd.Series(np.r_[(frame["x"][:30] > 0).astype(int), np.ones(30, dtype=int)])  # every later outcome won
    dates = pd.Series(pd.date_range("2025-01-01", periods=60, freq="D"))
    metrics = evaluate_and_fit(frame, y, ["x"], ["cat"], dates=dates, fit_final=False).metrics
    assert metrics["validation"].startswith("stratified")
    assert "every block of the later half of the dated outcomes holds one class only" in metrics["validation_note"]


def test_nightly_training_validates_on_later_outcomes_when_all_have_dates():
    from leadrank.scoring.priority import features_of
    from tests.test_scoring import lead

    leads = pd.DataFrame([lead(f"L{i:02d}", f"公司{i:02d}", n_sources=1 + i % 3) for i in range(80)])

    features = features_of(leads, pd.DataFrame(columns=["financials_source"]), ScoringConfig())
    outcomes = pd.DataFrame({"lead_id": leads["lead_id"], "outcome": np.where(leads["n_sources"] > 1, "won", "lost"),
                             "outcome_date": [f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}" for i in range(80)]})
    result = train_model(features, outcomes, ScoringConfig())
    assert result.metrics["validation"] == "time_3_later_blocks" and result.metrics["validation_rows"] == 40
    assert "fit_score_auc" in result.metrics


@pytest.mark.parametrize("order", ["reversed", "shuffled"])
def test_nightly_training_does_not_depend_on_warehouse_order(order):
    from leadrank.scoring.priority import features_of
    from tests.test_scoring import lead

    rng = np.random.default_rng(6)
    leads = pd.DataFrame([lead(f"L{i:03d}", f"公司{i:03d}", n_sources=1 + i % 3) for i in range(120)])
    outcomes = pd.DataFrame({"lead_id": leads["lead_id"], "outcome_date": None,
                             "outcome": np.where(leads["n_sources"] + rng.normal(0, 1, 120) > 2, "won", "lost")})
    other = leads.iloc[::-1] if order == "reversed" else leads.sample(frac=1.0, random_state=3)
    first, second = (train_model(features_of(frame.reset_index(drop=True), pd.DataFrame(columns=["financials_source"]),
                                             ScoringConfig()), outcomes, ScoringConfig()).metrics
                     for frame in (leads, other))
    assert first["auc"] == second["auc"] and first["auc_by_fold"] == second["auc_by_fold"]


def test_eval_model_keeps_a_dropped_field_only_when_asked(tmp_path, capsys):
    """bench/eval_model.py --keep: a field dropped by default (its timing in doubt) is measured
    only when named; by default it never reaches the model."""
    from bench.eval_model import LEAKY_OR_IDS, fold_draws

    rng = np.random.default_rng(5)
    n = 400
    score = rng.normal(size=n)
    frame = pd.DataFrame({"Converted": (score + rng.normal(0, 0.3, n) > 0).astype(int).astype(str),
                          "Asymmetrique Activity Score": score.round(2),
                          "TotalVisits": rng.integers(0, 9, n)})
    for column in set(LEAKY_OR_IDS) - set(frame.columns):  # every other dropped field, as the export has them
        frame[column] = "x"
    path = tmp_path / "leads.csv"
    frame.to_csv(path, index=False)
    aucs = {}
    for name, drop in {"default": LEAKY_OR_IDS,
                       "kept": [c for c in LEAKY_OR_IDS if c != "Asymmetrique Activity Score"]}.items():
        fold_draws("x_education", pd.read_csv(path, dtype=str, keep_default_na=False), "Converted", "1", drop, 1)
        aucs[name] = json.loads(capsys.readouterr().out.splitlines()[-1])["auc_min_mean_max"][1]
    assert aucs["kept"] > 0.9 and aucs["default"] < 0.7, aucs


def test_eval_model_sorts_another_table_by_its_most_telling_number_column(tmp_path):
    """bench/eval_model.py --table: the "sorted by a correlated column" order uses the number
    column that ranks the outcome best, either sign, read from the data; text columns and the
    outcome itself are never chosen. bench/public_outcome_tables.py lists only the tables present."""
    from bench.eval_model import correlated_column
    from bench.public_outcome_tables import TABLES, table_arguments

    rng = np.random.default_rng(3)
    n = 500
    signal = rng.normal(size=n)
    won = signal + rng.normal(0, 0.5, n) > 0
    raw = pd.DataFrame({"noise": rng.normal(size=n).round(3).astype(str), "city": rng.choice(["a", "b"], n),
                        "weak": (signal + rng.normal(0, 3, n)).round(3).astype(str),
                        "telling": (-signal).round(3).astype(str), "y": np.where(won, "yes", "no")})
    y = pd.Series(won.astype(int))
    assert correlated_column(raw, "y", y) == "telling"
    assert correlated_column(raw.drop(columns="telling"), "y", y) == "weak"
    assert correlated_column(raw[["city", "y"]], "y", y) == "city"
    (tmp_path / "OJ.csv").write_text("Purchase\nMM\n")
    assert table_arguments(tmp_path) == [(str(tmp_path / "OJ.csv"), *TABLES["OJ.csv"])]
    (tmp_path / "hi.csv").write_text("whi\nyes\n")  # a held-out table: listed only as one
    assert table_arguments(tmp_path, held_out=True) == [(str(tmp_path / "hi.csv"), "whi", "yes")]
    assert table_arguments(tmp_path) == [(str(tmp_path / "OJ.csv"), *TABLES["OJ.csv"])]


def test_a_held_out_table_is_written_without_row_names_and_its_later_columns(tmp_path):
    """bench/public_outcome_tables.py --held-out: R's row names and the columns recorded after
    the outcome (flchain's follow-up time and cause of death) are not in the written table."""
    from bench.public_outcome_tables import write_table

    path = tmp_path / "flchain.csv"
    write_table(b'"","age","futime","death","chapter"\n"1",97,85,1,"Circulatory"\n', path, held_out=True)
    assert pd.read_csv(path, dtype=str).to_dict("records") == [{"age": "97", "death": "1"}]


def test_compare_default_validates_default_trees_on_the_model_s_own_folds(tmp_path):
    """`--compare-default`: scikit-learn's default gradient-boosted trees on the same columns and the
    same folds as the model (the rows in their canonical order, the same shuffled stratified split),
    so that a difference between the two figures is the models', not the draw of the folds."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold

    from leadrank.scoring.model import canonical_order

    rng = np.random.default_rng(11)
    a, b = rng.normal(size=400).round(3), rng.normal(size=400).round(3)
    won = a * b + rng.normal(scale=0.5, size=400) > 0
    frame = pd.DataFrame({"a": a, "b": b, "y": np.where(won, "yes", "no")})
    frame.to_csv(tmp_path / "crm.csv", index=False)
    base = ["model", "evaluate", "--data", str(tmp_path / "crm.csv"), "--target", "y"]
    assert "default_model_auc" not in json.loads(runner.invoke(app, base).stdout.splitlines()[-1])
    result = runner.invoke(app, [*base, "--compare-default"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.splitlines()[-1])

    X, y = frame[["a", "b"]].astype(float), won.astype(int)
    order = canonical_order(X, y)
    X, y = X.iloc[order].reset_index(drop=True), y[order]
    aucs = []
    for train, test in StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(X, y):
        fitted = HistGradientBoostingClassifier(random_state=0).fit(X.iloc[train], y[train])
        aucs.append(roc_auc_score(y[test], fitted.predict_proba(X.iloc[test])[:, 1]))
    assert out["default_model_auc"] == round(float(np.mean(aucs)), 4)
    assert out["auc"] != out["default_model_auc"]  # the model's own figure beside it, not a copy
    said = " ".join(result.stderr.split())
    assert f"default gradient-boosted trees on the same folds: AUC {out['default_model_auc']}, this model {out['auc']}" in said
    assert f"varies by {out['auc_fold_mean_sd'][1]} (sd) from fold to fold" in said

    # With dates, the later blocks the model is validated on.
    frame.insert(0, "created", pd.date_range("2024-01-01", periods=400).strftime("%Y-%m-%d"))
    frame.to_csv(tmp_path / "crm.csv", index=False)
    result = runner.invoke(app, [*base, "--compare-default", "--time-column", "created"])
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["validation"] == "time_3_later_blocks" and 0.5 < out["default_model_auc"] < 1
    assert "default gradient-boosted trees on the same blocks" in " ".join(result.stderr.split())
