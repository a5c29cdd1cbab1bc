"""Which lead a company row names: one rule for financial statements and CRM outcomes.

A statement or an outcome row names a company by 统一社会信用代码 and/or name; the same row must
reach the same lead whichever file it comes from. Precedence, first that finds a lead:
  1. the row's valid 统一社会信用代码 equals a lead's valid code (`uscc`, `uscc_valid`);
  2. the row's name core equals the lead's Chinese name core (`name_core_zh`, else parsed from
     `company_name_zh`; a lead without a Chinese name uses its `name_core` here);
  3. the row's name core equals the lead's own `name_core` (an English name, or the other one).
A row's name core is that of its company name without the exchanges' ST marks (*ST新都 is 新都).
An invalid code is never used: it may be a typo of another company's.

Tie rule, when several leads share the key at the level that decides: an active lead before a
merged or expired one (when `status` is given), then a lead without a valid code of its own
(a lead with one is reached by its code; a row without the code is more likely the one no code
reaches), then the smallest lead_id (stable night after night). So a row reaches one lead,
never several.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from leadrank.transform.identifiers import normalise_usccs
from leadrank.transform.names import chinese_name_cores, name_cores

LEVELS = ("uscc", "name_zh", "name_core")  # precedence, best first
_ST_PREFIX = re.compile(r"^\s*\*?S?\*?ST\s*", re.I)  # *ST新都 is 新都 under special treatment


def row_name_cores(names: pd.Series) -> np.ndarray:
    """Core of each row's company name, without the ST marks exchanges put before it."""
    cleaned = names.map(lambda v: _ST_PREFIX.sub("", v) if isinstance(v, str) and v.strip() else None)
    return name_cores(cleaned)


class LeadIndex:
    """The leads keyed by code and name cores, each key holding the one lead the tie rule picks."""

    def __init__(self, leads: pd.DataFrame) -> None:
        valid = leads["uscc_valid"].fillna(False).astype(bool).to_numpy()
        inactive = (leads["status"].fillna("active") != "active").to_numpy() if "status" in leads else False
        order = pd.DataFrame({"inactive": inactive, "coded": valid, "lead_id": leads["lead_id"].to_numpy()})
        order = order.sort_values(["inactive", "coded", "lead_id"], kind="stable").index.to_numpy()
        zh = pd.Series(chinese_name_cores(leads), dtype=object).fillna(pd.Series(leads["name_core"].to_numpy()))
        keys = {"uscc": pd.Series(np.where(valid, leads["uscc"].to_numpy(dtype=object), None)),
                "name_zh": zh, "name_core": pd.Series(leads["name_core"].to_numpy(dtype=object))}
        ids = leads["lead_id"].to_numpy(dtype=object)
        self._by: dict[str, dict[str, str]] = {}
        for level in LEVELS:
            found: dict[str, str] = {}
            for i in order:
                key = keys[level].iloc[i]
                if isinstance(key, str) and key:
                    found.setdefault(key, ids[i])
            self._by[level] = found

    def match(self, uscc: pd.Series, company_name: pd.Series) -> tuple[pd.Series, pd.Series]:
        """(lead_id or None, the level that found it as an index into LEVELS, -1 for none) per row."""
        codes, valid = normalise_usccs(uscc)
        row_keys = {"uscc": np.where(np.asarray(valid, dtype=bool), np.asarray(codes, dtype=object), None),
                    "name_zh": np.asarray(row_name_cores(company_name), dtype=object)}
        row_keys["name_core"] = row_keys["name_zh"]
        leads: list[object] = []
        levels: list[int] = []
        for i in range(len(uscc)):
            found = next(((n, self._by[level][row_keys[level][i]]) for n, level in enumerate(LEVELS)
                          if row_keys[level][i] in self._by[level]), (-1, None))
            levels.append(found[0])
            leads.append(found[1])
        return (pd.Series(leads, index=uscc.index, dtype=object), pd.Series(levels, index=uscc.index, dtype="int64"))
