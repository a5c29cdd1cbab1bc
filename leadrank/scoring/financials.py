"""Financial statements in, one row per company and year out, in yuan.

Statements arrive as flat tables (one row per company, like tushare exports) with columns
mapped in the config, keyed by 统一社会信用代码, stock code or name. Units (元, 万元, 百万元) are
declared per file or per field and normalised to yuan. A cell with text where a number belongs
is reported (file, row, column, value), counted, and read as missing: the rest of the row and
the rest of the file still count.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from leadrank.config import FinancialsConfig

UNIT_FACTORS = {"元": 1.0, "yuan": 1.0, "千元": 1e3, "万元": 1e4, "百万元": 1e6, "million": 1e6, "亿元": 1e8}
AMOUNT_FIELDS = [
    "total_assets", "current_assets", "revenue", "cost_of_sales", "net_profit",
    "accounts_receivable", "inventory", "revenue_prev",
]
KEY_FIELDS = ["uscc", "stock_code", "company_name", "industry", "year"]
# Ratios some sources publish ready-made; taken as they are when the amounts are missing.
PRECOMPUTED = ["collection_days", "inventory_days", "net_margin_pct"]
FINANCIAL_COLUMNS = ["financials_source", *KEY_FIELDS, *AMOUNT_FIELDS, *PRECOMPUTED]
REJECT_COLUMNS = ["source", "stage", "row_ref", "reason", "raw"]
_MISSING = {"", "--", "-", "—", "nan", "none", "null", "n/a", "na"}


def read_text_table(path: Path, encoding: str | None, sep: str) -> pd.DataFrame:
    """A CSV as strings, trying UTF-8 (with or without BOM) then GB18030 unless told."""
    data = path.read_bytes()
    encodings = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    for enc in encodings:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    raise ValueError(f"{path}: not UTF-8 or GB18030; set `encoding:` for this file")


def read_table(path: Path, encoding: str | None = None, sep: str = ",") -> pd.DataFrame:
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        return pd.read_excel(path, dtype=str).fillna("")
    return read_text_table(path, encoding, sep)


def parse_number(value: object) -> float | None:
    """'1,234.5' → 1234.5; '--' and blanks → None; raises ValueError on text."""
    if value is None:
        return None
    text = str(value).strip().replace(",", "").replace("，", "")
    if text.lower() in _MISSING:
        return None
    text = re.sub(r"^\((.*)\)$", r"-\1", text)  # accounting negatives
    return float(text)


def load_flat(cfg: FinancialsConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Statements from a flat table; (statements, rejects)."""
    table = read_table(cfg.path, cfg.encoding, cfg.sep)
    table.columns = [str(c).strip() for c in table.columns]
    missing = [col for col in cfg.columns.values() if col not in table.columns]
    if missing:
        raise ValueError(f"financials {cfg.name}: columns {missing} not in {cfg.path.name}")
    if not any(k in cfg.columns for k in ("uscc", "stock_code", "company_name")):
        raise ValueError(f"financials {cfg.name}: map at least one of uscc, stock_code, company_name")
    out = pd.DataFrame(index=table.index, columns=FINANCIAL_COLUMNS, dtype=object)
    out["financials_source"] = cfg.name
    rejects: list[dict[str, object]] = []
    for field in KEY_FIELDS:
        if field in cfg.columns:
            out[field] = table[cfg.columns[field]].str.strip().replace("", None)
    for field in [*AMOUNT_FIELDS, *PRECOMPUTED]:
        if field not in cfg.columns:
            out[field] = np.nan
            continue
        factor = 1.0 if field in PRECOMPUTED else UNIT_FACTORS[cfg.field_units.get(field, cfg.units)]
        values: list[float] = []
        for row_no, raw in enumerate(table[cfg.columns[field]], start=2):
            try:
                number = parse_number(raw)
            except ValueError:
                rejects.append({"source": cfg.name, "stage": "financials", "row_ref": f"{cfg.path.name}:{row_no}",
                                "reason": f"text {str(raw)[:40]!r} where a number belongs in {cfg.columns[field]}",
                                "raw": str(raw)[:200]})
                number = None
            values.append(np.nan if number is None else number * factor)
        out[field] = values
    out["year"] = pd.to_numeric(out["year"], errors="coerce")
    return out, pd.DataFrame(rejects, columns=REJECT_COLUMNS)


def load_financials(configs: list[FinancialsConfig]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All configured statement files; a file that cannot be read is a reject, not a crash."""
    frames: list[pd.DataFrame] = []
    rejects: list[pd.DataFrame] = []
    for cfg in configs:
        try:
            frame, bad = load_flat(cfg)
        except (OSError, ValueError, KeyError) as exc:
            rejects.append(pd.DataFrame([{"source": cfg.name, "stage": "financials", "row_ref": str(cfg.path),
                                          "reason": f"cannot read financials: {exc}", "raw": None}]))
            continue
        frames.append(frame)
        rejects.append(bad)
    statements = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FINANCIAL_COLUMNS)
    bad = pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame(columns=REJECT_COLUMNS)
    return statements, bad
