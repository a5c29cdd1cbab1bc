"""Records that cannot be used: rejected with the reason after normalisation, never passed on.

A record is unusable when neither its name nor its alternative name keeps a core to compare
(only punctuation, symbols, emoji or a legal form once normalised): it could only become a
nameless lead, or be matched on a phone number alone. Such records go to the rejects table.
"""

from __future__ import annotations

import pandas as pd

from leadrank.contracts import REJECT_COLUMNS

UNUSABLE_NAME = ("company name unusable: no letter or digit is left once normalised "
                 "(only punctuation, symbols, emoji or a legal form)")


def split_unusable(normalised: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(records usable for resolution, rejects with the reason: REJECT_COLUMNS, stage 'normalise')."""
    unusable = normalised["name_core"].isna() & normalised["name_alt_core"].isna()
    bad = normalised[unusable]
    rejects = pd.DataFrame({
        "run_id": bad["run_id"], "source": bad["source"], "stage": "normalise",
        "row_ref": bad["url"].fillna("").astype(str) + " " + bad["record_key"].astype(str),
        "reason": UNUSABLE_NAME, "raw": bad["raw"],
    }, columns=REJECT_COLUMNS, dtype=object)
    return normalised[~unusable].reset_index(drop=True), rejects.reset_index(drop=True)
