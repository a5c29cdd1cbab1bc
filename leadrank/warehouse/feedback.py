"""Outcome feedback: a CRM export (CSV or XLSX) of won / lost / contacted deals into the warehouse.

Rows name their lead by lead_id, or by 统一社会信用代码 and/or company name; the columns are
found by their usual English or Chinese headers (or given). Reading, outcome words (成交, 丢单,
...) and matching are the scoring stage's own (`leadrank.scoring.outcomes`), so an outcome means
the same whether it comes from a configured file or from this import. Stored outcomes are what
the nightly model trains on (`read.stored_outcomes`).

Nothing is lost silently: rows that match no lead, carry an unknown outcome or an unreadable date
are returned with their row number and reason; duplicate rows (the same lead, outcome and date)
are counted once and reported; rows imported before are recognised and not stored twice, and a
deal stored without a date is the same deal as that lead's outcome with a date (the one with the
date is kept), so importing a file again with its date column named adds nothing. A row stored
before under another lead (the leads changed since: a merge, a split, a corrected code) is the
same CRM row: its stored outcome moves to the lead it matches now (`load.write_outcomes`), so a
deal never counts once for each lead. A date column
that is not recognised is named in a warning. Every import is recorded (`outcome_imports`) and
can be undone with `remove_import`. A file with a header and no rows imports nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, inspect, text

from leadrank.contracts import LEAD_TABLE, REJECT_COLUMNS
from leadrank.scoring.outcomes import OUTCOME_FIELDS, detect_columns, match_outcomes, outcome_rows, parse_dates
from leadrank.tables import read_table
from leadrank.warehouse.engine import now, writer
from leadrank.warehouse.load import write_outcomes
from leadrank.warehouse.migrate import upgrade

_DATE_HEADER = re.compile(r"日期|时间|date|time|closed", re.IGNORECASE)


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
    import_id: str = ""
    previous: str | None = None  # an earlier, not removed import of the very same file
    superseded: int = 0  # stored outcomes without a date replaced by this file's dated ones
    moved: int = 0  # stored outcomes of this file's rows that now match another lead, moved to it
    warnings: list[str] = field(default_factory=list)


def _leads(engine: Engine) -> pd.DataFrame:
    if not inspect(engine).has_table("leads"):
        raise FeedbackError("the warehouse has no leads yet: run `leadrank run` first")
    with engine.connect() as conn:
        frame = pd.read_sql_query(text("SELECT lead_id, uscc, uscc_valid, name_core, company_name_zh, company_name_en, "
                                       "city, province, status, merged_into FROM leads"), conn, dtype=object)
    if frame.empty:
        raise FeedbackError("the warehouse has no leads yet: run `leadrank run` first")
    return LEAD_TABLE.cast(frame, "reading leads")  # uscc_valid from the database's 0/1, true/false or NULL


def _reject(rows: pd.DataFrame, reason: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"source": rows["source_file"], "stage": "outcomes",
                         "row_ref": rows["source_file"] + ":" + rows["row_no"].astype(str), "reason": reason,
                         "raw": [str(r) for r in rows[OUTCOME_FIELDS].to_dict("records")]}, columns=REJECT_COLUMNS)


def date_warning(table: pd.DataFrame, mapping: dict[str, str]) -> str:
    """When no date column was found: the columns that look like dates (by header or values)."""
    if "outcome_date" in mapping:
        return ""
    used = set(mapping.values())
    found = []
    for header in table.columns:
        if header in used:
            continue
        values = table[header].dropna().astype(str).str.strip()
        values = values[values != ""]
        if _DATE_HEADER.search(str(header)) or (len(values) and parse_dates(values).notna().mean() >= 0.8):
            found.append(str(header))
    if not found:
        return ""
    return (f"no outcome date column recognised; {', '.join(map(repr, found))} looks like dates but is not used: "
            f"name it with --map '{found[0]}=outcome_date' (without dates the model cannot be validated on later outcomes)")


def import_outcomes(engine: Engine, path: Path, columns: dict[str, str] | None = None) -> ImportReport:
    """Import one CRM export; see the module docstring for what happens to each row."""
    if not path.is_file():
        raise FeedbackError(f"file not found: {path}")
    if path.suffix.lower() == ".xls":
        raise FeedbackError(f"{path.name}: old .xls workbooks are not supported; save it as .xlsx or .csv")
    try:
        raw = read_table(path)
    except Exception as exc:  # noqa: BLE001 - a broken workbook raises many kinds of error
        raise FeedbackError(f"cannot read {path.name}: {exc}") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    try:
        mapping = detect_columns(list(raw.columns), columns)
    except ValueError as exc:
        raise FeedbackError(str(exc)) from None
    report = ImportReport(file=path.name, columns=mapping)
    report.warnings = [w for w in [date_warning(raw, mapping)] if w]
    table = outcome_rows(raw, mapping, path.name)  # (the file as read above, not read again)
    report.rows = len(table)
    leads = _leads(engine)
    upgrade(engine)

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
    unique = _first_of_each(matched, report)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    report.import_id = "imp-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    with writer(engine).begin() as conn:
        report.previous = conn.execute(text(
            "SELECT import_id FROM outcome_imports WHERE file_sha256 = :s AND removed_at IS NULL "
            "ORDER BY imported_at DESC LIMIT 1"), {"s": sha}).scalar()
        unique, report.superseded = _against_stored(conn, unique)
        stamp = now()
        report.imported, report.moved = write_outcomes(conn, unique, stamp, import_id=report.import_id)
        report.already = len(matched) - len(report.duplicates) - report.imported
        conn.execute(text(
            "INSERT INTO outcome_imports (import_id, file, file_sha256, imported_at, rows_read, imported, already, "
            "rejected) VALUES (:i, :f, :s, :t, :n, :new, :old, :bad)"),
            {"i": report.import_id, "f": path.name, "s": sha, "t": stamp, "n": report.rows, "new": report.imported,
             "old": report.already, "bad": len(report.rejected)})
    return report


def _first_of_each(matched: pd.DataFrame, report: ImportReport) -> pd.DataFrame:
    """One row per deal of this file: the same lead, outcome and date repeat an earlier row, and
    a row without a date repeats the first dated row of the same lead and outcome."""
    dated: dict[tuple[object, object], object] = {}
    for row in matched.itertuples(index=False):
        if row.outcome_date:
            dated.setdefault((row.lead_id, row.outcome), row.row_no)
    first_row: dict[tuple[object, ...], object] = {}
    keep = []
    for row in matched.itertuples(index=False):
        key = (row.lead_id, row.outcome, row.outcome_date)
        original = dated.get(key[:2]) if row.outcome_date is None else first_row.get(key)
        original = first_row.get(key) if original is None else original
        keep.append(original is None)
        if original is None:
            first_row[key] = row.row_no
        else:
            report.duplicates.append((f"{row.source_file}:{row.row_no}", f"{row.source_file}:{original}"))
    return matched[keep]


def _against_stored(conn: Connection, rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """(the rows left to store, how many stored undated outcomes they replace): a row without a
    date whose lead and outcome are stored already is that deal; a dated row replaces the same
    lead's and outcome's stored rows without a date."""
    if rows.empty:
        return rows, 0
    stored = _stored_for(conn, list(dict.fromkeys(rows["lead_id"])))
    with_any = set(zip(stored["lead_id"], stored["outcome"], strict=True))
    undated = stored[stored["outcome_date"].isna()]
    rows = rows[rows["outcome_date"].notna() | ~pd.Series(
        [(lead, o) in with_any for lead, o in zip(rows["lead_id"], rows["outcome"], strict=True)], index=rows.index)]
    dated_keys = {(lead, o) for lead, o, d in zip(rows["lead_id"], rows["outcome"], rows["outcome_date"], strict=True) if d}
    replaced = [i for i, lead, o in zip(undated["outcome_id"], undated["lead_id"], undated["outcome"], strict=True)
                if (lead, o) in dated_keys]
    for chunk in _chunks(replaced):
        conn.execute(text("DELETE FROM outcomes WHERE outcome_id IN :ids").bindparams(bindparam("ids", expanding=True)),
                     {"ids": chunk})
    return rows, len(replaced)


def _stored_for(conn: Connection, leads: list[str]) -> pd.DataFrame:
    parts = [pd.DataFrame(conn.execute(text(
        "SELECT outcome_id, lead_id, outcome, outcome_date FROM outcomes WHERE lead_id IN :ids").bindparams(
        bindparam("ids", expanding=True)), {"ids": chunk}).all(), columns=["outcome_id", "lead_id", "outcome", "outcome_date"])
        for chunk in _chunks(leads)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["outcome_id", "lead_id", "outcome", "outcome_date"])


def _chunks(values: list[str], size: int = 500) -> list[list[str]]:
    return [values[i:i + size] for i in range(0, len(values), size)]


def list_imports(engine: Engine, limit: int = 20) -> pd.DataFrame:
    """The latest imports, newest first, with what each added and whether it was removed."""
    upgrade(engine)
    with engine.connect() as conn:
        return pd.read_sql_query(text(
            "SELECT i.import_id, i.file, i.imported_at, i.rows_read, i.imported, i.already, i.rejected, i.removed_at, "
            "(SELECT COUNT(*) FROM outcomes o WHERE o.import_id = i.import_id) AS stored "
            "FROM outcome_imports i ORDER BY i.imported_at DESC, i.import_id DESC LIMIT :n"), conn,
            params={"n": int(limit)}, dtype=object)


def remove_import(engine: Engine, import_id: str) -> int:
    """Undo one import: delete the outcomes it added; returns how many. The next nightly run
    trains without them."""
    upgrade(engine)
    with writer(engine).begin() as conn:
        row = conn.execute(text("SELECT removed_at FROM outcome_imports WHERE import_id = :i"), {"i": import_id}).first()
        if row is None:
            raise FeedbackError(f"no import {import_id!r}: `leadrank outcomes list` shows the imports")
        if row.removed_at is not None:
            raise FeedbackError(f"import {import_id} was removed already ({str(row.removed_at)[:19]})")
        removed = conn.execute(text("DELETE FROM outcomes WHERE import_id = :i"), {"i": import_id}).rowcount
        conn.execute(text("UPDATE outcome_imports SET removed_at = :t WHERE import_id = :i"), {"i": import_id, "t": now()})
    return int(removed or 0)
