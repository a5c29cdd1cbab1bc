"""The reasons rule (docs/scoring.md): a factor is listed for a lead only when its value is
favourable, against it only when its value is unfavourable, whatever the sign of its effect."""

import json

import numpy as np
import pandas as pd

from leadrank.config import ScoringConfig
from leadrank.scoring.explain import LABELS, Factors, reasons
from leadrank.scoring.priority import score_leads
from tests.test_scoring import lead, statements

GOOD_WORDS = {good[1] for good, _ in LABELS.values()}
BAD_WORDS = {bad[1] for _, bad in LABELS.values()}


def test_an_effect_against_the_value_is_not_worded_as_a_reason():
    index = pd.RangeIndex(4)
    factors = Factors(index)
    # strong ratios that the model holds against the lead, and no statements that raise it
    factors.add("financials", pd.Series([-0.2, 0.2, -0.2, 0.2]), pd.Series([True, True, False, False]))
    factors.add("coverage", pd.Series([0.1, -0.1, 0.1, -0.1]), pd.Series([False, False, True, True]))
    got = reasons(factors)
    for_ = [[item["en"] for item in json.loads(v)] for v in got["reasons_for"]]
    against = [[item["en"] for item in json.loads(v)] for v in got["reasons_against"]]
    assert for_ == [[], ["strong financial ratios"], ["complete financials"], []]
    assert against == [[], ["no financial statements"], ["weak financial ratios"], []]
    assert "−strong financial ratios" not in " ".join(got["top_reasons"])


def test_no_scored_lead_has_a_favourable_word_against_it_or_an_unfavourable_one_for_it():
    rng = np.random.default_rng(7)
    leads, rows, outcomes = [], [], []
    for i in range(80):
        leads.append(lead(f"L{i:02d}", f"公司{i:02d}", n_sources=1 + i % 3))
        if i % 2 == 0:
            margin = rng.uniform(-0.1, 0.3)
            rows.append(statements(company_name=f"公司{i:02d}", net_profit=2000.0 * margin).iloc[0])
        # won deals go with *low* margins and single sources: the model's effects run against the values
        outcomes.append({"lead_id": f"L{i:02d}", "outcome": "won" if (i % 3 == 0) != (i % 4 == 0) else "lost",
                         "outcome_date": None})
    result = score_leads(pd.DataFrame(leads), pd.DataFrame(rows), pd.DataFrame(outcomes), ScoringConfig())
    seen_for, seen_against = set(), set()
    for row in result.scores.itertuples():
        seen_for |= {item["en"] for item in json.loads(row.reasons_for)}
        seen_against |= {item["en"] for item in json.loads(row.reasons_against)}
    assert seen_for and seen_against
    assert seen_for <= GOOD_WORDS and seen_against <= BAD_WORDS
