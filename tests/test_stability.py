"""Lead IDs through the warehouse (SQLite and PostgreSQL): run 1 on A, run 2 on A plus B keeps
every ID of run 1, run 3 on A plus B changes nothing, and a merge is recorded with the absorbed
ID resolving to the survivor."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from leadrank import night as nightly
from leadrank import pipeline
from leadrank.config import ResolutionConfig, load_config
from leadrank.contracts import EXTRACTED
from leadrank.run_files import RunFiles, write_frame
from leadrank.transform.golden import golden_records, survivorship_positions
from leadrank.transform.normalise import normalise_records
from leadrank.transform.resolve import resolve
from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.read import resolve_lead_ids
from tests.helpers import marts, same_marts


def records(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows).reindex(columns=EXTRACTED).astype(object)
    frame = frame.where(frame.notna(), None)
    frame["source_kind"] = frame["source"].map({"expo": "exhibition", "assoc": "association"})
    frame["fetched_at"] = "2026-01-01T00:00:00+00:00"
    return frame


A = [  # two records of 华强 that nothing links yet, and two other companies
    {"record_key": "a1", "source": "assoc", "company_name": "深圳市华强电子有限公司", "phone": "0755-83216688"},
    {"record_key": "a2", "source": "expo", "company_name": "HQ Electronics", "website": "www.huaqiang.com.cn"},
    {"record_key": "a3", "source": "assoc", "company_name": "上海博达软件有限公司", "uscc": "91350100M000100Y43",
     "phone": "021-62345678"},
    {"record_key": "a4", "source": "expo", "company_name": "Bosch Rexroth AG", "website": "https://www.boschrexroth.com"},
]
B = [  # a new company, a new spelling of 博达, and the record that shows a1 and a2 are one company
    {"record_key": "b1", "source": "expo", "company_name": "杭州新源纺织有限公司", "phone": "0571-87654321"},
    {"record_key": "b2", "source": "expo", "company_name": "博达软件(上海)有限公司", "phone": "+86 21 6234 5678"},
    {"record_key": "b3", "source": "expo", "company_name": "华强电子", "phone": "0755 8321 6688",
     "website": "http://huaqiang.com.cn/en"},
]


def night(config: str, warehouse: str, rows: list[dict], run_id: str) -> dict:
    """A night on `rows` as normalised records: begin, then the declared steps from dedupe on,
    but reconcile (nothing was extracted)."""
    pipeline.begin(config, run_id, warehouse)
    write_frame(normalise_records(records(rows)), RunFiles(run_id).stage("normalised"))
    tonight = nightly.Night(run_id, warehouse, (), {"run_id": run_id})
    done = nightly.run_steps(tonight, "dedupe", "score")
    publish = nightly.step("publish")
    return {**done, publish.summary_key: publish.run(tonight)}


def ids(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT record_key, lead_id FROM lead_records")).all())


def test_ids_stable_through_the_warehouse_and_merges_resolve(warehouse_url, demo_config):
    config = str(demo_config)
    engine = make_engine(warehouse_url)

    first = night(config, warehouse_url, A, "20260101T000000Z-aaaaaa")
    ids_1 = ids(engine)
    assert first["leads"]["new"] == 4 and len(set(ids_1.values())) == 4

    second = night(config, warehouse_url, A + B, "20260102T000000Z-bbbbbb")
    ids_2 = ids(engine)
    assert second["resolution"]["merges"] == 1
    survivor = ids_2["a1"]
    absorbed = ({ids_1["a1"], ids_1["a2"]} - {survivor}).pop()
    # Every run-1 ID is still there: unchanged, or the survivor of the one recorded merge.
    assert {k: v for k, v in ids_1.items() if k not in ("a1", "a2")} == {k: ids_2[k] for k in ("a3", "a4")}
    assert ids_2["a1"] == ids_2["a2"] == ids_2["b3"] and survivor in {ids_1["a1"], ids_1["a2"]}
    assert ids_2["b2"] == ids_1["a3"]  # a new spelling joins the existing lead
    with engine.connect() as conn:
        events = conn.execute(text("SELECT kind, lead_id, other_lead_id, evidence FROM lead_events")).all()
        status = dict(conn.execute(text("SELECT lead_id, status FROM leads")).all())
    assert [(e[0], e[1], e[2]) for e in events] == [("merge", survivor, absorbed)]
    assert events[0][3]  # the merge says which evidence joined the records
    assert status[absorbed] == "merged"
    assert list(resolve_lead_ids(engine, pd.Series([absorbed, survivor, ids_1["a4"]]))) == [survivor, survivor,
                                                                                          ids_1["a4"]]

    third = night(config, warehouse_url, A + B, "20260103T000000Z-cccccc")
    assert ids(engine) == ids_2
    assert third["resolution"]["merges"] == 0 and third["resolution"]["splits"] == 0
    assert third["leads"]["new"] == 0 and third["leads"]["updated"] == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM lead_events")).scalar() == 1


def fair_records(fetched: list[str]) -> pd.DataFrame:
    """One company listed by three fairs under different spellings and websites, fetched at the
    given times (the order the extraction threads happened to finish in), and another company."""
    frame = records([
        {"record_key": "f1", "source": "expo", "company_name": "Laulhere", "website": "http://www.laulhere.com",
         "country": "France"},
        {"record_key": "f2", "source": "expo-2021", "company_name": "LAULHERE",
         "website": "https://www.laulhere.com/en/", "country": "France"},
        {"record_key": "f3", "source": "expo-2023", "company_name": "Laulhere SAS", "website": "laulhere.com",
         "country": "France", "products": "Berets"},
        {"record_key": "f4", "source": "expo", "company_name": "Habia Cable", "website": "http://www.habia.com"},
    ])
    frame["source_kind"] = "exhibition"
    frame["fetched_at"] = fetched
    return frame


def golden_of(frame: pd.DataFrame) -> pd.DataFrame:
    result = resolve(normalise_records(frame), ResolutionConfig())
    leads = golden_records(result.records)
    return leads.drop(columns=["first_fetched_at", "last_fetched_at"]).sort_values("lead_id").reset_index(drop=True)


def test_golden_records_ignore_row_order_and_fetch_times():
    """The same records in another order, fetched in another order, give the same golden
    records: which source's value wins never depends on which thread finished first."""
    first = golden_of(fair_records(["2026-01-01T00:00:01+00:00", "2026-01-01T00:00:02+00:00",
                                    "2026-01-01T00:00:03+00:00", "2026-01-01T00:00:01+00:00"]))
    assert len(first) == 2 and first["n_records"].max() == 3
    for seed in range(4):
        shuffled = fair_records(["2026-01-01T00:00:03+00:00", "2026-01-01T00:00:01+00:00",
                                 "2026-01-01T00:00:02+00:00", "2026-01-01T00:00:03+00:00"])
        shuffled = shuffled.sample(frac=1, random_state=seed).reset_index(drop=True)
        pd.testing.assert_frame_equal(golden_of(shuffled), first)


def test_survivorship_order_is_trust_then_completeness_then_recency_then_key():
    base = {"source_kind": "exhibition", "lead_id": "L1", "website": None, "phone": None, "email": None,
            "address": None, "uscc": None}
    frame = pd.DataFrame([
        {**base, "record_key": "k5", "source": "b", "nights_unlisted": 0},
        {**base, "record_key": "k4", "source": "a", "nights_unlisted": 0},                   # tie-break: source
        {**base, "record_key": "k3", "source": "z", "nights_unlisted": 0, "phone": "1"},     # completeness
        {**base, "record_key": "k2", "source": "z", "nights_unlisted": 2, "phone": "1", "email": "e"},
        {**base, "record_key": "k1", "source": "y", "nights_unlisted": 1, "phone": "1"},     # recency below k3
        {**base, "record_key": "k0", "source": "z", "nights_unlisted": 2, "source_kind": "association"},  # trust
    ])
    def order(trust: dict[str, int]) -> list[str]:
        return list(frame["record_key"].take(survivorship_positions(frame, trust)[0]))

    assert order({}) == ["k0", "k2", "k3", "k1", "k4", "k5"]
    assert order({"a": 9})[0] == "k4"  # the config's trust comes first


REALDATA = Path(os.environ.get("LEADRANK_REALDATA", Path(__file__).resolve().parents[1].parent / "shared" / "realdata"))
REALDATA_CONFIG = str(Path(__file__).resolve().parents[1] / "examples" / "realdata.yaml")


def night_in_order(config: str, warehouse: str, order: list[str]) -> dict:
    """One night through the pipeline steps with the sources extracted in `order` (as threads
    may finish in any order), then published."""
    run_id = pipeline.new_run_id()
    sources = pipeline.begin(config, run_id, warehouse)["sources"]
    for name in order:
        pipeline.extract_step(run_id, name)
    tonight = nightly.Night(run_id, warehouse, tuple(sources), {"run_id": run_id})
    return nightly.run_steps(tonight, nightly.AFTER_EXTRACT[0].name, "publish")["leads"]


@pytest.mark.skipif(not (REALDATA / "exhibitions").is_dir(), reason=f"no real data at {REALDATA}")
def test_two_runs_on_the_real_data_give_the_same_marts(tmp_path, monkeypatch):
    """examples/realdata.yaml twice, the second night extracting the sources in reverse order:
    no lead updated, none moved, and every mart row the same but for what names the night."""
    monkeypatch.setenv("LEADRANK_REALDATA", str(REALDATA.resolve()))
    warehouse = f"sqlite:///{tmp_path / 'real.db'}"
    names = [s.name for s in load_config(REALDATA_CONFIG).sources if s.enabled]
    night_in_order(REALDATA_CONFIG, warehouse, names)
    engine = make_engine(warehouse)
    before = marts(engine)
    counts = night_in_order(REALDATA_CONFIG, warehouse, names[::-1])
    now = marts(engine)
    assert counts["new"] == 0 and counts["updated"] == 0 and counts["dropped"] == 0
    ranked = now["ranked_leads"]
    assert len(ranked) > 5000 and (ranked["movement"] == "unchanged").all() and (ranked["prev_rank"] == ranked["rank"]).all()
    now.pop("mart_runs"), before.pop("mart_runs")
    same_marts(now, before, ignore=("run_id", "last_seen_at", "movement", "prev_rank", "prev_tier", "new_leads"))


@pytest.mark.parametrize("dtype", [object, "str", "category"])
def test_joined_values_per_lead_are_the_sorted_distinct_ones(dtype):
    """A lead's sources (and source kinds) are its distinct values in text order, ';'-joined,
    whatever the column's dtype and the rows' order; missing values and records without a lead
    are left out (what the pandas sort, drop_duplicates and join it replaced gave)."""
    from leadrank.transform.golden import _joined, _text_ranks

    rng = np.random.default_rng(5)
    n = 3000
    frame = pd.DataFrame({"lead": rng.integers(-1, 700, n),
                          "source": rng.choice(["expo", "Assoc", "b-web", "z", "展会", None], n)}).astype({"source": dtype})
    values = frame.astype({"source": object}).dropna()
    values = values[values["lead"] >= 0].drop_duplicates()
    expected = {lead: ";".join(sorted(group)) for lead, group in values.groupby("lead")["source"]}

    def joined(rows: pd.DataFrame) -> dict[int, str]:
        text, count = _joined(rows["lead"].to_numpy(), *_text_ranks(rows["source"]), 700)
        assert [len(t.split(";")) if t else 0 for t in text] == list(count)
        return {lead: t for lead, t in enumerate(text) if t is not None}

    assert joined(frame) == expected
    assert joined(frame.sample(frac=1, random_state=1)) == expected
    assert joined(frame.iloc[:0]) == {}
