"""Matching a million records a part at a time (issue 14's 2.5 GiB at 1.4M records): blocks paired
in parts, pairs scored in parts, their flags packed in bits and the pairs clustering adds
appended in place give exactly what one pass over everything gives."""

import numpy as np
import pandas as pd
import pytest

from bench.generate_independent import generate
from leadrank.config import ResolutionConfig
from leadrank.transform import clustering, matching
from leadrank.transform.matching import Features, Flags, Pairs, candidate_pairs, score_pairs
from leadrank.transform.normalise import normalise_records
from leadrank.transform.table_input import records_from_table


@pytest.fixture(scope="module")
def features() -> Features:
    """Many records per company, typos, abbreviations, names-only rows: every block has pairs."""
    table = generate(300, seed=4).drop(columns=["true_id"])
    return Features(normalise_records(records_from_table(table)).reset_index(drop=True))


def test_blocks_paired_in_parts_give_the_pairs_of_one_pass(features, monkeypatch):
    cfg = ResolutionConfig()
    whole = candidate_pairs(features, cfg)
    assert len(whole[0]) > 1000
    monkeypatch.setattr(matching, "PART_ROWS", 7)
    parts = candidate_pairs(features, cfg)
    assert np.array_equal(parts[0], whole[0]) and np.array_equal(parts[1], whole[1])


def test_pairs_scored_in_parts_score_as_one_pass(features, monkeypatch):
    cfg = ResolutionConfig()
    left, right = candidate_pairs(features, cfg)
    whole = score_pairs(features, left, right, cfg)
    monkeypatch.setattr(matching, "SCORE_PART", 97)
    parts = score_pairs(features, left, right, cfg)
    for name in ("score", "name_sim", "conflict"):
        assert np.array_equal(getattr(parts, name), getattr(whole, name)), name
    assert parts.features.names == whole.features.names
    assert np.array_equal(parts.features.bits, whole.features.bits)
    assert whole.features["name="].any() and whole.features["name~"].any() and whole.conflict.any()


def test_flags_read_back_as_the_bool_arrays_they_were_packed_from():
    rng = np.random.default_rng(0)
    flags = {f"f{k}": rng.random(50) < 0.3 for k in range(32)}
    packed = Flags.pack(flags)
    assert packed.bits.dtype == np.uint32 and list(packed) == list(flags) and len(packed) == 32
    assert all(np.array_equal(packed[name], values) for name, values in flags.items())
    assert np.array_equal(packed.take(np.array([3, 1]))["f31"], flags["f31"][[3, 1]])
    assert "f3" in packed and "nope" not in packed and packed.get("nope") is None
    with pytest.raises(ValueError, match="33 evidence flags"):
        Flags.pack({**flags, "one_more": flags["f0"]})
    pairs = Pairs(np.arange(50), np.arange(50) + 1, np.zeros(50, np.float32), flags, np.zeros(50, np.float32),
                  np.zeros(50, bool))
    assert isinstance(pairs.features, Flags) and np.array_equal(pairs.features["f7"], flags["f7"])


def test_pairs_extended_in_place_equal_the_sum(features):
    cfg = ResolutionConfig()
    left, right = candidate_pairs(features, cfg)
    a, b = score_pairs(features, left[:40], right[:40], cfg), score_pairs(features, left[40:90], right[40:90], cfg)
    total = a + b
    a.extend(b)
    for name in ("left", "right", "score", "name_sim", "conflict"):
        assert np.array_equal(getattr(a, name), getattr(total, name)), name
    assert np.array_equal(a.features.bits, total.features.bits) and len(a.left) == 90


def test_name_words_and_one_letter_out_keys_come_once_per_name():
    cores = np.array(["grocxxon xiosbry", "acme tools acme", "xiangbo trading", "ab", "深圳华强", None], dtype=object)
    rows, words = matching._name_tokens(cores)
    pairs = list(zip(rows.tolist(), words.tolist(), strict=True))
    assert len(pairs) == len(set(pairs))
    assert (0, "~grocxonxiosbry") in pairs  # either x left out: one key
    assert (0, "~grocxxonxiosbry") in pairs and (0, "~gocxxonxiosbry") in pairs and (0, "~rocxxonxiosbry") not in pairs
    assert [w for r, w in pairs if r == 1] == ["acme", "tools", "~acmetoolsacme", "~ametoolsacme",
                                                   "~acetoolsacme", "~acmtoolsacme"]  # a word again: once
    assert not [w for r, w in pairs if r == 2 and w.startswith("~")]  # a pinyin first word: no typo keys
    assert [w for r, w in pairs if r == 3] == ["ab"] and not [r for r, _ in pairs if r >= 4]
    code_rows, codes, dictionary = matching._token_codes(cores)
    assert np.array_equal(code_rows, rows) and dictionary.take(codes).to_pylist() == words.tolist()


def test_the_evidence_names_the_strongest_edge_and_the_first_of_equals():
    pairs = Pairs(np.array([0, 0, 1, 3]), np.array([1, 2, 2, 4]), np.array([10, 10, 6, 7], np.float32),
                  {"phone": np.array([True, False, False, True]), "name=": np.array([False, True, True, False])},
                  np.array([80, 100, 100, 90], np.float32), np.zeros(4, bool))
    keys = np.array(["r0", "r1", "r2", "r3", "r4"], dtype=object)
    evidence = clustering._evidence(5, pairs, np.array([0, 1, 2, 3]), keys)
    assert evidence == ["r1: phone (10.0)", "r0: phone (10.0)", "r0: name= (10.0)", "r4: phone (7.0)",
                        "r3: phone (7.0)"]
    assert clustering._evidence(5, pairs, np.array([2]), keys) == ["", "r2: name= (6.0)", "r1: name= (6.0)", "", ""]


def test_evidence_lists_shown_flags_in_order_with_the_similarity_of_name_flags():
    """Written once per distinct combination of flags and similarity, read the same for every pair."""
    flags = {"uscc": [True, False, True, True], "_city=": [True, True, True, False], "domain≠": [True, False, True, False],
             "name~": [True, False, True, False], "name≠": [False, True, False, False], "city≠": [True, True, True, False]}
    pairs = Pairs(np.arange(4), np.arange(4) + 1, np.zeros(4, np.float32), {k: np.array(v) for k, v in flags.items()},
                  np.array([92.7, 40, 92.2, -1], np.float32), np.zeros(4, bool))
    assert pairs.evidence(np.array([0, 1, 2, 3, 0])) == ["uscc,name~92,city≠", "name≠40,city≠", "uscc,name~92,city≠",
                                                         "uscc", "uscc,name~92,city≠"]
    assert pairs.evidence(np.array([], dtype=np.int64)) == []


def test_alternative_names_block_with_both_name_columns_and_add_no_core_block_twice():
    """Only blocks that hold an alternative name are made by `either_name`: the blocks without one
    are the core-name block's, so the candidate pairs are those of every block of both columns."""
    core = np.array(["acme", "acme", "beta", "gamma", "delta", "delta"], dtype=object)
    alt = np.array([None, None, "gamma", None, None, None], dtype=object)
    table = pd.DataFrame({"company_name": ["x"] * 6})
    frame = normalise_records(records_from_table(table)).reset_index(drop=True)
    frame["name_core"], frame["name_alt_core"] = core, alt
    f = Features(frame)
    cfg = ResolutionConfig()
    either = matching.block_keys(f, cfg)["either_name"]()
    assert sorted(either.tolist()) == [2 * f.n + 3]  # beta's alternative name is gamma's core name
    left, right = candidate_pairs(f, cfg)
    assert {(0, 1), (2, 3), (4, 5)} <= set(zip(left.tolist(), right.tolist(), strict=True))
    frame["name_alt_core"] = None
    assert len(matching.block_keys(Features(frame), cfg)["either_name"]()) == 0


def test_clustering_appends_the_pairs_it_scores_and_keeps_the_candidates_scores(features):
    """`cluster` scores pairs inside small components that blocking did not compare and appends
    them to the pairs it was given; the candidate pairs' own scores stay first, unchanged."""
    cfg = ResolutionConfig()
    left, right = candidate_pairs(features, cfg)
    pairs = score_pairs(features, left, right, cfg)
    before = pairs.score.copy()
    clustering.cluster(features.n, pairs, cfg.match_threshold, np.arange(features.n).astype(str).astype(object),
                       lambda a, b: score_pairs(features, a, b, cfg), cfg.bridge_margin)
    assert len(pairs.score) > len(before) and np.array_equal(pairs.score[:len(before)], before)
    assert pd.Series(pairs.left * features.n + pairs.right).is_unique


@pytest.mark.parametrize("shuffled", [False, True])
def test_unscored_pairs_are_the_pairs_inside_small_components_that_were_not_scored(shuffled):
    """Looked up in the scored pairs' code order, whether blocking gave them sorted or not."""
    labels = np.array([0, 0, 0, 0, 4, 4, 4, 7, 7, 9])  # components of 4, 3, 2 and 1 records
    left, right = np.array([0, 0, 1, 4, 7]), np.array([1, 3, 2, 6, 8])
    order = np.array([4, 2, 0, 3, 1]) if shuffled else np.arange(5)
    k = len(left)
    pairs = Pairs(left[order], right[order], np.zeros(k, np.float32), {"name=": np.zeros(k, bool)},
                  np.zeros(k, np.float32), np.zeros(k, bool))
    lo, hi = clustering._unscored_pairs(labels, pairs, len(labels))
    assert sorted(zip(lo.tolist(), hi.tolist(), strict=True)) == [(0, 2), (1, 3), (2, 3), (4, 5), (5, 6)]


def test_pair_rows_are_int32_and_the_codes_made_from_them_do_not_overflow():
    """Row numbers are kept as int32; i·n + j past 2**31 must still be exact (int64)."""
    n = 3_000_000
    labels = np.arange(n, dtype=np.int64)
    labels[[n - 3, n - 2, n - 1]] = n - 3  # one component of three records at the very end
    pairs = Pairs(np.array([n - 3]), np.array([n - 2]), np.zeros(1, np.float32), {"name=": np.zeros(1, bool)},
                  np.zeros(1, np.float32), np.zeros(1, bool))
    assert pairs.left.dtype == np.int32
    lo, hi = clustering._unscored_pairs(labels, pairs, n)
    assert sorted(zip(lo.tolist(), hi.tolist(), strict=True)) == [(n - 3, n - 1), (n - 2, n - 1)]


def test_weak_bridges_give_the_components_of_the_edges_they_keep():
    """The components `_without_weak_bridges` returns (built from its groups) are scipy's
    components of the edges it keeps, numbered alike, and a lone weak edge between two dense
    groups is cut while a doubled one is kept."""
    rng = np.random.default_rng(5)
    n = 400
    left, right = rng.integers(12, n, 900), rng.integers(12, n, 900)  # random edges away from rows 0..11
    # Two triangles joined by one weak edge (2-5), two more joined by two weak edges (8-11, 9-12).
    extra = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 5), (6, 7), (7, 8), (6, 8), (9, 10), (10, 11),
             (9, 11), (8, 11), (7, 10)]
    left = np.r_[left, [a for a, _ in extra]]
    right = np.r_[right, [b for _, b in extra]]
    keep = left != right
    lo, hi = np.minimum(left, right)[keep], np.maximum(left, right)[keep]
    score = rng.choice(np.array([5.0, 9.0, 14.0], np.float32), len(lo))
    score[-len(extra):] = [14, 14, 14, 14, 14, 14, 9, 14, 14, 14, 14, 14, 14, 9, 9]
    pairs = Pairs(lo, hi, score, {"name=": np.zeros(len(lo), bool)}, np.zeros(len(lo), np.float32),
                  np.zeros(len(lo), bool))
    match = np.flatnonzero(score >= 8)
    kept, labels = clustering._without_weak_bridges(n, pairs, match, 12.0)
    assert np.array_equal(labels, clustering._components(n, pairs.left[kept], pairs.right[kept]))
    cut = set(match.tolist()) - set(kept.tolist())
    assert len(lo) - 9 in cut  # the (2, 5) bridge
    assert {len(lo) - 2, len(lo) - 1}.isdisjoint(cut)  # (8, 11) and (7, 10): two weak edges, kept


def test_the_statistics_of_an_empty_population_are_empty():
    keys = pd.DataFrame({c: pd.Series([], dtype=object) for c in matching.KEY_COLUMNS}).assign(zh=pd.Series([], dtype=bool))
    stats = matching.population_stats(keys)
    assert len(stats) == 0 and list(stats.columns) == matching.STAT_COLUMNS
