"""Numbers as CRM exports write them, for `leadrank model evaluate` and outcome tables.

A column is modelled as a number only when its cells read as numbers; otherwise it becomes a
category, and a number column read as categories loses its order (thousands of levels, often
ignored as an identifier). Exports write numbers for people, not parsers: "¥1,200", "$3.5k",
"3.5万", "１２３" (full-width), "(1,200)" (an accounting negative), "45%", and placeholders
("N/A", "--", "请选择") where nothing was entered. Those placeholders are missing values, not text
that makes the column a category: a revenue column with a fifth of its cells "N/A" is still a
revenue column. Percent signs are dropped (45% reads 45), as units are the column's. A column
that writes decimal commas ("1,5": one and a half, in European exports) is read with them.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

PLACEHOLDERS = {"select", "please select", "choose", "--", "-", "n/a", "na", "none", "null", "nan", "请选择", "未选择"}
NUMBER_SHARE = 0.95  # of the filled cells (placeholders aside) that must read as numbers

_CURRENCY = r"(?:(?:us|hk)?[¥$€£]|rmb|cny|usd|eur|hkd|元|美元|人民币)"
_MULTIPLIERS = {"": 1.0, "%": 1.0, "k": 1e3, "千": 1e3, "万": 1e4, "m": 1e6, "百万": 1e6, "mn": 1e6, "亿": 1e8,
                "bn": 1e9}
_CELL = re.compile(
    rf"^(?P<open>\()?\s*(?P<sign>[+-])?\s*{_CURRENCY}?\s*(?P<number>\d+(?:\.\d*)?|\.\d+)(?:e(?P<exp>[+-]?\d+))?"
    rf"\s*(?P<unit>%|k|千|万|百万|mn|m|亿|bn)?\s*{_CURRENCY}?\s*(?P<close>\))?$")


# A comma that can only be a decimal one: not a group of three digits after it ("1,5", "12,25",
# "0,1257") and no other comma (India groups by two: "1,23,456"), or after a dot that groups
# thousands ("1.234,5").
_DECIMAL_COMMA = re.compile(r"\d,(?:\d{1,2}|\d{4,})(?![\d,])|\d\.\d{3},\d")
# A dot that can only be a decimal one ("2.5", "0.1257", "1,234.5").
_DECIMAL_DOT = re.compile(r"\.(?:\d{1,2}|\d{4,})(?!\d)|\d,\d{3}\.\d")


def _writes_decimal_commas(texts: list[str]) -> bool:
    """Whether a column writes its decimals with a comma (European exports: "1,5" is one and a
    half, not fifteen; "1.234,5" is a thousand and more): some cell has a comma only a decimal
    one could be, and no cell a dot only a decimal one could be. "1,200" alone stays 1200."""
    return any(_DECIMAL_COMMA.search(t) for t in texts) and not any(_DECIMAL_DOT.search(t) for t in texts)


def number_cells(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(each cell as a float (NaN where none), which cells are filled, which filled cells are
    not numbers). Filled: neither blank nor a placeholder. Parsed once per distinct text; a
    column that writes decimal commas (`_writes_decimal_commas`) has them read as decimal points."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    texts = [unicodedata.normalize("NFKC", str(u)).strip().casefold() for u in uniques]
    if _writes_decimal_commas(texts):  # (dots, if any, group thousands)
        texts = [t.replace(".", "").replace(",", ".") for t in texts]
    parsed = [_parse(t) for t in texts]
    numbers = np.array([n for n, _ in parsed] + [np.nan])  # (na codes are -1: the appended "missing")
    filled = np.array([f for _, f in parsed] + [False])
    number = pd.Series(numbers[codes], index=values.index, dtype=float)
    is_filled = pd.Series(filled[codes], index=values.index, dtype=bool)
    return number, is_filled, is_filled & number.isna()


def _parse(text: str) -> tuple[float, bool]:
    """(the cell's number or NaN, whether it is filled), of its text as `number_cells` cleans it
    (NFKC, stripped, case-folded)."""
    if not text or text in PLACEHOLDERS:
        return np.nan, False
    match = _CELL.match(text.replace(",", "").replace("_", "").replace("\u202f", "").replace("'", ""))
    if match is None or bool(match["open"]) != bool(match["close"]):
        return np.nan, True
    value = float(match["number"] + (f"e{match['exp']}" if match["exp"] else "")) * _MULTIPLIERS[match["unit"] or ""]
    if not np.isfinite(value):  # ("1e999": no number a model can take)
        return np.nan, True
    return (-value if match["open"] or match["sign"] == "-" else value), True
