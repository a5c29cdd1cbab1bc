"""Incremental scoring (issue 19): a night based on an earlier run scores only the leads whose
inputs changed, and its scores.parquet is the full computation's, row for row and byte for byte.
A change of anything every lead depends on (the scoring code, its settings, the model, the
typical feature values) or a missing state scores every lead, and says why."""

import json
import shutil

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from leadrank import pipeline
from leadrank.config import ScoringConfig
from leadrank.contracts import LEADS
from leadrank.paths import DEMO_DIR
from leadrank.run_files import RunFiles, read_json, write_frame
from leadrank.scoring import incremental
from leadrank.scoring.priority import features_of, outcome_key, score_leads, train_model
from leadrank.transform.names import name_cores
from leadrank.warehouse import models
from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.migrate import upgrade
from tests.helpers import marts, run_pipeline, same_marts

NO_STATEMENTS = pd.DataFrame(columns=["financials_source"])
NO_OUTCOMES = pd.DataFrame(columns=["lead_id", "outcome", "outcome_date", "owner"])


def synthetic(n: int = 240, seed: int = 0, *, dated: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(leads, statements, outcomes): statements for every fourth lead in two industries, and
    won/lost outcomes for every other lead, decided mostly by exhibitions and member level (which
    the model sees and the fit score does not, so that the model is deployed). Most features have
    a clear typical value, as at scale (one source, one record, a phone): a few leads more or
    less do not move it. The outcomes carry no date unless `dated` (then the model is validated on
    later blocks: three fits of it, where cross-validation's calibration reuses its own folds;
    which validation a model had does not change what the incremental night reuses)."""
    rng = np.random.default_rng(seed)
    rows = []
    names = [f"{'华南' if i % 2 else '测试'}{i:04d}科技有限公司" for i in range(n)]
    cores = name_cores(names)  # once for all names: twice per name cost seconds per test
    for i, (name, core) in enumerate(zip(names, cores, strict=True)):
        rows.append({**dict.fromkeys(LEADS), "lead_id": f"L{i:04d}", "company_name": name, "company_name_zh": name,
                     "name_core": core, "name_core_zh": core, "uscc_valid": False,
                     "is_branch": False, "sources": "expo", "source_kinds": "exhibition",
                     "n_sources": 1 + int(i % 3 == 0), "n_records": 1 + int(i % 7 == 0), "exhibitions": int(rng.integers(0, 3)),
                     "phone": f"0755-{10000000 + i}" if i % 10 < 7 else None,
                     "domain": f"c{i}.example.cn" if i % 3 else None, "province": ["广东", "广东", "浙江"][i % 3],
                     "member_level": {0: "理事单位", 1: "会员单位", 2: "会员单位"}.get(i % 5),
                     "first_fetched_at": "2026-12-01T00:00:00+00:00", "last_fetched_at": "2026-12-01T00:00:00+00:00"})
    leads = pd.DataFrame(rows, columns=LEADS).astype(object)
    leads[["is_branch", "uscc_valid"]] = leads[["is_branch", "uscc_valid"]].astype(bool)
    listed = leads.iloc[::4]
    k = len(listed)
    assets = rng.lognormal(10, 1, k)
    revenue = assets * rng.uniform(0.3, 1.8, k)
    statements = pd.DataFrame({
        "financials_source": "t", "uscc": None, "stock_code": None, "company_name": listed["company_name"].to_numpy(),
        "industry": np.where(np.arange(k) % 2, "文具", "电子设备"), "year": 2025.0, "total_assets": assets,
        "current_assets": assets * rng.uniform(0.2, 0.9, k), "revenue": revenue,
        "cost_of_sales": revenue * rng.uniform(0.5, 0.95, k), "net_profit": revenue * rng.normal(0.06, 0.08, k),
        "accounts_receivable": revenue * rng.uniform(0.05, 0.6, k), "inventory": revenue * rng.uniform(0, 0.4, k),
        "revenue_prev": revenue / rng.uniform(0.8, 1.3, k), "collection_days": np.nan, "inventory_days": np.nan,
        "net_margin_percent": np.nan, "row_ref": [f"s.csv:{i}" for i in range(k)]})
    judged = leads.iloc[::2]
    liked = (judged["exhibitions"] > 0).to_numpy() | judged["member_level"].eq("理事单位").to_numpy()
    won = rng.random(len(judged)) < np.where(liked, 0.85, 0.1)
    outcomes = pd.DataFrame({"lead_id": judged["lead_id"].to_numpy(), "outcome": np.where(won, "won", "lost"),
                             "outcome_date": [f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}" if dated else None
                                              for i in range(len(judged))],
                             "owner": "t"})
    return leads, statements, outcomes


def read_state(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """(rows, meta) of a state read back whole from its file, checked as the score step checks the
    state it reads a column at a time (base_state.StateColumns)."""
    raw = frame.attrs.get(incremental.ATTRS_KEY)
    frame.attrs = {}  # the rows reused tonight must not carry the base run's meta into tonight's files
    if not raw:
        raise ValueError("the state has no fingerprint")
    meta = json.loads(raw)
    frame["lead_id"] = frame["lead_id"].astype(object)
    incremental.check_state(frame, meta)
    return frame, meta


def as_base(result, tmp_path, run_id: str = "base") -> incremental.Base:
    """The state of `result` as the next night reads it: written to its file and read back, its
    model (when it trained one) from the bytes the step writes beside it."""
    path = tmp_path / f"{run_id}-state.parquet"
    write_frame(result.state, path)
    rows, meta = read_state(pd.read_parquet(path))
    blob = models.dump(result.model)[0] if result.model.pipeline is not None else None
    return incremental.Base(run_id, rows, meta, lambda: models.load(blob, meta["model"]["metrics"]))


def assert_same_file(incremental_scores: pd.DataFrame, full_scores: pd.DataFrame, tmp_path) -> None:
    """Both frames written as the step writes scores.parquet: the same table, the same bytes."""
    a, b = tmp_path / "incremental.parquet", tmp_path / "full.parquet"
    write_frame(incremental_scores, a)
    write_frame(full_scores, b)
    assert pq.read_table(a).equals(pq.read_table(b), check_metadata=True)
    assert a.read_bytes() == b.read_bytes()


def night_two(leads: pd.DataFrame, outcomes: pd.DataFrame) -> tuple[pd.DataFrame, set[str]]:
    """Tonight's leads: three with a phone lost, two with another member level and one with another
    address (none of them with an outcome, so the training set is last night's), one with an
    outcome and another address (which the model does not read), three removed, four new. Returns
    them and the ids of the leads that changed or are new."""
    judged = set(outcomes["lead_id"])
    free = [lead for lead in leads["lead_id"] if lead not in judged]
    tonight = leads.set_index("lead_id", drop=False).copy()
    phoned = [lead for lead in free if tonight.loc[lead, "phone"] is not None][:3]
    tonight.loc[phoned, "phone"] = None
    levels = [lead for lead in free if lead not in phoned][:2]
    tonight.loc[levels, "member_level"] = "副会长单位"
    moved = [lead for lead in free if lead not in phoned + levels][:1]
    tonight.loc[moved, "address"] = "广东省深圳市南山区科技园1号"
    # A lead with an outcome moves too: the model does not read addresses, so it stays the same.
    moved += sorted(judged)[:1]
    tonight.loc[moved, "address"] = "广东省深圳市南山区科技园1号"
    gone = [lead for lead in free if lead not in phoned + levels + moved][:3]
    tonight = tonight.drop(index=gone)
    new = leads.iloc[:4].assign(lead_id=[f"N{i}" for i in range(4)], company_name=[f"新公司{i}" for i in range(4)],
                                name_core=[f"新公司{i}" for i in range(4)], name_core_zh=[f"新公司{i}" for i in range(4)])
    tonight = pd.concat([tonight.reset_index(drop=True), new], ignore_index=True)
    # The fetch times change every night and scoring never reads them.
    tonight["last_fetched_at"] = "2026-12-02T00:00:00+00:00"
    return tonight, {*phoned, *levels, *moved, *new["lead_id"]}


def test_the_incremental_night_scores_the_changed_leads_and_equals_the_full_one(tmp_path):
    leads, statements, outcomes = synthetic(dated=True)  # (the nightly path: stored outcomes carry dates)
    cfg = ScoringConfig()
    first = score_leads(leads, statements, outcomes, cfg)
    assert first.stats["model"] == "trained" and first.stats["mode"] == "full"  # the model is deployed
    tonight, changed = night_two(leads, outcomes)
    full = score_leads(tonight, statements, outcomes, cfg)
    again = score_leads(tonight, statements, outcomes, cfg, base=as_base(first, tmp_path))
    assert again.stats["mode"] == "incremental", again.stats["reason"]
    assert again.stats["leads_scored"] == len(changed) == 11  # of 241 leads
    assert again.stats["leads_reused"] == len(tonight) - len(changed) and again.stats["leads_ranked"] == len(tonight)
    assert again.stats["model_from_base_run"] and not full.stats["model_from_base_run"]
    assert again.stats["reason"].startswith("11 of 241 leads new or changed since run base")
    assert_same_file(again.scores, full.scores, tmp_path)
    handed = as_base(first, tmp_path, "handed")  # as the nightly step hands it over: its rows go as taken
    over = score_leads(tonight, statements, outcomes, cfg, base=handed, base_handed_over=True)
    assert list(handed.rows.columns) == [] and over.stats["mode"] == "incremental"
    assert_same_file(over.scores, full.scores, tmp_path)
    pd.testing.assert_frame_equal(over.state, again.state)
    how = ("mode", "reason", "leads_scored", "leads_reused", "model_from_base_run")
    assert {k: v for k, v in again.stats.items() if k not in how} == {k: v for k, v in full.stats.items() if k not in how}
    # The state passed on is the full night's too, so a third night reuses it as well.
    assert again.state.attrs == full.state.attrs  # the fingerprint, the training set, the model
    pd.testing.assert_frame_equal(again.state.sort_values("lead_id", ignore_index=True),
                                  full.state.sort_values("lead_id", ignore_index=True))


def test_the_reused_scores_hold_one_string_per_distinct_text(tmp_path):
    """The base run's rows come back from its state file as Arrow text; as Python objects they
    were a string per row and value (at a million leads +1.7 GB, the step's peak on a second
    night). Repeated text (tiers, reasons, segments) is now one string, shared by its rows."""
    leads, statements, outcomes = synthetic()
    cfg = ScoringConfig()
    first = score_leads(leads, statements, outcomes, cfg)
    tonight, changed = night_two(leads, outcomes)
    again = score_leads(tonight, statements, outcomes, cfg, base=as_base(first, tmp_path))
    assert again.stats["mode"] == "incremental" and again.stats["leads_reused"] > 200
    reused = again.scores[~again.scores["lead_id"].isin(changed)]
    for column in ("customer_type", "channel", "reasons_for", "top_reasons"):
        values = reused[column].dropna()
        assert values.map(type).eq(str).all()
        distinct_objects = len({id(v) for v in values})
        assert distinct_objects == values.nunique() < len(values), column


def test_scoring_in_parts_gives_the_scores_and_state_of_one_pass(tmp_path, monkeypatch):
    """Leads are scored and explained PER_LEAD_ROWS at a time (at a million leads, all at once
    was ~2 GB of the step's peak): the same scores.parquet and state, full and incremental."""
    from leadrank.scoring import priority

    leads, statements, outcomes = synthetic()
    cfg = ScoringConfig()
    whole = score_leads(leads, statements, outcomes, cfg)
    tonight, _ = night_two(leads, outcomes)
    whole_again = score_leads(tonight, statements, outcomes, cfg, base=as_base(whole, tmp_path, "whole"))
    monkeypatch.setattr(priority, "PER_LEAD_ROWS", 7)
    parts = score_leads(leads, statements, outcomes, cfg)
    parts_again = score_leads(tonight, statements, outcomes, cfg, base=as_base(parts, tmp_path, "parts"))
    assert parts.stats["model"] == "trained" and parts_again.stats["mode"] == "incremental"
    assert parts_again.stats["leads_scored"] > 7  # two parts and more
    assert_same_file(parts.scores, whole.scores, tmp_path)
    assert_same_file(parts_again.scores, whole_again.scores, tmp_path)
    pd.testing.assert_frame_equal(parts.state, whole.state)
    pd.testing.assert_frame_equal(parts_again.state, whole_again.state)


def test_with_a_stored_model_and_changed_statements_the_scores_are_the_full_ones(tmp_path):
    leads, statements, outcomes = synthetic(seed=1)
    cfg = ScoringConfig()
    model = train_model(features_of(leads, statements, cfg), outcomes, cfg)
    assert model.pipeline is not None
    first = score_leads(leads, statements, outcomes, cfg, stored=model, stored_key="m1")
    tonight, changed = night_two(leads, outcomes)
    # One company's profit changes: the peer percentiles of its industry move, and with them
    # the scores of the leads whose statements they rank.
    statements = statements.copy()
    statements.loc[0, "net_profit"] = statements["net_profit"].max() * 2
    full = score_leads(tonight, statements, outcomes, cfg, stored=model, stored_key="m1")
    again = score_leads(tonight, statements, outcomes, cfg, stored=model, stored_key="m1", base=as_base(first, tmp_path))
    with_statements = int((full.scores["ratio_coverage"] > 0).sum())
    assert again.stats["mode"] == "incremental", again.stats["reason"]
    assert len(changed) < again.stats["leads_scored"] <= len(changed) + with_statements < len(tonight) / 2
    assert_same_file(again.scores, full.scores, tmp_path)


def test_without_a_model_only_changed_leads_are_scored(tmp_path):
    leads, statements, _ = synthetic(seed=2)
    cfg = ScoringConfig()
    first = score_leads(leads, statements, NO_OUTCOMES, cfg)
    assert first.stats["model"] == "cold_start"
    tonight, changed = night_two(leads, NO_OUTCOMES)
    again = score_leads(tonight, statements, NO_OUTCOMES, cfg, base=as_base(first, tmp_path))
    assert again.stats["mode"] == "incremental" and again.stats["leads_scored"] == len(changed)
    assert_same_file(again.scores, score_leads(tonight, statements, NO_OUTCOMES, cfg).scores, tmp_path)
    # Nothing changed at all: nothing is scored, the ranks are cut again over every lead.
    same = score_leads(leads, statements, NO_OUTCOMES, cfg, base=as_base(first, tmp_path))
    assert same.stats["mode"] == "incremental" and same.stats["leads_scored"] == 0
    assert_same_file(same.scores, first.scores, tmp_path)


def test_a_new_model_rescores_every_lead(tmp_path):
    leads, statements, outcomes = synthetic(seed=3)
    cfg = ScoringConfig()
    first = score_leads(leads, statements, outcomes, cfg)
    assert first.stats["model"] == "trained"
    # A new outcome: tonight's training set is another, and so is the model.
    more = pd.concat([outcomes, pd.DataFrame([{"lead_id": "L0001", "outcome": "won", "outcome_date": "2026-11-30",
                                               "owner": "t"}])], ignore_index=True)
    again = score_leads(leads, statements, more, cfg, base=as_base(first, tmp_path))
    assert again.stats["model"] == "trained" and not again.stats["model_from_base_run"]
    assert again.stats["mode"] == "full" and again.stats["reason"] == "the model changed"
    assert again.stats["leads_scored"] == len(leads)
    assert_same_file(again.scores, score_leads(leads, statements, more, cfg).scores, tmp_path)
    # A stored model with another name: every lead too.
    model = train_model(features_of(leads, statements, cfg), more, cfg)
    stored = score_leads(leads, statements, outcomes, cfg, stored=model, stored_key="m1")
    other = score_leads(leads, statements, outcomes, cfg, stored=model, stored_key="m2", base=as_base(stored, tmp_path))
    assert other.stats["mode"] == "full" and other.stats["reason"] == "the model changed"
    # ... and the same one, none.
    same = score_leads(leads, statements, outcomes, cfg, stored=model, stored_key="m1", base=as_base(stored, tmp_path))
    assert same.stats["mode"] == "incremental" and same.stats["leads_scored"] == 0


def test_a_handed_over_base_lets_its_rows_go_before_another_model_is_trained(tmp_path, monkeypatch):
    """New outcomes, and the base run scored with a model: tonight's model is another (or none),
    so no lead keeps its scores, and a handed-over base's rows go before the fit, not after it."""
    from leadrank.scoring import priority

    leads, statements, outcomes = synthetic(seed=3)
    cfg = ScoringConfig()
    base = as_base(score_leads(leads, statements, outcomes, cfg), tmp_path)
    more = pd.concat([outcomes, pd.DataFrame([{"lead_id": "L0001", "outcome": "won", "outcome_date": "2026-11-30",
                                               "owner": "t"}])], ignore_index=True)
    held_at_fit = []
    real_fit = priority.fit_model
    monkeypatch.setattr(priority, "fit_model", lambda *a: held_at_fit.append(len(base.rows)) or real_fit(*a))
    again = score_leads(leads, statements, more, cfg, base=base, base_handed_over=True)
    assert held_at_fit == [0]
    assert again.stats["mode"] == "full" and again.stats["reason"] == "the model changed"
    assert_same_file(again.scores, score_leads(leads, statements, more, cfg).scores, tmp_path)


def test_a_base_without_a_model_keeps_its_rows_when_tonight_has_none_either(tmp_path):
    """Too few outcomes both nights (a cold start), one more tonight: another training set, yet
    no model either night, so the leads that did not change keep the base run's scores."""
    leads, statements, outcomes = synthetic(seed=2)
    cfg = ScoringConfig()
    few = outcomes.head(3)
    first = score_leads(leads, statements, few, cfg)
    assert first.stats["model"] == "cold_start"
    tonight, changed = night_two(leads, outcomes.head(4))
    again = score_leads(tonight, statements, outcomes.head(4), cfg, base=as_base(first, tmp_path), base_handed_over=True)
    assert again.stats["model"] == "cold_start" and again.stats["mode"] == "incremental", again.stats["reason"]
    assert_same_file(again.scores, score_leads(tonight, statements, outcomes.head(4), cfg).scores, tmp_path)


def test_the_outcome_key_moves_with_the_outcomes_not_with_the_training_leads_features():
    leads, _, outcomes = synthetic(n=40, seed=5)
    cfg = ScoringConfig()
    key = outcome_key(leads, outcomes, cfg)
    moved = leads.assign(n_records=leads["n_records"] + 1, phone="0755-1")  # every training lead gained a record
    assert outcome_key(moved, outcomes.iloc[::-1], cfg) == key  # and the CRM gave its rows in another order
    flipped = outcomes.assign(outcome=outcomes["outcome"].where(outcomes.index != 0, "lost" if
                                                                outcomes.loc[0, "outcome"] == "won" else "won"))
    assert outcome_key(leads, flipped, cfg) != key
    assert outcome_key(leads, outcomes.assign(outcome_date="2026-12-01"), cfg) != key
    assert outcome_key(leads.iloc[2:], outcomes, cfg) != key  # a training lead gone (expired, merged away)
    assert outcome_key(leads, outcomes, ScoringConfig(min_outcomes_per_class=3)) != key


def test_a_night_with_the_same_outcomes_uses_the_deployed_nightly_model(tmp_path):
    """warehouse.models.nightly_model: the latest nightly version that was trained (or refused,
    or a cold start), when it was trained on tonight's outcome key and is young enough."""
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    upgrade(engine)
    leads, statements, outcomes = synthetic(seed=3)
    cfg = ScoringConfig()
    first = score_leads(leads, statements, outcomes, cfg)
    assert first.stats["model"] == "trained" and first.training
    key = outcome_key(leads, outcomes, cfg)
    assert models.nightly_model(engine, key, 8) is None  # nothing stored
    with engine.begin() as conn:
        models.insert_model(conn, model_id="n1-model", run_id=None, status="trained", metrics=first.model.metrics,
                            reason=None, source="nightly", artifact=models.dump(first.model)[0],
                            trained_on={"outcome_key": key, "training_hash": first.training})
        models.insert_model(conn, model_id="n2-model", run_id=None, status="reused", metrics=first.model.metrics,
                            reason=None, source="nightly", used_model_id="n1-model")
    stored = models.nightly_model(engine, key, 8)
    assert stored.model_id == "n1-model" and stored.training == first.training
    assert models.nightly_model(engine, "another", 8) is None and models.nightly_model(engine, key, 0) is None
    # Scored with it, a night keeps the leads' scores of the night that trained it (the same name
    # in the fingerprint): only the changed leads are scored.
    again = score_leads(leads, statements, outcomes, cfg, stored=stored.model, stored_key="n1-model@x",
                        trained=stored.training, base=as_base(first, tmp_path))
    assert again.stats["mode"] == "incremental" and again.stats["leads_scored"] == 0
    assert again.stats["model"] == "reused"
    assert_same_file(again.scores, first.scores, tmp_path)
    # A refusal is reused as one (no artifact): the priority stays the fit score.
    with engine.begin() as conn:
        models.insert_model(conn, model_id="n3-model", run_id=None, status="refused", metrics={"auc": 0.4},
                            reason="below the fit score", source="nightly", trained_at="2999-01-01T00:00:00+00:00",
                            trained_on={"outcome_key": key, "training_hash": "abc"})
    refused = models.nightly_model(engine, key, 1e9)
    assert refused.model.status == "refused" and refused.model.reason == "below the fit score"


def test_typical_values_that_move_rescore_every_lead(tmp_path):
    """A lead's reasons compare its values with every lead's typical (median) ones: when those
    move, every lead's reasons may change, so every lead is scored."""
    leads, statements, outcomes = synthetic(seed=4)
    cfg = ScoringConfig()
    model = train_model(features_of(leads, statements, cfg), outcomes, cfg)
    first = score_leads(leads, statements, outcomes, cfg, stored=model, stored_key="m1")
    tonight = leads.copy()
    unjudged = ~tonight["lead_id"].isin(outcomes["lead_id"])
    tonight.loc[unjudged, "n_records"] = 9  # the median of n_records moves
    again = score_leads(tonight, statements, outcomes, cfg, stored=model, stored_key="m1", base=as_base(first, tmp_path))
    assert again.stats["mode"] == "full" and "typical feature values" in again.stats["reason"]
    assert again.stats["leads_scored"] == len(tonight)
    assert_same_file(again.scores, score_leads(tonight, statements, outcomes, cfg, stored=model, stored_key="m1").scores,
                     tmp_path)


@pytest.mark.parametrize("part", ["code", "settings"])
def test_another_fingerprint_scores_every_lead(tmp_path, part):
    leads, statements, _ = synthetic(seed=5)
    cfg = ScoringConfig()
    base = as_base(score_leads(leads, statements, NO_OUTCOMES, cfg), tmp_path)
    if part == "code":
        base.meta["fingerprint"]["code"] = "an older release"
    else:
        cfg = ScoringConfig(ratio_weights={"net_margin": 2.0})
    again = score_leads(leads, statements, NO_OUTCOMES, cfg, base=base)
    assert again.stats["mode"] == "full" and again.stats["leads_scored"] == len(leads)
    assert again.stats["reason"] == incremental.WHAT_CHANGED[part]
    assert_same_file(again.scores, score_leads(leads, statements, NO_OUTCOMES, cfg).scores, tmp_path)


def test_ranks_break_ties_by_lead_id_whatever_the_row_order(tmp_path):
    leads, _, _ = synthetic(n=60, seed=6)
    cfg = ScoringConfig()
    first = score_leads(leads, NO_STATEMENTS, NO_OUTCOMES, cfg)
    shuffled = score_leads(leads.sample(frac=1, random_state=1), NO_STATEMENTS, NO_OUTCOMES, cfg)
    assert first.scores["priority"].duplicated().any()  # there are ties to break
    assert_same_file(shuffled.scores, first.scores, tmp_path)
    tied = first.scores.groupby("priority")["lead_id"].apply(list)
    assert all(ids == sorted(ids) for ids in tied)


# --- the step, on a warehouse -----------------------------------------------------------------------

def demo_copy(tmp_path):
    """The demo sources in a folder of their own, to edit between nights."""
    folder = tmp_path / "demo"
    shutil.copytree(DEMO_DIR, folder)
    return folder


def edit_exhibitors(folder) -> None:
    """Night 2's exhibitor list: one exhibitor moved, another has a new phone number. Neither has
    an outcome (every other demo lead has one, and a change to one of those changes the training
    set, and with it the model, which re-scores every lead), and neither change moves a typical
    feature value (35 leads are few: a lead more or less moves a median)."""
    for name, old, new in (("exhibitors-3.html", "Sveavägen 20, 111 57 Stockholm", "Sveavägen 44, 111 34 Stockholm"),
                           ("exhibitors-2.html", "+49 89 1234567", "+49 89 7654321")):
        page = folder / "expo" / name
        html = page.read_text(encoding="utf-8")
        assert old in html
        page.write_text(html.replace(old, new), encoding="utf-8")


def score_files(run_id: str) -> dict[str, bytes | object]:
    files = RunFiles(run_id)
    return {"scores": pq.read_table(files.stage("scores")), "outcomes": pq.read_table(files.stage("outcomes")),
            "score_rejects": pq.read_table(files.stage("score_rejects")),
            "model": {k: v for k, v in read_json(files.root / "model.json").items() if k != "artifact_path"}}


def test_the_scoring_state_is_read_a_column_at_a_time_when_asked(tmp_path, monkeypatch):
    """base_state.StateColumns reads the base run's scoring state a column at a time as score_leads
    asks for it (lead_id at once), its text made one Python string per distinct value: the
    columns are those of a whole read, and what is not asked for is never read."""
    from leadrank import base_state
    from leadrank.run_files import UnreadableFile, as_objects, write_frame
    from leadrank.scoring import incremental

    rows = pd.DataFrame({"lead_id": ["L1", "L2", "L3"], "input_hash": np.array([1, 2, 3], dtype=np.uint64),
                         "reasons_for": ["strong ratios", None, "strong ratios"], "score": [0.5, 0.25, 0.75]})
    path = tmp_path / "scores.parquet"
    write_frame(incremental.state_frame(rows.astype({"reasons_for": "str"}), {"fingerprint": "f"}), path)
    reads, real = [], pd.read_parquet
    monkeypatch.setattr(pd, "read_parquet", lambda *a, **k: reads.append(k.get("columns")) or real(*a, **k))
    got = base_state.StateColumns(path)
    assert reads == [["lead_id"]] and got.columns == list(rows.columns) and len(got) == 3 and not got.empty
    whole = as_objects(read_state(real(path))[0], only=["reasons_for"])
    for column in ("input_hash", "reasons_for", "lead_id", "score"):
        pd.testing.assert_series_equal(got[column], whole[column])
    assert reads == [["lead_id"], ["input_hash"], ["reasons_for"], ["score"]]  # (lead_id held, not read again)
    reasons = got["reasons_for"]
    assert reasons.dtype == object and reasons[0] is reasons[2]
    pd.testing.assert_series_equal(got.pop("lead_id"), whole["lead_id"])
    got["lead_id"]
    assert reads[-1] == ["lead_id"]  # popped: let go, read again if asked
    with pytest.raises(UnreadableFile, match="scores.parquet.nowhere"):
        got["nowhere"]


def test_a_state_column_that_cannot_be_read_scores_every_lead(tmp_path, monkeypatch):
    """The state is read as it is used: a column that fails then (the file damaged or replaced
    since the step began) costs a full scoring of the night, not the night."""
    from leadrank import base_state

    folder = demo_copy(tmp_path)
    config = str(folder / "sources.yaml")
    warehouse = f"sqlite:///{tmp_path / 'w.db'}"
    first = run_pipeline(config, warehouse)
    edit_exhibitors(folder)
    real = base_state.StateColumns._read

    def damaged(self, column):
        if column == "reasons_for":
            raise base_state.UnreadableFile(f"scores.parquet.{column}: damaged")
        return real(self, column)

    monkeypatch.setattr(base_state.StateColumns, "_read", damaged)
    second = run_pipeline(config, warehouse)
    assert second["scoring"]["mode"] == "full" and second["scoring"]["leads_scored"] == 35
    assert second["scoring"]["reason"] == (f"the scoring state of run {first['run_id']} cannot be read "
                                           "(scores.parquet.reasons_for: damaged)")


def test_the_step_reuses_its_base_runs_state_and_equals_a_full_rescore(tmp_path, warehouse_url):
    folder = demo_copy(tmp_path)
    config = str(folder / "sources.yaml")
    first = run_pipeline(config, warehouse_url)
    assert first["scoring"]["mode"] == "full" and first["scoring"]["reason"] == "no published run to build on"
    assert RunFiles(first["run_id"]).state("scores").exists()
    edit_exhibitors(folder)
    second = run_pipeline(config, warehouse_url)
    scoring = second["scoring"]
    assert scoring["mode"] == "incremental", scoring["reason"]
    # The outcomes did not change: the deployed version is used again, not trained again.
    assert scoring["model"] == "reused" and not scoring["model_from_base_run"]
    assert read_json(RunFiles(second["run_id"]).root / "model.json")["used_model_id"] == f"{first['run_id']}-model"
    assert scoring["leads_scored"] == 2 and scoring["leads_ranked"] == first["scoring"]["leads_ranked"] == 35
    assert scoring["reason"].endswith(f"since run {first['run_id']}")
    with make_engine(warehouse_url).connect() as conn:
        base = conn.execute(text("SELECT base_run_id FROM pipeline_runs WHERE run_id = :r"),
                            {"r": second["run_id"]}).scalar()
    assert base == first["run_id"]
    reused = score_files(second["run_id"])
    # The same night scored in full, as when the base run left no state: the same files.
    RunFiles(first["run_id"]).state("scores").unlink()
    full = pipeline.score_step(second["run_id"], warehouse_url)
    assert full["mode"] == "full" and full["reason"] == f"run {first['run_id']} left no scoring state"
    assert full["leads_scored"] == scoring["leads_ranked"] and not full["model_from_base_run"]
    again = score_files(second["run_id"])
    assert again["model"] == reused["model"]
    for name in ("scores", "outcomes", "score_rejects"):
        assert again[name].equals(reused[name], check_metadata=True), name


def test_an_unreadable_state_scores_every_lead(tmp_path, warehouse_url):
    folder = demo_copy(tmp_path)
    config = str(folder / "sources.yaml")
    first = run_pipeline(config, warehouse_url)
    RunFiles(first["run_id"]).state("scores").write_bytes(b"not parquet")
    second = run_pipeline(config, warehouse_url)
    assert second["scoring"]["mode"] == "full"
    assert second["scoring"]["reason"].startswith(f"the scoring state of run {first['run_id']} cannot be read")


@pytest.mark.parametrize("part", ["code", "settings"])
def test_a_state_made_by_other_code_or_settings_is_not_read(tmp_path, monkeypatch, part):
    """The first night after an upgrade (or a change of the scoring settings) can reuse no lead's
    scores: only the fingerprint in the base run's state file's metadata is read, not its rows (at
    a million leads they were held through the full night's training and scoring: that night's
    score step peaked 2,629-2,640 MB, 2,094 MB without them). The control, with nothing changed,
    reads them (test_the_step_reuses_its_base_runs_state_and_equals_a_full_rescore)."""
    from leadrank import base_state

    folder = demo_copy(tmp_path)
    config = folder / "sources.yaml"
    warehouse = f"sqlite:///{tmp_path / 'w.db'}"
    run_pipeline(str(config), warehouse)
    if part == "code":
        monkeypatch.setattr(incremental, "code_fingerprint", lambda: "a newer release")
    else:
        config.write_text(config.read_text(encoding="utf-8") + "\nscoring:\n  ratio_weights:\n    net_margin: 2.0\n",
                          encoding="utf-8")
    read_rows = []
    real = base_state.StateColumns.__init__
    monkeypatch.setattr(base_state.StateColumns, "__init__", lambda self, path: read_rows.append(path) or real(self, path))
    second = run_pipeline(str(config), warehouse)
    assert second["scoring"]["mode"] == "full" and second["scoring"]["reason"] == incremental.WHAT_CHANGED[part]
    assert second["scoring"]["leads_scored"] == second["scoring"]["leads_ranked"] == 35
    assert read_rows == []


def test_the_marts_of_an_incremental_night_are_those_of_a_full_one(tmp_path, monkeypatch):
    """Two warehouses, the same two nights (same run ids): in one the second night reuses the
    first's state, in the other it scores every lead. Every mart is the same, row by row."""
    folder = demo_copy(tmp_path)
    config = str(folder / "sources.yaml")
    original = {page: page.read_text(encoding="utf-8") for page in (folder / "expo").glob("*.html")}
    found = {}
    for way in ("incremental", "full"):
        monkeypatch.setenv("LEADRANK_DATA_DIR", str(tmp_path / way))
        for page, html in original.items():
            page.write_text(html, encoding="utf-8")
        url = f"sqlite:///{tmp_path / way}.db"
        run_pipeline(config, url, run_id="night-1")
        if way == "full":
            RunFiles("night-1").state("scores").unlink()
        edit_exhibitors(folder)
        night = run_pipeline(config, url, run_id="night-2")
        assert night["scoring"]["mode"] == way
        found[way] = marts(make_engine(url))
    when = ("first_seen_at", "last_seen_at", "published_at", "started_at", "finished_at", "first_seen", "prev_published_at")
    same_marts(found["incremental"], found["full"], ignore=when)


def test_the_step_lets_the_base_runs_state_go_before_the_scores_are_assembled(tmp_path, monkeypatch):
    """The score step reads the base run's state with its text as objects (one string per
    distinct value), hands it over, and score_leads drops it once it has taken the rows it
    reuses: at a million leads those rows were alive through the ranking and the state's copy,
    and their text was converted at the step's peak on a second night (4.1 GB; 3.4 GB now)."""
    import weakref

    from leadrank import base_state
    from leadrank.scoring import incremental

    folder = demo_copy(tmp_path)
    config = str(folder / "sources.yaml")
    warehouse = f"sqlite:///{tmp_path / 'w.db'}"
    run_pipeline(config, warehouse)
    edit_exhibitors(folder)
    real_base, real_state = base_state.scoring_base, incremental.state_frame
    seen: dict[str, object] = {}

    def scoring_base(*args):
        base, why = real_base(*args)
        seen["rows"] = weakref.ref(base.rows)
        # Its text read as objects while the step holds little else, not at the step's peak.
        seen["text"] = {str(base.rows[c].dtype) for c in ("lead_id", "reasons_for", "customer_type")}
        return base, why

    def state_frame(*args, **kwargs):
        seen["alive"] = seen["rows"]() is not None
        return real_state(*args, **kwargs)

    monkeypatch.setattr(base_state, "scoring_base", scoring_base)
    monkeypatch.setattr(incremental, "state_frame", state_frame)
    second = run_pipeline(config, warehouse)
    assert second["scoring"]["mode"] == "incremental", second["scoring"]["reason"]
    assert seen["alive"] is False
    assert seen["text"] == {"object"}


def test_the_step_lets_the_leads_their_index_and_ratios_go_before_the_per_lead_work(tmp_path, monkeypatch):
    """The score step hands its leads and their index over, and score_leads lets them and the
    ratios go (and keeps of the features only what the per-lead work reads) once the features are
    made: at a million leads they were ~0.9 GB under the per-lead work, the step's peak in the
    night's process (bench/README.md, issue 19's eleventh round)."""
    import weakref

    from leadrank import pipeline
    from leadrank.scoring import priority

    folder = demo_copy(tmp_path)
    warehouse = f"sqlite:///{tmp_path / 'w.db'}"
    real_index, real_ratios, real_per_lead = pipeline.LeadIndex, priority.lead_ratios, priority._per_lead
    made: dict[str, weakref.ref] = {}
    seen: list[tuple[list[str], list[str]]] = []

    def lead_index(leads):
        made["leads"] = weakref.ref(leads)
        index = real_index(leads)
        made["index"] = weakref.ref(index)
        return index

    def lead_ratios(*args, **kwargs):
        ratios = real_ratios(*args, **kwargs)
        made["ratios"] = weakref.ref(ratios)
        return ratios

    def per_lead(features, *args, **kwargs):
        seen.append(([name for name, ref in made.items() if ref() is not None], list(features.columns)))
        return real_per_lead(features, *args, **kwargs)

    monkeypatch.setattr(pipeline, "LeadIndex", lead_index)
    monkeypatch.setattr(priority, "lead_ratios", lead_ratios)
    monkeypatch.setattr(priority, "_per_lead", per_lead)
    night = run_pipeline(str(folder / "sources.yaml"), warehouse)
    assert night["scoring"]["model"] == "trained"  # the model's inputs are among the features kept
    assert set(made) == {"leads", "index", "ratios"} and seen
    alive, columns = seen[0]
    assert alive == []
    assert "company_name" not in columns and "email" not in columns
    assert {"lead_id", "segment_score", "risk_flags"} <= set(columns)
