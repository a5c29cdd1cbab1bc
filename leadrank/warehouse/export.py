"""Exports of the ranked list for sales: CSV (UTF-8 with BOM, so Excel reads Chinese) and XLSX.

The XLSX has the whole list on its first sheet and one sheet per segment (key-account team) in
the team's own rank order, plus the leads that dropped out since the previous run; every sheet
has a bold frozen header row and filters. `lang="zh"` gives Chinese headers, segment names,
movements and reasons. Exports read the marts, so suppressed leads are never in them.

Cells that a spreadsheet would run as a formula (=, +, -, @, tab, carriage return first) are
neutralised with a leading apostrophe: names and reasons come from the open web. Files are
written to a temporary name in the target directory and moved into place, so a failed export
never leaves half a file (nor the temporary one).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import Engine

from leadrank.warehouse import labels
from leadrank.warehouse.read import dropped_leads, latest_run, segment_leads

EXPORT_COLUMNS = [
    "rank", "tier", "lead_id", "company_name", "company_name_en", "segment", "product_line", "country", "province", "city",
    "website", "phone", "email", "priority", "fit_score", "model_score", "key_account", "est_monthly_volume",
    "movement", "top_reasons", "sources", "first_seen_at",
    "prev_rank", "other_phones", "other_emails", "address", "uscc",
]
SEGMENT_SHEET_COLUMNS = ["segment_rank", *EXPORT_COLUMNS]
DROPPED_COLUMNS = ["lead_id", "company_name", "prev_rank", "prev_tier", "reason", "merged_into"]
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_CELL = 32_767  # characters a cell holds
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A value of only digits and number punctuation cannot call anything: "+86 755 8888 8888" stays.
_PLAIN_NUMBER = re.compile(r"^[+-]?[\d\s().]+$")
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_WIDTHS = {"company_name": 36, "company_name_en": 30, "top_reasons": 60, "address": 36, "website": 28, "email": 28,
           "other_phones": 24, "other_emails": 28, "sources": 24, "lead_id": 15, "uscc": 21, "first_seen_at": 22}


class ExportError(RuntimeError):
    pass


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that would start a formula get a leading apostrophe; control characters (which
    a worksheet cannot hold) are dropped and text beyond Excel's 32,767 characters a cell is cut.
    Vectorised per column: exports can be large."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
            continue
        try:
            unfit = values.str.contains(ILLEGAL_CHARACTERS_RE, na=False) | (values.str.len() > EXCEL_MAX_CELL)
        except AttributeError:  # no text in this column
            continue
        if unfit.any():
            values = values.astype(object)
            values[unfit] = values[unfit].str.replace(ILLEGAL_CHARACTERS_RE, "", regex=True).str.slice(0, EXCEL_MAX_CELL)
            out[column] = values
    return _neutralise(out)


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first,
    unless only a number) get a leading apostrophe; for every file a person may open in one."""
    return _neutralise(frame.copy())


def _neutralise(out: pd.DataFrame) -> pd.DataFrame:
    for column in out.columns:
        values = out[column]
        if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
            continue
        try:
            risky = values.str.startswith(_FORMULA_START, na=False) & ~values.str.match(_PLAIN_NUMBER, na=False)
        except AttributeError:  # no text in this column
            continue
        if risky.any():
            out[column] = values.astype(object)
            out.loc[risky, column] = "'" + values[risky].astype(str)
    return out


def localise(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Values and headers in the chosen language (in English the columns keep their names and
    segments and movements their codes)."""
    out = frame.copy()
    if "key_account" in out:  # a boolean on both dialects (SQLite stores 0/1)
        out["key_account"] = out["key_account"].map(lambda v: None if v is None else bool(v))
    if lang == "zh":
        if "key_account" in out:
            out["key_account"] = out["key_account"].map(lambda v: labels.yes_no(v, lang))
        if "segment" in out:
            out["segment"] = out["segment"].map(lambda v: labels.segment(v, lang))
        for name in ("movement", "reason"):
            if name in out:
                out[name] = out[name].map(lambda v: labels.movement(v, lang))
        if "top_reasons" in out and "reasons_for" in frame:
            out["top_reasons"] = [labels.reasons(f, a, lang) for f, a in
                                  zip(frame["reasons_for"], frame["reasons_against"], strict=True)]
    return out.rename(columns={c: header(c, lang) for c in out.columns})


def header(column: str, lang: str) -> str:
    """A column's header: its name in English (the names are the export's contract), the
    Chinese label with lang="zh"."""
    return labels.column(column, lang) if lang == "zh" else column


def sheet_title(name: str, taken: set[str]) -> str:
    """A valid, unique Excel sheet name (at most 31 characters, none of []:*?/\\)."""
    base = _SHEET_FORBIDDEN.sub("_", name).strip("'") or "sheet"
    title, n = base[:31], 2
    while title.lower() in taken:
        suffix = f" ({n})"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(title.lower())
    return title


def _write_sheet(workbook: Workbook, title: str, frame: pd.DataFrame, codes: list[str]) -> None:
    if len(frame) + 1 > EXCEL_MAX_ROWS:
        raise ExportError(f"sheet {title!r} would have {len(frame):,} rows, more than Excel's {EXCEL_MAX_ROWS - 1:,}: "
                          "export to .csv instead")
    sheet = workbook.create_sheet(title)
    sheet.freeze_panes = "A2"
    for i, code in enumerate(codes, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = _WIDTHS.get(code, 12)
    bold = Font(bold=True)
    cells = []
    for name in frame.columns:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        cells.append(cell)
    sheet.append(cells)
    for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None):
        sheet.append(row)
    sheet.auto_filter.ref = f"A1:{get_column_letter(max(len(codes), 1))}{len(frame) + 1}"


def _xlsx(path: Path, segments: pd.DataFrame, dropped: pd.DataFrame, lang: str) -> None:
    workbook = Workbook(write_only=True)
    try:
        _fill_workbook(workbook, segments, dropped, lang)
    except BaseException:
        for sheet in workbook.worksheets:  # finish the half-written sheets' streams; the file is discarded
            sheet.close()
        raise
    workbook.save(path)


def _fill_workbook(workbook: Workbook, segments: pd.DataFrame, dropped: pd.DataFrame, lang: str) -> None:
    taken: set[str] = set()
    everything = segments.sort_values("rank")
    columns = [c for c in EXPORT_COLUMNS if c in segments.columns]
    frame = safe_frame(localise(everything[columns + ["reasons_for", "reasons_against"]], lang))
    _write_sheet(workbook, sheet_title(labels.sheet("all", lang), taken), frame[[header(c, lang) for c in columns]],
                 columns)
    seg_columns = [c for c in SEGMENT_SHEET_COLUMNS if c in segments.columns]
    sizes = segments.groupby("segment", dropna=False).size().sort_values(ascending=False, kind="stable")
    for code in sizes.index:
        part = segments[segments["segment"].isna()] if pd.isna(code) else segments[segments["segment"] == code]
        part = part.sort_values("segment_rank")
        frame = safe_frame(localise(part[seg_columns + ["reasons_for", "reasons_against"]], lang))
        _write_sheet(workbook, sheet_title(labels.segment(None if pd.isna(code) else code, lang), taken),
                     frame[[header(c, lang) for c in seg_columns]], seg_columns)
    if len(dropped):
        frame = safe_frame(localise(dropped[DROPPED_COLUMNS], lang))
        _write_sheet(workbook, sheet_title(labels.sheet("dropped", lang), taken), frame, DROPPED_COLUMNS)


def _csv(path: Path, segments: pd.DataFrame, lang: str) -> None:
    columns = [c for c in EXPORT_COLUMNS if c in segments.columns]
    frame = localise(segments.sort_values("rank")[columns + ["reasons_for", "reasons_against"]], lang)
    safe_frame(frame[[header(c, lang) for c in columns]]).to_csv(path, index=False, encoding="utf-8-sig")


def write_atomically(output: Path, write: Callable[[Path], None]) -> None:
    """Run `write(tmp)` on a temporary file beside `output`, then move it into place; on any
    failure nothing is left behind and the reason is an ExportError in words."""
    directory = output.resolve().parent
    if output.is_dir():
        raise ExportError(f"{output} is a directory; give a file name")
    if not directory.is_dir():
        raise ExportError(f"directory {directory} does not exist")
    try:
        handle, tmp_name = tempfile.mkstemp(prefix=".leadrank-export-", suffix=output.suffix, dir=directory)
    except OSError as exc:
        raise ExportError(f"cannot write to {directory}: {exc.strerror}") from None
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        tmp.replace(output)
    except OSError as exc:
        raise ExportError(f"cannot write {output}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def export_ranked(engine: Engine, output: Path, lang: str = "en") -> int:
    """Write the ranked list to `output` (.csv or .xlsx); returns the number of leads."""
    suffix = output.suffix.lower()
    if suffix not in {".csv", ".xlsx"}:
        raise ExportError(f"export file must end in .csv or .xlsx, not {output.name!r}")
    if lang not in labels.LANGS:
        raise ExportError(f"unknown language {lang!r}: use {' or '.join(labels.LANGS)}")
    try:
        published = latest_run(engine)
        segments = segment_leads(engine)
        dropped = dropped_leads(engine) if suffix == ".xlsx" else pd.DataFrame()
    except Exception as exc:  # noqa: BLE001 - e.g. no tables yet
        raise ExportError(f"cannot read the ranked list ({type(exc).__name__}): run `leadrank run` first") from None
    if published is None:
        raise ExportError("no published run yet: run `leadrank run` first")
    if suffix == ".csv":
        write_atomically(output, lambda tmp: _csv(tmp, segments, lang))
    else:
        write_atomically(output, lambda tmp: _xlsx(tmp, segments, dropped, lang))
    return len(segments)
