"""Records that cannot be used: rejected with the reason after normalisation, never passed on.

A record is unusable when neither its name nor its alternative name keeps a core to compare
(only punctuation, symbols, emoji or a legal form once normalised): it could only become a
nameless lead, or be matched on a phone number alone. A core made only of characters that
display as nothing counts as none: the Hangul fillers (U+3164 and its half-width and jamo forms)
are letters to Unicode, so they survive normalisation, and would be published as a blank-looking
lead. Such records go to the rejects table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from leadrank.contracts import REJECT_COLUMNS
from leadrank.key_lookup import large_text

UNUSABLE_NAME = ("company name unusable: no letter or digit is left once normalised "
                 "(only punctuation, symbols, emoji, a legal form or a placeholder such as N/A)")
INVISIBLE_NAME = ("company name unusable: only characters that display as nothing "
                  "(such as the Hangul filler U+3164) are left once normalised")
# Letters and marks that render blank: Hangul fillers (choseong, jungseong, compatibility,
# half-width), Khmer inherent vowels, Mongolian vowel separator, braille blank, and the
# zero-width and word-joiner characters, besides whitespace (what Python's str.isspace calls
# whitespace, all of it below U+3001).
BLANK = "".join(sorted({*"\u115f\u1160\u3164\uffa0\u17b4\u17b5\u180e\u2800\ufeff",
                        *map(chr, [*range(0x200B, 0x2010), *range(0x2060, 0x2065)]),
                        *(c for c in map(chr, range(0x3001)) if c.isspace())}))


def _visible(cores: pd.Series) -> np.ndarray:
    """Whether each core has a character that displays (False for missing cores): what is left
    once blank characters are trimmed from both ends, by Arrow over the text as stored (a
    regular expression over Python strings took 1 s for a night's 1.4M records' two cores)."""
    left = pc.utf8_trim(large_text(cores), characters=BLANK)
    return pc.fill_null(pc.greater(pc.utf8_length(left), 0), False).to_numpy(zero_copy_only=False)


def split_unusable(normalised: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(records usable for resolution, rejects with the reason: REJECT_COLUMNS, stage 'normalise')."""
    missing = normalised["name_core"].isna() & normalised["name_alt_core"].isna()
    unusable = ~_visible(normalised["name_core"]) & ~_visible(normalised["name_alt_core"])
    bad = normalised[unusable]
    rejects = pd.DataFrame({
        "run_id": bad["run_id"], "source": bad["source"], "stage": "normalise",
        "row_ref": bad["url"].fillna("").astype(str) + " " + bad["record_key"].astype(str),
        "reason": missing[unusable].map({True: UNUSABLE_NAME, False: INVISIBLE_NAME}), "raw": bad["raw"],
    }, columns=REJECT_COLUMNS, dtype=object)
    usable = normalised[~unusable] if unusable.any() else normalised  # no copy of a million rows for none
    return usable.reset_index(drop=True), rejects.reset_index(drop=True)
