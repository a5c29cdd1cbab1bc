"""Records whose name is unusable after normalisation are rejected with the reason (issue 17,
item 15: a name made only of Hangul fillers was published as a blank-looking lead)."""

import pandas as pd
import pytest

from leadrank.contracts import EXTRACTED
from leadrank.transform.normalise import normalise_records
from leadrank.transform.unusable import INVISIBLE_NAME, UNUSABLE_NAME, split_unusable


def records(names: list[tuple[str | None, str | None]]) -> pd.DataFrame:
    rows = [{c: None for c in EXTRACTED} | {"run_id": "r", "source": "s", "source_kind": "exhibition", "url": "u",
                                            "record_key": f"k{i}", "company_name": name, "company_name_alt": alt,
                                            "raw": "{}"}
            for i, (name, alt) in enumerate(names)]
    return pd.DataFrame(rows, columns=EXTRACTED, dtype=object)


@pytest.mark.parametrize("name", ["\u3164", "\u3164\u3164有限公司", "\uffa0\uffa0", "\u115f\u1160 Co., Ltd.",
                                  "\u3164\u200b\u2800"])
def test_a_name_of_invisible_fillers_is_rejected_with_the_reason(name):
    usable, rejects = split_unusable(normalise_records(records([(name, None), ("深圳市华强电子有限公司", None)])))
    assert list(usable["company_name"]) == ["深圳市华强电子有限公司"]
    assert list(rejects["reason"]) == [INVISIBLE_NAME] and list(rejects["row_ref"]) == ["u k0"]


def test_visible_names_stay_and_the_other_reasons_are_kept():
    usable, rejects = split_unusable(normalise_records(records([
        ("\u3164 Acme Trading", None),  # a filler beside a real name: the name is kept
        ("\u3164", "华强电子"),  # an invisible name with a usable second name
        ("★★★ !!", None),  # symbols only
        ("Müller GmbH", None),
    ])))
    assert list(usable["record_key"]) == ["k0", "k1", "k3"]
    assert list(rejects["reason"]) == [UNUSABLE_NAME]


def test_blank_is_every_character_the_old_pattern_called_blank_and_no_other():
    """unusable.BLANK (trimmed by Arrow) holds exactly the characters of the regular expression
    it replaced: Python's whitespace and the listed fillers, zero-width and joiner characters,
    over every code point (surrogates aside: no text holds them)."""
    import re
    import sys

    from leadrank.transform.unusable import BLANK

    pattern = re.compile("[\\s\u115f\u1160\u3164\uffa0\u17b4\u17b5\u180e\u2800\u200b-\u200f\u2060-\u2064\ufeff]")
    blank = set(BLANK)
    differ = [hex(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF
              and (chr(c) in blank) != bool(pattern.fullmatch(chr(c)))]
    assert differ == [] and len(blank) == len(BLANK)


def test_visible_tells_a_displayed_character_anywhere_from_none():
    """A displayed character at the start, middle or end of blanks counts; blanks alone, the
    empty core and a missing one do not; Arrow-backed text and Python strings alike."""
    from leadrank.transform.unusable import _visible

    cores = ["\u3164", "\u3164a", "a\u3164", "\u3164\u200ba\u3000", "\u2800 \u3000\ufeff", "", None, "华强", " \t\n"]
    expected = [False, True, True, True, False, False, False, True, False]
    assert list(_visible(pd.Series(cores, dtype=object))) == expected
    assert list(_visible(pd.Series(cores, dtype="str"))) == expected


@pytest.mark.parametrize("name", ["N/A", "n.a.", "-", "请选择", "未知", "Unknown", "NULL"])
def test_a_placeholder_for_a_name_is_no_name(name):
    """What a form or an export writes where no name was entered is no company: rejected with the
    reason unless a second name is given; names that only begin like one stay."""
    usable, rejects = split_unusable(normalise_records(records([
        (name, None), (name, "华强电子有限公司"), ("Unknown Worlds Entertainment", None), ("NASA", None)])))
    assert list(usable["record_key"]) == ["k1", "k2", "k3"]
    assert list(rejects["reason"]) == [UNUSABLE_NAME] and "placeholder" in UNUSABLE_NAME
