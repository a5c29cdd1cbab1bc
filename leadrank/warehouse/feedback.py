"""Outcome feedback: a CRM export (CSV or XLSX) of won / lost / contacted deals into the warehouse.

Rows name their lead by lead_id, or by 统一社会信用代码 and/or company name; the columns are
found by their usual English or Chinese headers (or given). Reading, outcome words (成交, 丢单,
...) and matching are the scoring stage's own (`leadrank.scoring.outcomes`), so an outcome means
the same whether it comes from a configured file or from this import. Stored outcomes are what
the nightly model trains on (`read.stored_outcomes`).

Nothing is lost silently: rows that match no lead, carry an unknown outcome or an unreadable date
are returned with their row number and reason; duplicate rows (the same lead, outcome and date)
are counted once and reported; rows imported before are recognised and not stored twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, inspect, text

from leadrank.config import OutcomesConfig
from leadrank.scoring.financials import read_table
from leadrank.scoring.outcomes import REJECT_COLUMNS, load_outcomes, match_outcomes, parse_dates
from leadrank.warehouse.engine import now, writer
from leadrank.warehouse.load import write_outcomes

FIELDS = ["lead_id", "company_name", "uscc", "outcome", "outcome_date", "owner"]
ALIASES = {
    "lead_id": ["lead_id", "lead id", "leadid", "线索id", "线索编号"],
    "company_name": ["company_name", "company", "company name", "account", "account name", "customer", "customer name",
                     "公司名称", "客户名称", "企业名称", "单位名称", "公司", "客户"],
    "uscc": ["uscc", "credit code", "credit_code", "unified social credit code", "统一社会信用代码", "社会信用代码",
             "信用代码"],
    "outcome": ["outcome", "result", "status", "stage", "结果", "状态", "商机状态", "销售阶段", "阶段"],
    "outcome_date": ["outcome_date", "date", "close date", "close_date", "closed", "日期", "成交日期", "结单日期",
                     "关闭日期", "时间"],
    "owner": ["owner", "sales", "salesperson", "sales rep", "rep", "负责人", "销售", "销售人员", "跟进人", "所有者"],
}


class FeedbackError(ValueError):
    """The file cannot be imported at all (missing, unreadable, no outcome column, no leads)."""


@dataclass
class ImportReport:
    file: str
    rows: int = 0
    imported: int = 0  # new outcomes stored
    already: int = 0  # matched rows whose outcome was stored by an earlier import or run
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (row, the row it repeats)
    rejected: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))
    columns: dict[str, str] = field(default_factory=dict)  # our field -> the file's header


def detect_columns(headers: list[str], given: dict[str, str] | None = None) -> dict[str, str]:
    """Our field -> the file's header, from `given` first, then the usual names."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(FIELDS))
    if unknown:
        raise FeedbackError(f"unknown field(s) {', '.join(unknown)}: fields are {', '.join(FIELDS)}")
    missing = sorted(h for h in given.values() if h not in headers)
    if missing:
        raise FeedbackError(f"column(s) {', '.join(map(repr, missing))} not in the file (it has {', '.join(headers)})")
    folded = {h.strip().lower(): h for h in headers}
    found = dict(given)
    for name in FIELDS:
        if name not in found:
            hit = next((folded[a] for a in ALIASES[name] if a in folded and folded[a] not in found.values()), None)
            if hit is not None:
                found[name] = hit
    if "outcome" not in found:
        raise FeedbackError(f"no outcome column (looked for {', '.join(ALIASES['outcome'][:6])}, ...; the file has "
                            f"{', '.join(headers)}); name it with --map HEADER=outcome")
    if not {"lead_id", "company_name", "uscc"} & set(found):
        raise FeedbackError("no column names the lead: give lead_id, company name or 统一社会信用代码 "
                            f"(the file has {', '.join(headers)}); name it with --map HEADER=company_name")
    return found


def _leads(engine: Engine) -> pd.DataFrame:
    if not inspect(engine).has_table("leads"):
        raise FeedbackError("the warehouse has no leads yet: run `leadrank run` first")
    with engine.connect() as conn:
        frame = pd.read_sql_query(text("SELECT lead_id, uscc, uscc_valid, name_core, company_name_zh, status, "
                                       "merged_into FROM leads"), conn, dtype=object)
    if frame.empty:
        raise FeedbackError("the warehouse has no leads yet: run `leadrank run` first")
    frame["uscc_valid"] = frame["uscc_valid"].map(lambda v: bool(v) if v is not None else False)
    return frame


def _reject(rows: pd.DataFrame, reason: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"source": rows["source_file"], "stage": "outcomes",
                         "row_ref": rows["source_file"] + ":" + rows["row_no"].astype(str), "reason": reason,
                         "raw": [str(r) for r in rows[FIELDS].to_dict("records")]}, columns=REJECT_COLUMNS)


def import_outcomes(engine: Engine, path: Path, columns: dict[str, str] | None = None) -> ImportReport:
    """Import one CRM export; see the module docstring for what happens to each row."""
    if not path.is_file():
        raise FeedbackError(f"file not found: {path}")
    if path.suffix.lower() == ".xls":
        raise FeedbackError(f"{path.name}: old .xls workbooks are not supported; save it as .xlsx or .csv")
    try:
        headers = [str(c).strip() for c in read_table(path).columns]
    except Exception as exc:  # noqa: BLE001 - a broken workbook raises many kinds of error
        raise FeedbackError(f"cannot read {path.name}: {exc}") from None
    mapping = detect_columns(headers, columns)
    report = ImportReport(file=path.name, columns=mapping)
    table = load_outcomes(OutcomesConfig(name=path.stem, path=path, columns=mapping))
    report.rows = len(table)
    leads = _leads(engine)

    given = table["outcome_date"].notna()
    unreadable = given & parse_dates(table["outcome_date"].fillna("")).isna()
    bad_dates = _reject(table[unreadable], table.loc[unreadable, "outcome_date"].map(
        lambda d: f"date {d!r} not understood (use 2026-03-01, 2026/3/1 or 2026年3月1日)"))
    matched, rejected = match_outcomes(table[~unreadable], leads)
    report.rejected = pd.concat([bad_dates, rejected], ignore_index=True) if len(bad_dates) else rejected

    # An absorbed lead's outcome belongs to the lead that absorbed it.
    merged = leads[(leads["status"] == "merged") & leads["merged_into"].notna()]
    survivors = dict(zip(merged["lead_id"], merged["merged_into"], strict=True))
    matched["lead_id"] = matched["lead_id"].map(lambda lead: survivors.get(lead, lead))
    first_row: dict[tuple[object, ...], object] = {}
    keep = []
    for row in matched.itertuples(index=False):
        key = (row.lead_id, row.outcome, row.outcome_date)
        keep.append(key not in first_row)
        if key in first_row:
            report.duplicates.append((f"{row.source_file}:{row.row_no}", f"{row.source_file}:{first_row[key]}"))
        first_row.setdefault(key, row.row_no)
    unique = matched[keep]
    with writer(engine).begin() as conn:
        report.imported = write_outcomes(conn, unique, now())
    report.already = len(unique) - report.imported
    return report
