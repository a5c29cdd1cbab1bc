"""The evaluation sets of issue 14: the independent generator is deterministic per seed and
really produces each error class and each kind of hard negative it promises."""

import re

import pandas as pd
import phonenumbers
import pytest

from bench.generate_independent import DESCRIPTORS, INDUSTRIES, generate, parse_size


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate(1500, seed=3)


def test_same_seed_same_file_other_seed_other_file():
    assert generate(200, seed=5).equals(generate(200, seed=5))
    assert not generate(200, seed=5).equals(generate(200, seed=6))
    assert parse_size("10k") == 10_000 and parse_size("1m") == 1_000_000 and parse_size("2500") == 2500


def test_columns_feed_leadrank_dedupe_and_names_only_has_just_the_name():
    full = generate(100, seed=1)
    assert list(full.columns) == ["company_name", "website", "phone", "email", "city", "country", "source", "true_id"]
    only = generate(100, seed=1, names_only=True)
    assert list(only.columns) == ["company_name", "true_id"]
    assert only["company_name"].tolist() == full["company_name"].tolist()


def _within_one_company(frame: pd.DataFrame, pattern_a: str, pattern_b: str, column: str = "company_name") -> bool:
    """Some company has one record matching pattern_a and another matching pattern_b."""
    a = set(frame.loc[frame[column].str.contains(pattern_a, regex=True), "true_id"])
    b = set(frame.loc[frame[column].str.contains(pattern_b, regex=True), "true_id"])
    return bool(a & b)


def test_every_error_class_occurs(frame):
    names = frame["company_name"]
    others = frame[["website", "phone", "email", "city", "country"]]
    assert 0.3 < (others == "").all(axis=1).mean() < 0.6                         # names-only rows
    assert frame.groupby(["true_id", "company_name"]).size().max() >= 15          # one spelling listed many times
    assert _within_one_company(frame, r"\bN\.V\.$", r"\bNV$") or _within_one_company(frame, r"\bB\.V\.$", r"\bBV$")
    forms = [r"GmbH", r"\bAG\b", r"S\.p\.A\.", r"\bOy\b", r"\bAB\b", r"A/S", r"K\.K\.", r"Pty Ltd", r"S\.à r\.l\.",
             r"Sp\. z o\.o\.", r"\bplc\b", r"\bLLC\b", r"Inc\.", r"有限公司", r"股份有限公司"]
    assert all(names.str.contains(form).any() for form in forms)
    assert _within_one_company(frame, r"\bTech\.", r"Technologies")
    assert _within_one_company(frame, r"\bIntl\b", r"International")
    listed = {w for spellings in INDUSTRIES.values() for w in spellings}
    words = {w for n in names for w in n.split()}
    made_up = {w for w in words if any(full.startswith(w.rstrip(".")) and w not in listed
                                       for full in INDUSTRIES if len(w.rstrip(".")) >= 3 and w[0].isupper())}
    assert len(made_up) >= 10                                                     # drawn abbreviations
    assert names.str.contains(r"\bS\. p\. A\.|\bG\. m\. b\. H\.|\bs\.p\.a\.|\bspa\b").any()      # re-spelled forms
    assert names.str.startswith("* ").any() and names.str.startswith('"').any()
    assert names.str.contains(r", [A-Z]{4,}$").any() and names.str.contains(r",[A-Z]{2}$").any()
    assert _within_one_company(frame, r"^深圳市", r"^[^深].*有限公司$") or _within_one_company(frame, r"^上海市", r"^[^上].*有限公司$")
    assert _within_one_company(frame, r"[\u4e00-\u9fff]", r"^[A-Za-z\"'* ]+")                       # Chinese beside pinyin
    assert _within_one_company(frame, r"^www\.", r"^https://", "website")
    assert _within_one_company(frame, r"^00", r"^\+", "phone")
    national = frame["phone"].str.match(r"^0[1-9]")
    assert national.any()
    # typos: one company, two spellings of its distinctive word at edit distance one
    by_company = frame[~frame["company_name"].str.contains(r"[\u4e00-\u9fff]")].groupby("true_id")["company_name"]
    first_words = by_company.agg(lambda s: {re.sub(r"[^a-z]", "", n.lower().split()[0]) for n in s if n.split()})
    assert any(len(w) == 2 and abs(len(min(w)) - len(max(w))) <= 1 for w in first_words)


def _shared_by_different_companies(frame: pd.DataFrame, key: pd.Series) -> int:
    keyed = frame.assign(key=key)[key != ""]
    return int((keyed.groupby("key")["true_id"].nunique() > 1).sum())


def test_hard_negatives_occur(frame):
    def e164(text: str) -> str:
        try:
            return phonenumbers.format_number(phonenumbers.parse(text, None if text.startswith("+") else "ZZ"),
                                              phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            return ""
    international = frame["phone"].str.replace(r"^00", "+", regex=True)
    assert _shared_by_different_companies(frame, international.map(e164)) >= 3              # business centres
    hosts = frame["website"].str.lower().str.replace(r"^(https?://)?(www\.)?", "", regex=True).str.split("/").str[0]
    assert _shared_by_different_companies(frame, hosts) >= 2                                 # units on one domain
    words = frame["company_name"].str.replace(r"[^A-Za-z ]", "", regex=True).str.split().str[0].fillna("").str.title()
    generic = frame.assign(word=words, town=frame["city"].str.upper())[frame["city"] != ""]
    twins = generic.groupby(["word", "town"])["true_id"].nunique()
    assert (twins[twins.index.get_level_values(0).isin(DESCRIPTORS)] > 1).sum() >= 2          # generic-word twins


# --- the evaluation ---------------------------------------------------------------------------------

def test_scores_of_a_hand_made_clustering():
    from bench.eval_dedupe_sets import markdown, minimum, scores

    truth = pd.Series(["a", "a", "a", "b", "b", "c"])
    # a split in two, b whole, c alone: 4 true pairs, 2 predicted, both right
    split = scores(truth, [1, 1, 2, 3, 3, 4])
    assert (split["precision"], split["recall"], split["f1"]) == (1.0, 0.5, 0.6667)
    # everything in one cluster: 15 predicted pairs, 4 of them right
    lumped = scores(truth, [0] * 6)
    assert (lumped["precision"], lumped["recall"], lumped["f1"]) == (0.2667, 1.0, 0.4211)
    report = {"one": {"records": 6, "entities": 3, "leadrank": split, "baseline": lumped},
              "two": {"records": 6, "entities": 3, "leadrank": lumped, "baseline": split}}
    assert minimum(report, "leadrank") == {"set": "two", "precision": 0.2667, "recall": 1.0, "f1": 0.4211}
    assert minimum(report, "splink") is None
    assert "| **minimum** | | | **0.421** (two) | **0.421** (one) |" in markdown(report)


def test_baseline_joins_token_sets_and_keeps_empty_names_apart():
    from bench.eval_dedupe_sets import baseline_clusters

    names = pd.Series(["Voupri Trading GmbH", "VOUPRI TRADING GMBH", "* Voupri Trading", "Stocratec Trading Ltd",
                       "", None, "深圳市宏智宇机械有限公司"])
    labels = baseline_clusters(names)
    assert labels[0] == labels[1] == labels[2]            # case, noise and a missing legal form: token set ⊂
    assert len({labels[0], labels[3], labels[4], labels[5], labels[6]}) == 5


def _dsei_fixture(root, names_2023, names_2025):
    import json

    folder = root / "exhibitions"
    folder.mkdir(parents=True)
    for year, names in ((2023, names_2023), (2025, names_2025)):
        items = [{"name": n, "country": {"iso2": "GB"}, "website": f"https://{n.split()[0].lower()}.com"} for n in names]
        (folder / f"caat_dsei-{year}.json").write_text(json.dumps({"exhibitor": items}), encoding="utf-8")


def test_dsei_labels_rebuild_the_truth_and_refuse_stale_or_contradicting_labels(tmp_path):
    from bench.dsei_editions import evaluation_frame, pair_check

    _dsei_fixture(tmp_path, ["Acme Ltd", "Bolt", "Crux"], ["ACME", "Bolt Group", "Crux Systems"])
    labels = tmp_path / "labels.csv"

    def write(rows):
        lines = ["edition_a,row_a,edition_b,row_b,same,how,check"]
        names = {2023: ["Acme Ltd", "Bolt", "Crux"], 2025: ["ACME", "Bolt Group", "Crux Systems"]}
        for ea, ra, eb, rb, same in rows:
            lines.append(f"{ea},{ra},{eb},{rb},{same},hand,{pair_check(names[ea][ra], names[eb][rb])}")
        labels.write_text("\n".join(lines) + "\n", encoding="utf-8")

    write([(2023, 0, 2025, 0, 1), (2023, 1, 2025, 1, 0), (2023, 2, 2025, 2, -1)])
    frame = evaluation_frame(tmp_path, labels)
    assert frame["company_name"].tolist() == ["Acme Ltd", "Bolt", "ACME", "Bolt Group"]   # the undecided pair left out
    truth = frame["truth"].tolist()
    assert truth[0] == truth[2] and len(set(truth)) == 3
    assert evaluation_frame(tmp_path / "absent", labels) is None

    write([(2023, 0, 2025, 0, 1), (2023, 0, 2025, 1, 1), (2025, 0, 2025, 1, 0)])
    with pytest.raises(ValueError, match="joined through other labels"):
        evaluation_frame(tmp_path, labels)
    labels.write_text(labels.read_text(encoding="utf-8").replace(pair_check("Acme Ltd", "ACME"), "0000000000"),
                      encoding="utf-8")
    with pytest.raises(ValueError, match="no longer match"):
        evaluation_frame(tmp_path, labels)


def test_harness_refuses_to_report_nothing(tmp_path, capsys):
    from bench.eval_dedupe_sets import main

    with pytest.raises(SystemExit):
        main(["--realdata", str(tmp_path), "--sets", "chicago", "dsei", "--workdir", str(tmp_path / "w"),
              "--out", str(tmp_path / "out")])
    assert "no set to run" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_harness_scores_leadrank_and_the_baseline_on_a_small_set(tmp_path, capsys):
    import json

    from bench.eval_dedupe_sets import main

    main(["--realdata", str(tmp_path), "--sizes", "60", "--sets", "independent-names", "--no-splink",
          "--workdir", str(tmp_path / "w"), "--out", str(tmp_path / "out")])
    report = json.loads(next((tmp_path / "out").glob("eval-sets-*.json")).read_text(encoding="utf-8"))
    result = report["sets"]["independent-names-60"]
    assert result["entities"] == 60 and result["records"] > 60
    assert result["leadrank"]["peak_mb"] > 0 and 0 < result["leadrank"]["f1"] <= 1
    assert report["minimum"]["baseline"]["set"] == "independent-names-60" and report["minimum"]["splink"] is None
    assert "| independent-names-60 |" in capsys.readouterr().out
