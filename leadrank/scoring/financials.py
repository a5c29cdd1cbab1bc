"""Financial statements in, one row per company and year out, in yuan.

Two layouts are read:
  flat        one row per company (and year), like tushare exports; `columns` maps our fields to
              the file's columns. Several flat files of one source (balance-sheet basics, profit,
              operations) merge on the company key and year.
  transposed  what Chinese finance portals export (网易财经 zcfzb/lrb/xjllb): rows are line items
              whose labels carry the unit (营业收入(万元)), columns are report dates, `--` is
              missing and every row ends with a comma; one file per company and statement, the
              company's stock code in the file name. UTF-8 (with BOM) and GBK both read.
Companies are keyed by 统一社会信用代码, stock code or name, in that order. Units (元, 千元, 万元,
百万元, 亿元) come from the line-item label, else the field's declared unit, else the file's, and
are normalised to yuan. A cell with text where a number belongs is reported (file, row, column,
value) and read as missing: the rest of the row and of the file still count. Duplicated company
rows are reported and collapsed (the first is kept), never double-counted.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from leadrank.config import FinancialsConfig
from leadrank.contracts import REJECT_COLUMNS
from leadrank.scoring.lead_index import row_name_cores
from leadrank.tables import read_table
from leadrank.transform.identifiers import normalise_usccs

UNIT_FACTORS = {"元": 1.0, "yuan": 1.0, "千元": 1e3, "万元": 1e4, "百万元": 1e6, "million": 1e6, "亿元": 1e8}
AMOUNT_FIELDS = [
    "total_assets", "current_assets", "revenue", "cost_of_sales", "net_profit",
    "accounts_receivable", "inventory", "revenue_prev",
]
KEY_FIELDS = ["uscc", "stock_code", "company_name", "industry", "year"]
# Ratios some sources publish ready-made; taken as they are when the amounts are missing.
PRECOMPUTED = ["collection_days", "inventory_days", "net_margin_percent"]  # net margin in %, as published
FINANCIAL_COLUMNS = ["financials_source", *KEY_FIELDS, *AMOUNT_FIELDS, *PRECOMPUTED, "row_ref"]
# Line-item labels of the portals' statements (网易财经, 新浪财经, 东方财富 use the same words).
PORTAL_LINE_ITEMS = {
    "total_assets": "资产总计", "current_assets": "流动资产合计", "revenue": "营业收入", "cost_of_sales": "营业成本",
    "net_profit": "净利润", "accounts_receivable": "应收账款", "inventory": "存货",
}
_MISSING = {"", "--", "-", "—", "nan", "none", "null", "n/a", "na"}
_LABEL_UNIT = re.compile(r"^(.*?)\s*[(（]\s*([^()（）]*?)\s*[)）]\s*$")


class FinancialsError(ValueError):
    """A statements file that cannot be used at all; the message says why."""


def parse_number(value: object) -> float | None:
    """'1,234.5' → 1234.5; '--' and blanks → None; '(12)' → -12; raises ValueError on text."""
    if value is None:
        return None
    text = str(value).strip().replace(",", "").replace("，", "")
    if text.lower() in _MISSING:
        return None
    text = re.sub(r"^\((.*)\)$", r"-\1", text)  # accounting negatives
    number = float(text)
    if not np.isfinite(number):
        raise ValueError(text)
    return number


def unit_factor(unit: str, where: str) -> float:
    try:
        return UNIT_FACTORS[unit.strip()]
    except KeyError:
        raise FinancialsError(f"{where}: unknown unit {unit!r} (known: {', '.join(UNIT_FACTORS)})") from None


def normalise_stock_code(value: object) -> str | None:
    """'600340', '600340.SH', 'SZ002352', 2352 (Excel lost the zeros) → '600340' / '002352'."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    if re.fullmatch(r"\d+\.0", text):  # a number that went through a spreadsheet as a float
        text = text[:-2]
    digits = re.sub(r"\D", "", text)
    if not digits or len(digits) > 6:
        return None
    return digits.zfill(6)


def _reject(cfg: FinancialsConfig, ref: str, reason: str, raw: object = None) -> dict[str, object]:
    return {"source": cfg.name, "stage": "financials", "row_ref": ref, "reason": reason,
            "raw": None if raw is None else str(raw)[:200]}


def _numbers(cfg: FinancialsConfig, values: pd.Series, factor: float, refs: list[str], column: str,
             rejects: list[dict[str, object]]) -> list[float]:
    out: list[float] = []
    for ref, raw in zip(refs, values, strict=True):
        try:
            number = parse_number(raw)
        except ValueError:
            rejects.append(_reject(cfg, ref, f"text {str(raw)[:40]!r} where a number belongs in {column}", raw))
            number = None
        out.append(np.nan if number is None else number * factor)
    return out


def load_flat(cfg: FinancialsConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Statements from a flat table; (statements, rejects)."""
    table = read_table(cfg.path, cfg.encoding, cfg.sep)
    table.columns = [str(c).strip() for c in table.columns]
    missing = [col for col in cfg.columns.values() if col not in table.columns]
    if missing:
        raise FinancialsError(f"financials {cfg.name}: columns {missing} not in {cfg.path.name}")
    if not any(k in cfg.columns for k in ("uscc", "stock_code", "company_name")):
        raise FinancialsError(f"financials {cfg.name}: map at least one of uscc, stock_code, company_name")
    out = pd.DataFrame(index=table.index, columns=FINANCIAL_COLUMNS, dtype=object)
    out["financials_source"] = cfg.name
    refs = [f"{cfg.path.name}:{n}" for n in range(2, len(table) + 2)]
    out["row_ref"] = refs
    rejects: list[dict[str, object]] = []
    for field in KEY_FIELDS:
        if field in cfg.columns:
            out[field] = table[cfg.columns[field]].str.strip().replace("", None)
    if cfg.year is not None and "year" not in cfg.columns:
        out["year"] = cfg.year
    out["stock_code"] = out["stock_code"].map(normalise_stock_code)
    for field in [*AMOUNT_FIELDS, *PRECOMPUTED]:
        if field not in cfg.columns:
            out[field] = np.nan
            continue
        where = f"financials {cfg.name} field {field}"
        factor = 1.0 if field in PRECOMPUTED else unit_factor(cfg.field_units.get(field, cfg.units), where)
        out[field] = _numbers(cfg, table[cfg.columns[field]], factor, refs, cfg.columns[field], rejects)
    out["year"] = pd.to_numeric(out["year"], errors="coerce")
    return out, pd.DataFrame(rejects, columns=REJECT_COLUMNS)


def split_label(label: str) -> tuple[str, str | None]:
    """'营业收入(万元)' → ('营业收入', '万元'); '基本每股收益' → ('基本每股收益', None)."""
    match = _LABEL_UNIT.match(label.strip())
    return (match.group(1).strip(), match.group(2)) if match else (label.strip(), None)


def _transposed_file(cfg: FinancialsConfig, path: Path, rejects: list[dict[str, object]]) -> pd.DataFrame:
    """One portal statement file → rows per report year with the fields it holds."""
    table = read_table(path, cfg.encoding, cfg.sep, header=None)
    table = table.loc[:, [(table[c].str.strip() != "").any() for c in table.columns]]  # trailing commas
    if table.shape[0] < 2 or table.shape[1] < 2:
        raise FinancialsError(f"{path.name}: no line items or no report dates")
    dates = pd.to_datetime(table.iloc[0, 1:].str.strip(), errors="coerce", format="mixed")
    columns = [c for c, d in zip(table.columns[1:], dates, strict=True) if pd.notna(d)]
    when = {c: d for c, d in zip(table.columns[1:], dates, strict=True) if pd.notna(d)}
    if not columns:
        raise FinancialsError(f"{path.name}: the first row holds no report dates")
    annual = [c for c in columns if (when[c].month, when[c].day) == (12, 31)]
    columns = annual or columns  # an annual export; quarterly columns only when there is nothing else
    by_year: dict[int, object] = {}
    for c in sorted(columns, key=lambda c: when[c]):
        by_year[when[c].year] = c  # the latest report of a year
    wanted = {label: field for field, label in {**PORTAL_LINE_ITEMS, **cfg.columns}.items()}
    out = pd.DataFrame({"year": list(by_year)}, dtype=object)
    for row_no, row in enumerate(table.itertuples(index=False), start=1):
        if row_no == 1:
            continue
        name, unit = split_label(str(row[0]))
        field = wanted.get(name)
        if field is None or field in out.columns:
            continue
        unit = unit or cfg.field_units.get(field, cfg.units)
        factor = unit_factor(unit, f"{path.name}:{row_no} {name}")
        values = pd.Series([row[table.columns.get_loc(c)] for c in by_year.values()])
        refs = [f"{path.name}:{row_no}:{when[c].date()}" for c in by_year.values()]
        out[field] = _numbers(cfg, values, factor, refs, name, rejects)
    return out


def load_transposed(cfg: FinancialsConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Statements from portal exports: a file or a folder of files, one company per file name."""
    files = [cfg.path] if cfg.path.is_file() else sorted(cfg.path.glob(cfg.pattern))
    if not files:
        raise FinancialsError(f"financials {cfg.name}: no files matching {cfg.pattern!r} in {cfg.path}")
    pattern = re.compile(cfg.file_key)
    frames: list[pd.DataFrame] = []
    rejects: list[dict[str, object]] = []
    for path in files:
        match = pattern.search(path.name)
        if not match:
            rejects.append(_reject(cfg, path.name, f"file name does not name a company ({cfg.file_key!r})"))
            continue
        try:
            frame = _transposed_file(cfg, path, rejects)
        except (OSError, FinancialsError, pd.errors.ParserError) as exc:
            rejects.append(_reject(cfg, path.name, f"cannot read statement: {exc}"))
            continue
        company = match.group(1)
        frame[cfg.key] = company
        frame["row_ref"] = path.name
        if cfg.key != "company_name" and company in cfg.names:
            frame["company_name"] = cfg.names[company]
        if company in cfg.industries:
            frame["industry"] = cfg.industries[company]
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FINANCIAL_COLUMNS)
    for column in FINANCIAL_COLUMNS:
        if column not in out.columns:
            out[column] = np.nan if column in AMOUNT_FIELDS + PRECOMPUTED else None
    out["financials_source"] = cfg.name
    out["stock_code"] = out["stock_code"].map(normalise_stock_code)
    out["year"] = pd.to_numeric(out["year"], errors="coerce")
    return out[FINANCIAL_COLUMNS], pd.DataFrame(rejects, columns=REJECT_COLUMNS)


def company_key(frame: pd.DataFrame) -> pd.Series:
    """What identifies a company across files: valid 统一社会信用代码, else stock code, else core name."""
    codes, valid = normalise_usccs(frame["uscc"])
    uscc = pd.Series(np.where(valid, "uscc:" + codes.astype(str), None), index=frame.index, dtype=object)
    code = frame["stock_code"].map(lambda v: f"code:{v}" if isinstance(v, str) and v else None)
    cores = pd.Series(row_name_cores(frame["company_name"]), index=frame.index, dtype=object)
    name = ("name:" + cores).where(cores.notna(), None)
    return uscc.fillna(code).fillna(name)


def _collapse_duplicates(frame: pd.DataFrame, rejects: list[dict[str, object]]) -> pd.DataFrame:
    """One row per (file, company, year); a repeated row is reported and only the first kept.
    (Different files of one company — balance sheet, income statement — are not duplicates.)"""
    values = [*AMOUNT_FIELDS, *PRECOMPUTED]
    keyed = frame.assign(_key=company_key(frame), _file=frame["row_ref"].str.split(":").str[0])
    unkeyed = keyed["_key"].isna()
    for ref in keyed.loc[unkeyed, "row_ref"]:
        rejects.append({"source": None, "stage": "financials", "row_ref": ref,
                        "reason": "row names no company (no 统一社会信用代码, stock code or name)", "raw": None})
    keyed = keyed[~unkeyed]
    group = ["financials_source", "_file", "_key", "year"]
    dup = keyed.duplicated(group, keep="first")
    if dup.any():
        first = keyed[~dup].drop_duplicates(group).set_index(group)
        for _, row in keyed[dup].iterrows():
            kept = first.loc[tuple(row[group])]
            same = all((pd.isna(a) and pd.isna(b)) or a == b for a, b in zip(row[values], kept[values], strict=True))
            what = "identical to" if same else "conflicts with"
            rejects.append({"source": row["financials_source"], "stage": "financials", "row_ref": row["row_ref"],
                            "reason": f"duplicated company row ({row['_key']}, {_year(row['year'])}): {what} "
                                      f"{kept['row_ref']}, which is kept", "raw": None})
    return keyed[~dup]


def _year(value: object) -> str:
    return "no year" if pd.isna(value) else str(int(value))  # type: ignore[call-overload]


def combine_statements(frame: pd.DataFrame, rejects: list[dict[str, object]]) -> pd.DataFrame:
    """Rows of one company and year from several files (balance sheet, income statement,
    operations) become one, first non-missing value per field; last year's revenue fills
    `revenue_prev` where a file did not give it."""
    if frame.empty:
        return frame
    keyed = _collapse_duplicates(frame, rejects)
    merged = keyed.groupby(["_key", "year"], sort=False, dropna=False).first().reset_index()
    sources = keyed.groupby(["_key", "year"], sort=False, dropna=False)["financials_source"].agg(
        lambda s: ";".join(dict.fromkeys(s)))
    merged["financials_source"] = sources.to_numpy()
    previous = merged.set_index(["_key", "year"])["revenue"]
    prior = pd.Series(list(zip(merged["_key"], merged["year"] - 1, strict=True))).map(previous.to_dict())
    merged["revenue_prev"] = merged["revenue_prev"].fillna(prior.astype(float))
    for column in [*AMOUNT_FIELDS, *PRECOMPUTED]:
        merged[column] = pd.to_numeric(merged[column], errors="coerce").astype(float)
    return merged[FINANCIAL_COLUMNS].reset_index(drop=True)


def load_financials(configs: list[FinancialsConfig]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All configured statement files, combined per company and year; a file that cannot be
    read is a reject, not a crash."""
    frames: list[pd.DataFrame] = []
    rejects: list[dict[str, object]] = []
    for cfg in configs:
        loader = load_transposed if cfg.layout == "transposed" else load_flat
        try:
            frame, bad = loader(cfg)
        except (OSError, ValueError, KeyError, pd.errors.ParserError) as exc:
            rejects.append(_reject(cfg, str(cfg.path), f"cannot read financials: {exc}"))
            continue
        frames.append(frame)
        rejects.extend(bad.to_dict("records"))
    frames = [f for f in frames if len(f)]
    statements = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FINANCIAL_COLUMNS)
    statements = combine_statements(statements, rejects)
    return statements, pd.DataFrame(rejects, columns=REJECT_COLUMNS)
