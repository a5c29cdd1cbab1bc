"""Incremental resolution gives exactly what a full one does (leadrank.transform.incremental):
the same records with the same leads and evidence, the same merges and splits, the same golden
records, for far fewer compared pairs; and state it cannot trust is never used."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from leadrank.config import ResolutionConfig
from leadrank.contracts import EXTRACTED, NORMALISED, column_as_objects
from leadrank.transform.incremental import effective_country_bits
from leadrank.transform.matching import STAT_COLUMNS, population_stats
from leadrank.transform.normalise import normalise_records
from leadrank.transform.resolve import resolve

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
from generate import generate, uscc_check  # noqa: E402

FIELDS = ["company_name", "website", "phone", "email", "address", "country", "province", "city", "uscc"]
# Small blocks, so that a few thousand records have many sub-blocked (sorted-neighbourhood) blocks.
SMALL_BLOCKS = ResolutionConfig(max_block_size=3, max_token_block=5, block_window=2)


def _uscc(seed: int) -> str:
    body = f"91440300{seed:09d}"
    return body + uscc_check(body)


def _extracted(frame: pd.DataFrame, run_id: str) -> pd.DataFrame:
    out = pd.DataFrame({c: None for c in EXTRACTED}, index=frame.index).astype(object)
    out[FIELDS] = frame[FIELDS].astype(object).where(frame[FIELDS].notna(), None)
    out["run_id"], out["source"], out["source_kind"] = run_id, "src-" + frame["source"].astype(str), "exhibition"
    out["record_key"], out["fetched_at"] = frame["key"].to_numpy(), f"2026-11-0{run_id[-1]}T00:00:00+00:00"
    return out.reset_index(drop=True)


def _crafted() -> pd.DataFrame:
    """Records that make a merge and a split on the second night (see `_second_night`)."""
    rows = [
        # lead A: one 统一社会信用代码; lead B: one mailbox under another name (A and B differ)
        ("a1", "Quorvane Haldor", None, None, None, _uscc(1)),
        ("a2", "Quorvane Haldor", None, None, None, _uscc(1)),
        ("b1", "Tessaly Metrology", None, None, "sales@tessaly-metro.de", None),
        ("b2", "Tessaly Metrology", None, None, "sales@tessaly-metro.de", None),
        # lead S: one phone and name, until s2 changes both
        ("s1", "Brindle Hydraulics", None, "+49 30 2345 6789", None, None),
        ("s2", "Brindle Hydraulics", None, "+49 30 2345 6789", None, None),
        ("s3", "Brindle Hydraulics", None, "+49 30 2345 6789", None, None),
    ]
    # A sub-blocked block (one name, seven records, in website order): v1 meets v2 and v3 (window 2)
    # and joins them (no website against one), v2 and v3 differ (two websites).
    rows += [(f"v{i}", "Vantor GmbH", site, None, None, None)
             for i, site in enumerate([None, "b.com", "c.com", "d.com", "e.com", "f.com", "g.com"], start=1)]
    frame = pd.DataFrame(rows, columns=["key", "company_name", "website", "phone", "email", "uscc"])
    frame["address"], frame["province"], frame["city"], frame["country"] = None, None, None, "DE"
    frame.loc[frame["key"].str.startswith("v"), "country"] = None  # no country points: two websites differ
    frame["source"], frame["true_id"] = "crafted", frame["key"].str[0]
    return frame


def _first_night(companies: int = 1500) -> pd.DataFrame:
    frame = generate(companies, 11)
    frame["key"] = [f"r{i:05d}" for i in range(len(frame))]
    # A quarter of the records from Germany: its share sits just under a half-bit step (2 bits).
    rng = random.Random(3)
    germans = rng.sample(range(len(frame)), int(len(frame) * 0.245))
    frame.loc[germans, "country"] = "DE"
    return pd.concat([frame, _crafted()], ignore_index=True)


def _second_night(first: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Changed, new, gone records, namesakes, a bridge that merges A and B, a change that splits S,
    and enough new German records to move Germany across the step. Returns (night, gone keys)."""
    from run import change_record

    rng = random.Random(9)
    night = first.copy()
    plain = [i for i in range(len(first)) if first.loc[i, "source"] != "crafted"]
    changed = rng.sample(plain, len(plain) // 40)
    night.loc[changed, FIELDS] = pd.DataFrame([change_record(rng, first.loc[i].to_dict()) for i in changed],
                                              index=changed)[FIELDS]
    s2 = night.index[night["key"] == "s2"][0]
    night.loc[s2, ["company_name", "phone"]] = ["Orlick Pneumatics", "+49 89 7654 3210"]
    newcomers = generate(60, 23).head(60).copy()  # other companies, some of them namesakes
    newcomers["key"] = [f"n{i:04d}" for i in range(len(newcomers))]
    newcomers["country"] = "DE"
    # Namesakes: five newcomers carry the names of companies already known (other cities, phones).
    newcomers.loc[newcomers.index[:5], "company_name"] = first.loc[rng.sample(plain, 5), "company_name"].to_numpy()
    # x1 sorts between v1 and v2 and matches no one (another legal form): v1 no longer meets v3,
    # which leaves its lead although none of v1, v2, v3 changed.
    wedge = pd.DataFrame([{"key": "x1", "company_name": "Vantor s.r.o.", "website": "a.com", "phone": None,
                           "email": None, "uscc": None, "address": None, "province": None, "city": None,
                           "country": None, "source": "crafted", "true_id": "x"}])
    bridge = pd.DataFrame([{"key": "c1", "company_name": "Tessaly Metrology", "website": None, "phone": None,
                            "email": "sales@tessaly-metro.de", "uscc": _uscc(1), "address": None, "province": None,
                            "city": None, "country": "DE", "source": "crafted", "true_id": "a"}])
    gone = rng.sample([first.loc[i, "key"] for i in plain], 10)
    night = night[~night["key"].isin(gone)]
    return pd.concat([night, newcomers, bridge, wedge], ignore_index=True), gone


def _sorted(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    return frame.sort_values(by, ignore_index=True)


def _same(full, incremental) -> None:
    # (text as the step writes it: the incremental mode leaves Arrow text Arrow, a full one compares
    # every record as Python strings)
    pd.testing.assert_frame_equal(_as_stored(_sorted(incremental.records, ["record_key"])),
                                  _as_stored(_sorted(full.records, ["record_key"])))
    columns = list(full.events.columns)
    pd.testing.assert_frame_equal(_sorted(incremental.events, columns), _sorted(full.events, columns))
    # The states as the next night reads them (the plan keeps its keys as Arrow text, a full
    # run as Python objects: parquet stores both as text).
    for part in ("records", "words"):
        pd.testing.assert_frame_equal(_as_stored(getattr(incremental.state, part)),
                                      _as_stored(getattr(full.state, part)))


def _as_stored(frame: pd.DataFrame) -> pd.DataFrame:
    """Through Arrow as parquet stores it, text as Python objects (a column of no values at all
    is stored as nulls from objects, as text from Arrow)."""
    stored = pa.Table.from_pandas(frame, preserve_index=False).to_pandas()
    return stored.apply(lambda c: column_as_objects(c) if pd.api.types.is_string_dtype(c.dtype) else c)


def _night(frame: pd.DataFrame, run_id: str) -> pd.DataFrame:
    return normalise_records(_extracted(frame, run_id)[EXTRACTED])


def test_incremental_nights_give_the_full_resolution_for_far_fewer_pairs():
    cfg = SMALL_BLOCKS
    first = _first_night()
    one = resolve(_night(first, "run1"), cfg)
    assert one.stats["mode"] == "full" and one.state is not None
    second, gone = _second_night(first)
    stored = one.records[~one.records["record_key"].isin(gone)]  # gone: no longer in the warehouse
    previous = stored[[*NORMALISED, "lead_id"]]
    taken = set(one.records["lead_id"])
    first_seen = {lead: "2026-11-01" for lead in taken}
    tonight = _night(second, "run2")
    args = {"previous": previous, "taken_ids": taken, "lead_first_seen": first_seen}
    full = resolve(tonight, cfg, **args)
    incremental = resolve(tonight, cfg, **args, base=one.state)
    assert (full.stats["mode"], incremental.stats["mode"]) == ("full", "incremental")
    _same(full, incremental)
    # The fixture does what it says: a merge, a split, large blocks, Germany across a step.
    kinds = set(full.events["kind"])
    assert {"merge", "split"} <= kinds, full.events
    lead = full.records.set_index("record_key")["lead_id"]
    before = one.records.set_index("record_key")["lead_id"]
    assert before["v1"] == before["v3"] and lead["v1"] != lead["v3"]  # the window moved
    new = tonight[tonight["record_key"].str.startswith("n")]
    assert new["name_core"].isin(one.records["name_core"]).sum() >= 5
    state = full.state.records
    assert max(state[c].value_counts().max() for c in ("phone", "site", "domain", "core")) > cfg.max_block_size
    assert full.state.words["word"].value_counts().max() > cfg.max_token_block
    keys = [one.state.records, full.state.records]
    de = [effective_country_bits(k.loc[k["country"] == "DE", "country_bits"].to_numpy()[:1], cfg)[0] for k in keys]
    assert de[0] != de[1]
    # Germany's records are re-resolved (its step moved), the rest only around what changed.
    assert incremental.stats["touched"] >= (state["country"] == "DE").sum()

    # A third night on the incremental run's state (the state carries over): a record changed back,
    # two no longer listed, and the wedge x1 renamed out of the Vantor blocks (the window it moved
    # moves back, though v1 and v3 are unchanged). Far fewer pairs are compared than in a full resolution.
    third = second[~second["key"].isin(["n0001", "n0002"])].copy()
    third.loc[third["key"] == "s2", ["company_name", "phone"]] = ["Brindle Hydraulics", "+49 30 2345 6789"]
    third.loc[third["key"] == "x1", "company_name"] = "Zelmar s.r.o."
    stored = full.records[[*NORMALISED, "lead_id"]]
    args = {"previous": stored, "taken_ids": taken | set(full.records["lead_id"]), "lead_first_seen": first_seen}
    tonight = _night(third, "run3")
    full, incremental = resolve(tonight, cfg, **args), resolve(tonight, cfg, **args, base=incremental.state)
    _same(full, incremental)
    assert "merge" in set(full.events["kind"])  # S whole again
    lead = full.records.set_index("record_key")["lead_id"]
    assert lead["v1"] == lead["v3"]  # the window moved back
    assert incremental.stats["candidate_pairs"] < full.stats["candidate_pairs"] / 20
    assert incremental.stats["re_resolved"] < len(full.records) / 20


def _two_nights():
    """A first night resolved whole, and the second night's records with what resolve takes."""
    cfg = ResolutionConfig()
    first = _first_night(300)
    one = resolve(_night(first, "run1"), cfg)
    second, gone = _second_night(first)
    stored = one.records[~one.records["record_key"].isin(gone)]
    args = {"previous": stored[[*NORMALISED, "lead_id"]], "taken_ids": set(one.records["lead_id"]),
            "lead_first_seen": dict.fromkeys(one.records["lead_id"], "2026-11-01")}
    return cfg, one, _night(second, "run2"), args


def test_a_base_state_handed_over_is_emptied_once_read_with_the_same_result():
    """The nightly step hands the base run's state over (`base_handed_over`): its rows go once
    resolution has read them (~1 GB at 1.4M records, at the second night's peak); a caller that
    does not hand it over keeps it whole."""
    cfg, one, tonight, args = _two_nights()
    kept = resolve(tonight, cfg, **args, base=one.state)
    assert len(one.state.records) == len(one.records) and len(one.state.words)
    handed = resolve(tonight, cfg, **args, base=one.state, base_handed_over=True)
    assert (kept.stats["mode"], handed.stats["mode"]) == ("incremental", "incremental")
    assert one.state.records.empty and one.state.words.empty
    _same(kept, handed)


def test_a_handed_over_state_lets_its_keys_go_before_the_blocks_are_compared(monkeypatch):
    """The plan makes tonight's blocking keys and name words from the base run's, then keeps of
    those only the changed and gone records' (incremental.Changed): a state handed over has its
    keys and words let go before the blocks are compared (~0.3 GB at 1.4M records), and the
    leads are the same."""
    from leadrank.transform import incremental
    from leadrank.transform.matching import KEY_COLUMNS

    cfg, one, tonight, args = _two_nights()
    kept = resolve(tonight, cfg, **args, base=one.state)
    state = one.state
    seen, real = [], incremental.populations

    def populations(*given, **named):
        seen.append(({*KEY_COLUMNS} & set(state.records.columns), len(state.words)))
        return real(*given, **named)

    monkeypatch.setattr(incremental, "populations", populations)
    handed = resolve(tonight, cfg, **args, base=state, base_handed_over=True)
    assert seen == [(set(), 0)]
    _same(kept, handed)


def test_statistics_are_per_key_and_country_bits_move_in_half_bit_steps():
    keys = pd.DataFrame({"uscc": None, "domain": ["a.com", "a.com", "b.com", None], "phone": None,
                         "phone_local": None, "email": None, "site": None, "core": ["x", "y", "z", "w"], "alt": None,
                         "translit_key": None, "city": None, "country": ["CN", "CN", "CN", "DE"], "form": None,
                         "zh": False})
    stats = population_stats(keys.astype(object).assign(zh=False), limit=1)
    assert stats["domain_share"].tolist() == [0.5, 0.5, 1.0, 1.0]
    # CN: 3 of 4 (0.415 bits → 0), DE: 1 of 4 (2 bits)
    assert stats["country_bits"].tolist() == [0.0, 0.0, 0.0, 2.0]
    assert set(np.unique(population_stats(pd.concat([keys] * 3 + [keys.iloc[[3]]], ignore_index=True)
                                          .astype(object).assign(zh=False))["country_bits"]) % 0.5) == {0.0}


def _random_keys(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Keys of few values each, so that the statistics' groups are shared by many records."""
    def pick(prefix: str, values: int, missing: float = 0.3) -> list:
        return [None if rng.random() < missing else f"{prefix}{rng.integers(values)}" for _ in range(n)]
    return pd.DataFrame({"uscc": None, "domain": pick("d", 15), "phone": pick("p", 15), "phone_local": None,
                         "email": None, "site": pick("s", 10), "core": pick("c", 30, 0.05), "alt": None,
                         "translit_key": pick("t", 20), "city": pick("y", 5), "country": pick("n", 4, 0.1),
                         "form": pick("f", 3), "zh": rng.random(n) < 0.5})


def _no_words() -> pd.DataFrame:
    return pd.DataFrame({"row": np.empty(0, np.int64), "word": []})


def test_statistics_kept_up_from_the_base_runs_are_those_of_the_whole_population():
    """The incremental plan recomputes a statistic only for the records carrying a key that a
    dirty, changed or gone record carries: over random nights (records gone, changed and new,
    keys of few values, so that groups are shared) that gives what the whole population does."""
    from leadrank.transform.incremental import Changed, kept_up_stats

    for seed in range(8):
        rng = np.random.default_rng(seed)
        then = _random_keys(rng, 300)
        old = pd.concat([then, population_stats(then, limit=2)], axis=1)
        stays = rng.random(len(then)) >= 0.1  # 10 % gone
        tonight = pd.concat([then[stays], _random_keys(rng, 20)], ignore_index=True)  # and 20 new
        base = np.r_[np.flatnonzero(stays), np.full(20, -1)]
        edited = np.flatnonzero(base >= 0)[rng.random(int(stays.sum())) < 0.1]  # 10 % of those kept changed
        fresh = _random_keys(rng, len(edited))
        for column in ("core", "domain", "city", "country", "translit_key", "form", "zh"):
            tonight.loc[edited, column] = fresh[column].to_numpy()
        dirty = base < 0
        dirty[edited] = True
        changed_old = ~stays
        changed_old[base[edited]] = True
        changed = Changed.of(old, _no_words(), changed_old)
        expected = population_stats(tonight, limit=2)
        kept_up = kept_up_stats(tonight, old, base, dirty, changed, limit=2)
        pd.testing.assert_frame_equal(kept_up, expected)
        # Nothing changed: the stored statistics as they are.
        same = kept_up_stats(then, old, np.arange(len(then)), np.zeros(len(then), dtype=bool),
                             Changed.of(old, _no_words(), np.zeros(len(then), dtype=bool)), limit=2)
        pd.testing.assert_frame_equal(same, old[STAT_COLUMNS])


def test_the_base_runs_blocks_keep_their_gone_and_changed_members():
    """A large block is windowed in name order: when a member goes, its neighbours become each
    other's. The base run's population must hold the gone member for the plan to see that pair
    change (both records are clean: nothing else would touch them)."""
    from leadrank.transform.incremental import Changed, block_pairs, populations
    from leadrank.transform.matching import KEY_COLUMNS, sort_order

    then = pd.DataFrame({c: None for c in KEY_COLUMNS} | {"core": "acme", "city": list("abcde"), "zh": False},
                        index=range(5))
    base = np.array([0, 1, 3, 4])  # old row 2 is gone
    tonight = then.iloc[base].reset_index(drop=True)
    changed_old = np.isin(np.arange(5), [2])
    now, before = populations(tonight, _no_words(), sort_order(tonight), sort_order(then),
                              Changed.of(then, _no_words(), changed_old), base, np.ones(4, dtype=bool))
    cfg = ResolutionConfig(max_block_size=3, block_window=1)
    wanted = before.carried("core", changed_old)
    assert wanted.to_pylist() == ["acme"]

    def pairs(pop):
        return set(zip(*[side.tolist() for side in block_pairs(pop, "core", wanted, cfg)], strict=True))

    assert pairs(before) == {(0, 1), (1, 2), (2, 3), (3, 4)}  # old rows
    assert pairs(now) == {(0, 1), (1, 2), (2, 3)}  # tonight's rows: old 1 and 3 are neighbours now
    assert now.carried("core", np.zeros(4, dtype=bool)).to_pylist() == []


def test_learned_weights_and_missing_state_resolve_everything():
    first = _first_night(200)
    one = resolve(_night(first, "run1"), ResolutionConfig())
    learned = resolve(_night(first, "run2"), ResolutionConfig(learned=True, random_pairs=2000),
                      previous=one.records[[*NORMALISED, "lead_id"]], base=one.state)
    assert learned.stats["mode"] == "full" and "learned" in learned.stats["reason"] and learned.state is None
    plain = resolve(_night(first, "run2"), ResolutionConfig(), previous=one.records[[*NORMALISED, "lead_id"]])
    assert plain.stats["mode"] == "full" and plain.stats["reason"]


# --- through the pipeline's steps, against a warehouse ---------------------------------------------

def _run_night(frame: pd.DataFrame, warehouse: str, run_id: str, *, publish: bool = True) -> dict:
    from run import write_extractions

    from leadrank import night, pipeline
    from leadrank.paths import DEMO_CONFIG, data_dir

    pipeline.begin(str(DEMO_CONFIG), run_id, warehouse)
    sources = write_extractions(frame, data_dir(), run_id)
    last = "publish" if publish else "dedupe"
    return night.run_steps(night.Night(run_id, warehouse, tuple(sources), {"run_id": run_id}), "stage", last)


def _files(run_id: str) -> dict[str, pd.DataFrame]:
    from leadrank.run_files import RunFiles

    files = RunFiles(run_id)
    keys = {"resolved": ["record_key"], "leads": ["lead_id"], "events": ["kind", "lead_id", "other_lead_id"]}
    return {name: _sorted(pd.read_parquet(files.stage(name)), by) for name, by in keys.items()}


def test_the_dedupe_step_writes_the_same_files_incrementally(warehouse_url, monkeypatch):
    from leadrank import base_state, pipeline
    from leadrank.run_files import RunFiles
    from leadrank.warehouse.engine import make_engine

    monkeypatch.setattr(base_state, "resolution_fingerprint", lambda cfg, trust: "same")
    first = _first_night(300)
    first["source"] = np.where(np.arange(len(first)) % 2, "expo", "association")
    done = _run_night(first, warehouse_url, "night1")
    assert done["resolution"]["mode"] == "full"
    second, _ = _second_night(first)
    second["source"] = second["source"].where(second["source"].isin(["expo", "association"]), "registry")
    incremental = _run_night(second, warehouse_url, "night2", publish=False)["resolution"]
    assert incremental["mode"] == "incremental", incremental
    assert incremental["golden_rebuilt"] < incremental["leads"] / 2
    # The base run's state is held as read (Arrow-backed text): its keys, leads, components and
    # evidence as well as its blocking keys and words.
    base, _ = base_state.dedupe_base(make_engine(warehouse_url), "night2", "same")
    stored = base.resolution.records
    text = ("record_key", "lead_id", "component", "match_evidence", "core", "domain", "phone")
    assert {str(stored[c].dtype) for c in text} == {"str"}
    assert str(base.golden["golden_lead"].dtype) == "str"
    assert str(base.resolution.words["word"].dtype) == "str"
    kept = _files("night2")
    state = RunFiles("night2").state("resolution").read_bytes()
    golden = _sorted(pd.read_parquet(RunFiles("night2").state("resolution_golden")), ["record_key"])
    # The base run's leads are read only for the golden records, after resolution, a column at a
    # time as they are merged: leads that cannot be read (a file without the columns, or one
    # column of another type, found only when the merge reaches it) then cost a rebuild of every
    # golden record, with the same files.
    leads_path = RunFiles("night1").stage("leads")
    pd.read_parquet(leads_path).assign(n_records="many").to_parquet(leads_path)
    rebuilt = pipeline.resolve_step("night2", warehouse_url)
    assert rebuilt["mode"] == "incremental" and rebuilt["golden_rebuilt"] == rebuilt["leads"]
    for name, frame in _files("night2").items():
        pd.testing.assert_frame_equal(kept[name], frame, obj=name)
    pd.DataFrame({"not_a_lead": [1]}).to_parquet(leads_path)
    rebuilt = pipeline.resolve_step("night2", warehouse_url)
    assert rebuilt["mode"] == "incremental" and rebuilt["golden_rebuilt"] == rebuilt["leads"]
    for name, frame in _files("night2").items():
        pd.testing.assert_frame_equal(kept[name], frame, obj=name)
    # The same step again without the base run's state: a full resolution, the same files.
    for path in (RunFiles("night1").root / "state").iterdir():
        path.unlink()
    full = pipeline.resolve_step("night2", warehouse_url)
    assert full["mode"] == "full" and "no dedupe state" in full["reason"]
    for name, frame in _files("night2").items():
        pd.testing.assert_frame_equal(kept[name], frame, obj=name)
    assert pd.read_parquet(RunFiles("night2").state("resolution")).equals(
        pd.read_parquet(__import__("io").BytesIO(state)))
    pd.testing.assert_frame_equal(
        _sorted(pd.read_parquet(RunFiles("night2").state("resolution_golden")), ["record_key"]), golden)


def test_a_state_without_its_golden_inputs_for_every_record_is_not_used(warehouse_url, monkeypatch):
    """The state is saved in two parts (the resolution's, then the golden inputs and the marker):
    golden inputs of another size than the records' state are a damaged state, a full night."""
    from leadrank import base_state
    from leadrank.run_files import RunFiles

    monkeypatch.setattr(base_state, "resolution_fingerprint", lambda cfg, trust: "same")
    first = _first_night(100)
    first["source"] = "expo"
    _run_night(first, warehouse_url, "night1")
    path = RunFiles("night1").state("resolution_golden")
    golden = pd.read_parquet(path)
    assert len(golden) == len(pd.read_parquet(RunFiles("night1").state("resolution"))) > 1
    golden.iloc[1:].to_parquet(path)
    result = _run_night(first, warehouse_url, "night2", publish=False)["resolution"]
    assert result["mode"] == "full" and "incomplete" in result["reason"]


def test_state_of_other_code_or_settings_is_not_used(warehouse_url, monkeypatch):
    from leadrank import base_state

    first = _first_night(100)
    first["source"] = "expo"
    _run_night(first, warehouse_url, "night1")
    monkeypatch.setattr(base_state, "resolution_fingerprint", lambda cfg, trust: "another release")
    result = _run_night(first, warehouse_url, "night2", publish=False)["resolution"]
    assert result["mode"] == "full" and "other code or settings" in result["reason"]
