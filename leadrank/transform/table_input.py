"""Prospect rows from any table, for running entity resolution on its own (`leadrank dedupe`).

Columns named like our fields are used as they are (case and spacing ignored: "Company Name"
is company_name); `mapping` maps other names ("Site name" → company_name). Every row becomes
one record, keyed by its row number, so the output can keep the input's order and rows.
"""

from __future__ import annotations

import re

import pandas as pd

from leadrank.contracts import EXTRACTED, PROSPECT_FIELDS

INPUT_FIELDS = [*PROSPECT_FIELDS, "source"]
_ALIASES = {"name": "company_name", "company": "company_name", "website_url": "website", "url": "website",
            "telephone": "phone", "tel": "phone", "e_mail": "email", "email_address": "email",
            "统一社会信用代码": "uscc", "credit_code": "uscc", "state": "province"}


def _canonical(column: str) -> str:
    key = re.sub(r"[^0-9a-z\u4e00-\u9fff]+", "_", column.strip().lower()).strip("_")
    return _ALIASES.get(key, key)


def records_from_table(table: pd.DataFrame, mapping: dict[str, str] | None = None, *, source: str = "input") -> pd.DataFrame:
    """EXTRACTED records from a table; raises ValueError naming the columns when no name column
    can be found or a mapping names a column the table lacks or a field we do not know."""
    mapping = mapping or {}
    unknown = sorted(set(mapping.values()) - set(INPUT_FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown} in --map; fields are: {', '.join(INPUT_FIELDS)}")
    missing = sorted(set(mapping) - set(table.columns))
    if missing:
        raise ValueError(f"--map names column(s) {missing} not in the input; columns are: {list(table.columns)}")
    chosen: dict[str, str] = {field: column for column, field in mapping.items()}
    for column in table.columns:
        field = _canonical(str(column))
        if field in INPUT_FIELDS and field not in chosen and column not in mapping:
            chosen[field] = column
    if "company_name" not in chosen:
        raise ValueError(
            f"no company name column among {list(table.columns)}; map one with --map 'COLUMN=company_name'"
        )
    n = len(table)
    out = pd.DataFrame(index=range(n), columns=EXTRACTED, dtype=object)
    for field, column in chosen.items():
        values = table[column].astype(object).where(table[column].notna(), None).to_numpy()
        stripped = [v.strip() or None if isinstance(v, str) else (None if v is None else str(v)) for v in values]
        if field == "source":
            out["source"] = stripped
        else:
            out[field] = stripped
    out["source"] = out["source"].fillna(source)
    out["source_kind"] = "input"
    out["run_id"] = "adhoc"
    out["record_key"] = [f"row{i:09d}" for i in range(n)]
    out["raw"] = None
    return out
