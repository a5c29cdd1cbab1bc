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
