"""The dedupe features hold one Python string per distinct value, not one per row (issue 19:
a million records in 2.5 GiB), and hold exactly the values a row-by-row conversion gives."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from leadrank import memory
from leadrank.config import ResolutionConfig
from leadrank.contracts import ContractError
from leadrank.transform.matching import Features, transliterate
from leadrank.transform.normalise import normalise_records
from leadrank.transform.resolve import RESOLUTION_READS, dedupe_frame
from tests.test_resolve import _records

ROWS = 60


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rows = [{"company_name": ["Foo Trading Co., Ltd.", "深圳市华强电子有限公司", "Bar Systems GmbH"][i % 3],
             "city": ["Toronto", "TORONTO", "深圳"][i % 3], "country": "CA" if i % 3 != 1 else "CN",
             "address": f"{i % 4 + 1} Main St", "phone": f"+1 416 555 01{i % 5:02d}",
             "email": f"sales{i % 6}@foo{i % 6}.com"} for i in range(ROWS)]
    return normalise_records(_records(rows)).reset_index(drop=True)


def _objects_per_value(values) -> tuple[int, int]:
    values = np.asarray(values, dtype=object)
    strings = [v for v in values if isinstance(v, str)]
    return len({id(v) for v in strings}), len(set(strings))


@pytest.mark.parametrize("column", ["lang", "translit", "street_run"])
def test_feature_text_is_one_object_per_distinct_value(frame, column):
    objects, distinct = _objects_per_value(getattr(Features(frame), column))
    assert objects == distinct


@pytest.mark.parametrize("column", ["uscc", "phone", "email", "city", "translit_key", "site", "core"])
def test_key_columns_are_one_object_per_distinct_value(frame, column):
    objects, distinct = _objects_per_value(Features(frame).keys[column])
    assert objects == distinct


def test_name_text_shares_the_core_strings(frame):
    f = Features(frame)
    assert all(t is c for t, c in zip(f.core_names.text, f.core, strict=True) if isinstance(c, str))
    spaced = f.core_names.words
    assert all(c is t for c, t in zip(f.core_names.compact[~spaced], f.core_names.text[~spaced], strict=True))
    assert list(f.core_names.compact) == [t.replace(" ", "") for t in f.core_names.text]


def test_features_hold_the_values_a_row_by_row_conversion_gives(frame):
    f = Features(frame)
    assert list(f.lang) == list(frame["name_lang"].fillna("").to_numpy(dtype=object))
    assert list(f.keys["city"]) == [c.casefold() if isinstance(c, str) else None for c in frame["city_norm"]]
    assert list(f.keys["phone"]) == [p if isinstance(p, str) else None for p in frame["phone_e164"]]



def test_per_distinct_and_joined_give_the_row_by_row_values():
    from leadrank.transform.matching import _joined, _per_distinct

    mixed = np.array(["a", None, "b", "a", np.nan], dtype=object)
    assert list(_per_distinct(mixed, transliterate)) == list(transliterate(mixed))
    other = np.array(["x", "y", None, "x", "y"], dtype=object)
    expected = (pd.Series(mixed, dtype=object) + "|" + pd.Series(other, dtype=object)).to_numpy(dtype=object)
    assert [x if isinstance(x, str) else None for x in _joined(mixed, "|", other)] == \
        [x if isinstance(x, str) else None for x in expected]


def test_a_resolution_without_state_gives_the_same_leads(frame):
    """`leadrank dedupe` keeps no state and lets the key strings go before matching: same leads."""
    from leadrank.config import ResolutionConfig
    from leadrank.transform.resolve import resolve

    kept, dropped = resolve(frame, ResolutionConfig()), resolve(frame, ResolutionConfig(), with_state=False)
    assert kept.state is not None and dropped.state is None
    assert list(kept.records["lead_id"]) == list(dropped.records["lead_id"])
    assert list(kept.records["match_evidence"]) == list(dropped.records["match_evidence"])


def test_name_similarity_in_parts_equals_one_call(monkeypatch):
    """rapidfuzz is given CPDIST_PAIRS pairs at a time (its copies of every string were the
    dedupe step's peak at a million records): the same scores as one call over every pair."""
    from rapidfuzz import fuzz, process

    from leadrank.transform import matching

    names = matching.Names(np.array(["huaqiang", "hua qiang", "foo trading", None, "foo tradng", "bar"], dtype=object))
    i, j = np.array([0, 0, 2, 3, 1, 5, 2]), np.array([1, 2, 4, 4, 0, 5, 2])
    whole = matching._similarity(names, i, names, j)
    monkeypatch.setattr(matching, "CPDIST_PAIRS", 2)
    calls = []
    real = process.cpdist
    monkeypatch.setattr(process, "cpdist", lambda a, b, **kw: calls.append(len(a)) or real(a, b, **kw))
    assert list(matching._similarity(names, i, names, j)) == list(whole)
    assert max(calls) <= 2
    assert whole[3] == -1 and whole[5] == 100 and whole[0] == fuzz.ratio("huaqiang", "huaqiang")


def test_survivorship_order_copies_no_column():
    """Golden records order a million resolved records by integer keys alone: no column of the
    records is copied (the frame sort it replaced copied every column it was given, a third copy
    of them at the dedupe step's peak before that), and the caller's frame is left as it was."""
    import tracemalloc

    from leadrank.transform.golden import survivorship_positions

    n = 200_000
    records = pd.DataFrame({"lead_id": np.arange(n) % 1000, "source": "s", "source_kind": "exhibition",
                            "seen_tonight": True, "record_key": np.arange(n)[::-1],
                            **{c: None for c in ["website", "phone", "email", "address", "uscc"]},
                            **{f"payload{k}": np.arange(n, dtype=np.int64) for k in range(24)}})
    size = records.memory_usage(index=False).sum()
    columns = list(records.columns)
    tracemalloc.start()
    order, leads = survivorship_positions(records, {})
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.5 * size  # integer keys alone: the frame sort copied every column (1.7 times)
    assert list(records.columns) == columns
    assert list(records["record_key"].take(order[:2])) == [999, 1999] and list(leads[:2]) == [0, 0]  # ties by key


def test_golden_records_made_in_parts_of_whole_leads_are_the_ones_made_at_once(frame, monkeypatch):
    """golden_records works GOLDEN_PART_ROWS records at a time, each part a range of lead IDs:
    the leads are the ones made from every record at once, in lead-ID order, and a 统一社会信用代码
    that one lead's record has valid counts as valid for a lead in another part."""
    from leadrank.config import ResolutionConfig
    from leadrank.transform import golden
    from leadrank.transform.resolve import resolve

    records = resolve(frame, ResolutionConfig()).records
    records["lead_id"] = [f"L{(i * 7) % 12:02d}" for i in range(len(records))]  # 12 leads, records interleaved
    leads = records["lead_id"].drop_duplicates().sort_values().tolist()
    first, last = (records.index[records["lead_id"] == lead][0] for lead in (leads[0], leads[-1]))
    records.loc[[first, last], "uscc_norm"] = "91350100M000100Y88"
    records.loc[first, "uscc_valid"], records.loc[last, "uscc_valid"] = True, False
    whole = golden.as_text(golden.golden_records(records))
    monkeypatch.setattr(golden, "GOLDEN_PART_ROWS", 7)
    assert len(records) > 3 * 7 and len(leads) > 3
    parts = golden.as_text(golden.golden_records(records.sample(frac=1, random_state=3)))
    pd.testing.assert_frame_equal(parts, whole)
    assert parts["lead_id"].tolist() == leads
    assert parts.set_index("lead_id").loc[leads[-1], "uscc_valid"]  # valid by a record of another part


def test_the_dedupe_step_saves_its_state_before_the_golden_records(tmp_path, monkeypatch):
    """The resolution state (every record's blocking keys, statistics and name words) is written
    and let go before golden records are built, not held through them to the step's end."""
    from leadrank import pipeline
    from leadrank.run_files import RunFiles
    from tests.helpers import run_pipeline
    from tests.ops_fixtures import demo_sources

    warehouse = f"sqlite:///{tmp_path / 'w.db'}"
    run_id = run_pipeline(str(demo_sources(tmp_path)), warehouse)["run_id"]
    files = RunFiles(run_id)
    saved = [files.state(name) for name in ("resolution", "resolution_words", "resolution_golden", "resolution_meta")]
    for path in saved:
        path.unlink()
    real, seen = pipeline.golden_parts, []
    monkeypatch.setattr(pipeline, "golden_parts",
                        lambda *args, **kwargs: seen.append([p.exists() for p in saved]) or real(*args, **kwargs))
    real_write, written = RunFiles.write_stage, {}

    def write_stage(self, name, frame):
        written[name] = [p.exists() for p in saved]
        return real_write(self, name, frame)

    monkeypatch.setattr(RunFiles, "write_stage", write_stage)
    pipeline.resolve_step(run_id, warehouse)
    assert seen == [[True, True, True, True]]
    assert written["resolved"] == [True, True, True, True]  # saved (and let go) before resolved.parquet's Arrow copy


def test_the_dedupe_step_keeps_golden_only_text_arrow_backed_with_the_same_leads(frame, monkeypatch):
    """The text only golden records read is not made a Python string per row at the dedupe step,
    and golden records over it as Arrow-backed text are the ones over Python strings."""
    from leadrank import pipeline
    from leadrank.config import ResolutionConfig
    from leadrank.run_files import RunFiles, as_objects
    from leadrank.transform.golden import as_text, golden_records
    from leadrank.transform.resolve import resolve

    monkeypatch.setattr(pipeline, "run_config", lambda run_id: type("C", (), {"resolution": ResolutionConfig(),
                                                                             "sources": [], "lead_expiry_nights": 3}))
    records = frame.copy()
    records[list(pipeline.GOLDEN_TEXT)] = records[list(pipeline.GOLDEN_TEXT)].astype("str")
    assert {str(records[c].dtype) for c in pipeline.GOLDEN_TEXT} == {"str"}
    RunFiles("golden-text").write_stage("normalised", records)
    given = []
    real_read = RunFiles.read_stage

    def read_stage(self, name, *args, **kwargs):
        given.append(real_read(self, name, *args, **kwargs))
        return given[-1]

    def stop(*args, **kwargs):
        raise RuntimeError("stop")

    monkeypatch.setattr(RunFiles, "read_stage", read_stage)
    monkeypatch.setattr(pipeline.read, "record_leads", stop)  # right after the step read its records
    with pytest.raises(RuntimeError, match="stop"):
        pipeline.resolve_step("golden-text", None)
    assert list(given[0].columns) == RESOLUTION_READS  # resolution holds what it compares, no more
    back = pipeline.with_unresolved_columns(resolve(given[0], ResolutionConfig()).records, RunFiles("golden-text"),
                                            pd.DataFrame(), RESOLUTION_READS)
    assert [back[c].dtype for c in pipeline.GOLDEN_TEXT if back[c].dtype == object] == []

    resolved = resolve(records, ResolutionConfig()).records
    arrow = as_text(golden_records(resolved))
    objects = as_text(golden_records(as_objects(resolved.copy(), only=list(pipeline.GOLDEN_TEXT))))
    assert {c: str(objects[c].dtype) for c in objects} == {c: str(arrow[c].dtype) for c in arrow}
    pd.testing.assert_frame_equal(arrow, objects)


@pytest.mark.parametrize("cells", [1_000_000, 40, 100])
def test_the_columns_resolution_does_not_read_come_back_in_place_for_tonight_and_the_stored_records(
        frame, monkeypatch, cells):
    """The dedupe step resolves only the columns matching compares (RESOLUTION_READS) and reads
    the others back afterwards: tonight's from the run file, the stored records' from the
    warehouse's rows. The records come out as a resolution of every column gives them, whether
    the file is read at once (a small night), a column at a time (a million records: 40 cells a
    read of 40 rows here) or two columns a read."""
    from leadrank import pipeline
    from leadrank.run_files import RunFiles, as_objects
    from leadrank.transform.resolve import resolve

    records = frame.copy()
    records["record_key"] = [f"k{i:03d}" for i in range(len(records))]
    records["company_name"] = [f"Firm {i}" for i in range(len(records))]
    tonight, stored = records.iloc[:40].reset_index(drop=True), records.iloc[40:].reset_index(drop=True)
    stored = as_objects(stored.assign(lead_id=[f"L{i}" for i in range(len(stored))]))  # as the warehouse gives them
    files = RunFiles("unresolved-columns")
    files.write_stage("normalised", tonight)
    read = pipeline.read_for_resolution(files, RESOLUTION_READS)
    assert list(read.columns) == RESOLUTION_READS
    cfg = ResolutionConfig()
    part = resolve(read, cfg, previous=stored[[*RESOLUTION_READS, "lead_id"]]).records
    reads, real_read = [], pipeline.read_for_resolution

    def read_for_resolution(files, columns=None):
        reads.append(columns)
        return real_read(files, columns)

    monkeypatch.setattr(pipeline, "CELLS_PER_READ", cells)
    monkeypatch.setattr(pipeline, "read_for_resolution", read_for_resolution)
    back = pipeline.uncategorised(pipeline.with_unresolved_columns(part, files, stored, RESOLUTION_READS))
    monkeypatch.undo()
    others = [c for c in tonight.columns if c not in RESOLUTION_READS]
    assert [c for group in reads for c in group] == others and {len(g) for g in reads[:-1]} <= {cells // 40}
    assert len(reads) == {1_000_000: 1, 40: len(others), 100: (len(others) + 1) // 2}[cells]
    whole = resolve(pipeline.read_for_resolution(files), cfg, previous=stored).records
    whole = pipeline.uncategorised(whole)
    assert list(back.columns) == [*tonight.columns, *[c for c in whole.columns if c not in tonight.columns]]
    pd.testing.assert_frame_equal(as_objects(back.copy()), as_objects(whole[back.columns].copy()))
    assert back["company_name"].tolist() == records["company_name"].tolist()  # tonight's, then the stored ones
    with pytest.raises(ContractError, match="rows"):
        pipeline.with_unresolved_columns(part.iloc[:-1], files, stored, RESOLUTION_READS)


def test_a_full_resolution_lets_the_features_go_before_the_state(frame, monkeypatch):
    """The matching features (codes, texts) and the scored pairs are freed once clustering is
    done: the state and the lead IDs are built without them."""
    import gc
    import weakref

    from leadrank.config import ResolutionConfig
    from leadrank.transform import resolve as resolve_module

    built, alive = [], []

    class Tracked(Features):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(weakref.ref(self))

    real_state_of = resolve_module.state_of

    def state_of(*args, **kwargs):
        gc.collect()
        alive.extend(ref() is not None for ref in built)
        return real_state_of(*args, **kwargs)

    monkeypatch.setattr(resolve_module, "Features", Tracked)
    monkeypatch.setattr(resolve_module, "state_of", state_of)
    result = resolve_module.resolve(frame, ResolutionConfig())
    assert result.state is not None and alive == [False]


def test_lead_ids_go_back_in_the_frames_order_without_a_string_per_row(frame):
    """Lead IDs and evidence are put back in the frame's order by an Arrow take (Arrow-backed
    text, as before): each record keeps its own lead and evidence, in any input order."""
    from leadrank.config import ResolutionConfig
    from leadrank.transform.resolve import resolve

    shuffled = frame.sample(frac=1, random_state=3).reset_index(drop=True)
    ordered = resolve(frame, ResolutionConfig()).records
    records = resolve(shuffled, ResolutionConfig()).records
    assert str(records["lead_id"].dtype) == "str" and records["lead_id"].array.dtype.storage == "pyarrow"
    assert records.set_index("record_key")["lead_id"].to_dict() == ordered.set_index("record_key")["lead_id"].to_dict()
    assert records.set_index("record_key")["match_evidence"].to_dict() == \
        ordered.set_index("record_key")["match_evidence"].to_dict()


def test_the_dedupe_step_reads_what_resolution_never_reads_as_categories(frame):
    """The dedupe step's read (issue 19, fourth round): the record key is Python objects, the
    columns matching compares and golden-only text stay Arrow-backed (resolution converts the
    rows it compares), the rest is categorical (repeated text: a code per row); turned back, the
    records are exactly those of the plain read, so resolved.parquet and the golden records are
    unchanged."""
    from leadrank import pipeline
    from leadrank.contracts import NORMALISED
    from leadrank.run_files import RunFiles
    from leadrank.transform.incremental import MATCHED_COLUMNS

    records = frame.copy()
    records["record_key"] = [f"k{i:03d}" for i in range(len(records) - 1, -1, -1)]
    records["company_name"] = [f"Firm {i}" for i in range(len(records))]  # one per record: stays as stored
    files = RunFiles("categories")
    files.write_stage("normalised", records)
    read = pipeline.read_for_resolution(files)
    kinds = {c: ("category" if isinstance(read[c].dtype, pd.CategoricalDtype) else str(read[c].dtype))
             for c in read.columns}
    assert kinds["record_key"] == "object"
    texts = [c for c in MATCHED_COLUMNS if read[c].dtype != bool and read[c].notna().any()]  # (no value: stored as nulls)
    assert len(texts) >= 8 and {kinds[c] for c in texts} == {"str"}
    assert {kinds[c] for c in ("source", "source_kind", "fetched_at", "run_id", "country", "city")} == {"category"}
    assert kinds["company_name"] == "str" and kinds["name_norm"] == "str"  # seldom repeated; golden text
    arrow = (*pipeline.PASSED_THROUGH, *pipeline.GOLDEN_TEXT)
    plain = files.read_stage("normalised", objects=[c for c in NORMALISED if c not in (*arrow, *MATCHED_COLUMNS)])
    back = pipeline.uncategorised(read)
    assert not any(isinstance(back[c].dtype, pd.CategoricalDtype) for c in back.columns)
    pd.testing.assert_frame_equal(back, plain)


def test_the_state_joins_the_keys_and_statistics_without_copying_them():
    """state_of puts the features' key and statistics columns in the state as they are: at a
    million records a copy of them was ~0.3 GB at the dedupe step's peak."""
    from leadrank.transform.incremental import STATE_COLUMNS, state_of
    from leadrank.transform.matching import KEY_COLUMNS, STAT_COLUMNS, object_frame

    n = 5
    frame = object_frame({"record_key": np.asarray([f"k{i}" for i in range(n)], dtype=object),
                          "lead_id": np.asarray(["L1"] * n, dtype=object),
                          "match_evidence": np.asarray([None] * n, dtype=object)})
    keys = object_frame({c: (np.asarray([i % 2 == 0 for i in range(n)]) if c == "zh"
                             else np.asarray([f"{c}{i % 3}" for i in range(n)], dtype=object)) for c in KEY_COLUMNS})
    stats = pd.DataFrame({c: np.arange(n, dtype=np.float32) for c in STAT_COLUMNS})
    words = object_frame({"row": np.asarray([1, 0], dtype=np.int64), "word": np.asarray(["b", "a"], dtype=object)})
    state = state_of(frame, keys, stats, words, np.asarray(["k0"] * n, dtype=object), np.arange(n),
                     np.arange(n, dtype=np.uint64))
    assert list(state.records.columns) == STATE_COLUMNS
    for column in ("site", "core", "country_bits"):
        source = (keys if column in KEY_COLUMNS else stats)[column].to_numpy()
        assert np.shares_memory(state.records[column].to_numpy(), source)
        assert list(state.records[column]) == list(source)
    assert list(state.words["row"]) == [0, 1]


def test_resolve_puts_the_matched_columns_back_as_they_were():
    """Rows out of record-key order: resolve lets the frame's own matched columns go while it
    resolves and puts them back from its ordered copy; the records come back with every column
    in its place, dtype and values."""
    from leadrank.config import ResolutionConfig
    from leadrank.transform.resolve import resolve

    rows = [{"company_name": ["Foo Trading Co., Ltd.", "深圳市华强电子有限公司", "Bar Systems GmbH"][i % 3],
             "city": "Toronto", "country": "CA", "phone": f"+1 416 555 01{i % 5:02d}"} for i in range(12)]
    records = normalise_records(_records(rows)).reset_index(drop=True)
    records["record_key"] = [f"k{(7 * i) % 12:02d}" for i in range(12)]  # not in record-key order
    out = resolve(records.copy(), ResolutionConfig()).records
    assert list(out.columns[:len(records.columns)]) == list(records.columns)
    pd.testing.assert_frame_equal(out[records.columns], records)


def test_golden_records_count_exhibitions_from_the_two_columns_they_read():
    """Exhibitions per lead: the distinct exhibition sources among its records (filtered on the
    lead and source columns alone, not on a copy of every record)."""
    from leadrank.transform.golden import golden_records

    rows = [{"company_name": "Foo Trading Co., Ltd.", "phone": "+1 416 555 0100"} for _ in range(4)]
    records = normalise_records(_records(rows)).reset_index(drop=True)
    records["source"] = ["expo-a", "expo-b", "expo-a", "assoc"]
    records["source_kind"] = ["exhibition", "exhibition", "exhibition", "association"]
    records["lead_id"] = ["L1", "L1", "L2", "L2"]
    records["seen_tonight"] = True
    leads = golden_records(records).set_index("lead_id")
    assert leads["exhibitions"].to_dict() == {"L1": 2, "L2": 1}
    assert leads["n_sources"].to_dict() == {"L1": 2, "L2": 2}


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


@pytest.mark.skipif(not Path("/proc/self/statm").exists() or memory._libc_trim() is None,
                    reason="needs Linux with glibc (malloc_trim)")
def test_release_memory_returns_the_freed_heap_to_the_system():
    """Freed blocks between live ones stay in glibc's heap, counted in the process's memory,
    until `malloc_trim`: at 1.4M records ~0.4 GB of them at matching's start."""
    blocks = [bytes(1000) + str(i).encode() for i in range(120_000)]  # ~120 MB of 1 kB malloc blocks
    survivors = blocks[::100]  # one in a hundred stays, so the heap's top cannot shrink
    del blocks
    before = _rss_mb()
    memory.release_memory(memory.RELEASE_FROM_ROWS - 1)  # a small phase: nothing is done
    small = _rss_mb()
    memory.release_memory(memory.RELEASE_FROM_ROWS)
    after = _rss_mb()
    assert len(survivors) == 1_200 and before - small < 20 and small - after > 50, (before, small, after)


def test_release_memory_does_nothing_without_glibc(monkeypatch):
    monkeypatch.setattr(memory, "_libc_trim", lambda: None)
    memory.release_memory(memory.RELEASE_FROM_ROWS)  # no malloc_trim (musl, macOS): Arrow's pool only, no error


def test_resolution_reads_only_the_key_and_the_matched_columns(frame):
    """`leadrank dedupe` hands resolution only RESOLUTION_READS (the other normalised columns
    were ~0.3 GB at 1.4M records): the same leads as with every column."""
    whole = dedupe_frame(frame, ResolutionConfig())
    narrow = dedupe_frame(frame[RESOLUTION_READS].copy(), ResolutionConfig())
    assert list(narrow.columns) == [*RESOLUTION_READS, "match_evidence", "lead_id"]
    assert narrow["lead_id"].tolist() == whole["lead_id"].tolist()
    assert narrow["match_evidence"].tolist() == whole["match_evidence"].tolist()
    with pytest.raises(ContractError, match="name_core"):
        dedupe_frame(frame[RESOLUTION_READS].drop(columns=["name_core"]), ResolutionConfig())


def _fetched_span_by_sorting(records: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """What golden.fetched_span gave before it worked by codes: sort every record as text."""
    fetched = records[["lead_id", "fetched_at"]].dropna().astype(str).sort_values(["lead_id", "fetched_at"])
    return (fetched.drop_duplicates("lead_id", keep="first").set_index("lead_id")["fetched_at"],
            fetched.drop_duplicates("lead_id", keep="last").set_index("lead_id")["fetched_at"])


@pytest.mark.parametrize("arrow", [False, True])
def test_fetched_span_by_codes_gives_what_sorting_every_record_gave(arrow):
    """First and last fetch time per lead from the distinct times' ranks (a second night's peak
    had been a million records' leads and times sorted as Python strings): the same values,
    missing leads and times left out, times compared as text, in the order of the leads asked for
    (None for one without any)."""
    from datetime import datetime

    from leadrank.transform.golden import fetched_span

    rng = np.random.default_rng(3)
    times = [None, "2026-01-02T00:00:00", "2026-01-01T10:00:00", "2025-12-31", "2026-01-01 05:00:00", "2026-01-10"]
    leads = [None, "L1", "L2", "L10", "L3", "L03"]
    for _ in range(100):
        n = int(rng.integers(0, 30))
        records = pd.DataFrame({"lead_id": [leads[i] for i in rng.integers(0, len(leads), n)],
                                "fetched_at": [times[i] for i in rng.integers(0, len(times), n)]}, dtype=object)
        if arrow:
            records = records.astype("str")
        elif n:
            records.loc[0, "fetched_at"] = datetime(2026, 1, 1, 5)  # not text: compared as its text
        asked = pd.Index(["L9", *records["lead_id"].dropna().unique()[::-1]], dtype=object)  # L9: none
        for got, want in zip(fetched_span(records, asked), _fetched_span_by_sorting(records), strict=True):
            assert list(got) == [want.get(lead) for lead in asked]


def test_a_second_night_merges_kept_and_rebuilt_leads_in_lead_id_order():
    """golden_update joins the base run's unchanged leads and tonight's rebuilt ones a column at a
    time in lead-ID order, with the stored types: what a whole-frame concat and sort gave."""
    from leadrank.transform.golden import _merged

    base = pd.DataFrame({"lead_id": ["L1", "L3", "L5", "L7"], "n": [1, 3, 5, 7],
                         "name": ["a", None, "e", "g"]}).astype({"lead_id": "str", "name": "str"})
    fresh = pd.DataFrame({"lead_id": ["L6", "L2", "L5"], "n": [6, 2, 55], "name": ["f", "b", None]}).astype(
        {"lead_id": "str", "name": "str"})
    keep = np.array([0, 1, 3])  # L5 rebuilt
    dirty = pd.Series(["L5"], dtype=object)
    merged = _merged(base, dirty, fresh)
    whole = pd.concat([base.iloc[keep], fresh], ignore_index=True).sort_values("lead_id", kind="stable",
                                                                                 ignore_index=True)
    pd.testing.assert_frame_equal(merged, whole)
    assert list(merged["lead_id"]) == ["L1", "L2", "L3", "L5", "L6", "L7"]
    assert list(merged["n"]) == [1, 2, 3, 55, 6, 7]
    handed = base.copy()
    pd.testing.assert_frame_equal(_merged(handed, dirty, fresh, handed_over=True), whole)
    assert list(handed.columns) == [] and list(base.columns) == ["lead_id", "n", "name"]  # its columns went


def test_the_plan_reads_stored_and_fresh_key_text_as_arrow(tmp_path):
    """The base run's keys and words stay as parquet gives them (Arrow-backed text) and the
    incremental plan reads them, and the dirty records' fresh keys (Python objects), as Arrow
    text, with missing values kept missing (as Python objects a million records' keys and words
    were ~1.5 GB at the dedupe step's peak)."""
    from leadrank.transform.incremental import arrow_text, text_series

    stored = pd.Series(["a", None, "b", "a"], dtype="str")
    assert arrow_text(stored).to_pylist() == ["a", None, "b", "a"]
    assert arrow_text(stored, np.array([2, 1])).to_pylist() == ["b", None]
    objects = pd.Series(["x", None, np.nan], dtype=object)
    assert arrow_text(objects).to_pylist() == ["x", None, None]
    back = text_series(arrow_text(objects))
    assert str(back.dtype) == "str" and back.isna().tolist() == [False, True, True]
    chunks = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([["a", None], ["b"]], type=pa.large_string())))
    assert arrow_text(chunks).to_pylist() == ["a", None, "b"]
    assert arrow_text(chunks, np.array([2, 0])).to_pylist() == ["b", "a"]


def test_matched_columns_read_as_arrow_text_resolve_as_python_strings_do(frame):
    """The dedupe step hands resolution the matched columns as stored (Arrow text): full and
    incremental resolution give the records Python strings give, the stored records' text (from
    the warehouse, objects) joins tonight's as Arrow text instead of turning every row's into a
    Python object, and only the rows compared are converted (a full resolution compares them all,
    and hands them back as read)."""
    from leadrank.config import ResolutionConfig
    from leadrank.run_files import as_objects
    from leadrank.transform.golden import as_text, golden_records
    from leadrank.transform.incremental import MATCHED_COLUMNS
    from leadrank.transform.resolve import resolve

    cfg = ResolutionConfig()
    first = resolve(frame, cfg)
    previous = first.records.drop(columns=["seen_tonight"])
    tonight = frame.iloc[: len(frame) * 2 // 3].copy()  # the rest is stored, not brought tonight
    tonight.loc[tonight.index[:3], "name_core"] = "zorbatronic"  # changed records
    texts = [c for c in MATCHED_COLUMNS if tonight[c].dtype != bool and tonight[c].notna().any()]
    arrow = tonight.astype({c: "str" for c in texts})
    expected = resolve(tonight, cfg, previous=previous).records
    for base in (None, first.state):
        got = resolve(arrow, cfg, previous=previous, base=base)
        assert got.stats["mode"] == ("full" if base is None else "incremental")
        assert {str(got.records[c].dtype) for c in texts} == {"str"}  # as read, in either mode
        pd.testing.assert_frame_equal(as_objects(got.records.copy(), only=MATCHED_COLUMNS),
                                      as_objects(expected.copy(), only=MATCHED_COLUMNS))
        pd.testing.assert_frame_equal(as_text(golden_records(got.records)), as_text(golden_records(expected)))


def test_leads_written_part_by_part_are_the_file_written_whole(frame, monkeypatch, tmp_path):
    """The dedupe step writes golden records to leads.parquet as each part is made
    (`golden_parts`, `RunFiles.write_stage_parts`): the file the leads made at once give when
    written whole, and a part that fails leaves no file, whole or half."""
    import pyarrow.parquet as pq

    from leadrank.run_files import RunFiles
    from leadrank.transform import golden
    from leadrank.transform.resolve import resolve

    monkeypatch.setenv("LEADRANK_DATA_DIR", str(tmp_path))
    records = resolve(frame, ResolutionConfig()).records
    records["lead_id"] = [f"L{(i * 7) % 12:02d}" for i in range(len(records))]  # 12 leads, records interleaved
    whole, parts = RunFiles("whole"), RunFiles("parts")
    whole.write_stage("leads", golden.golden_records(records))
    monkeypatch.setattr(golden, "GOLDEN_PART_ROWS", 7)
    assert len(list(golden.golden_parts(records))) > 3
    assert parts.write_stage_parts("leads", golden.golden_parts(records)) == 12
    written, expected = pq.read_table(parts.stage("leads")), pq.read_table(whole.stage("leads"))
    assert written.schema.equals(expected.schema, check_metadata=False) and written.equals(expected)
    pd.testing.assert_frame_equal(parts.read_stage("leads"), whole.read_stage("leads"))

    def failing():
        made = golden.golden_parts(records)
        yield next(made)
        yield next(made)
        raise RuntimeError("killed")

    parts.stage("leads").unlink()
    with pytest.raises(RuntimeError, match="killed"):
        parts.write_stage_parts("leads", failing())
    assert not list(parts.stage("leads").parent.glob("leads*"))
