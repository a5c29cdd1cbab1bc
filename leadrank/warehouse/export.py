"""Exports of the ranked list for sales: CSV (UTF-8 with BOM, so Excel reads Chinese) and XLSX.

The XLSX has the whole list on its first sheet and one sheet per segment (key-account team) in
the team's own rank order, plus the leads that dropped out since the previous run; every sheet
has a bold frozen header row and filters. `lang="zh"` gives Chinese headers, segment names,
product lines, movements and reasons. Exports read the marts, so suppressed leads are never in
them. Values are shown as a person reads them (`formats`): phones as dialled at home, first_seen
on the sales team's clock (`--timezone`); the XLSX adds number formats (priority 0.83, amounts
1,234,567, real dates), tier colours, clickable websites and wrapped reasons.

Names and reasons come from the open web, so text a spreadsheet would run as a formula (=, +,
-, @, tab, carriage return first) is neutralised: in XLSX it is stored as text with Excel's own
"quote prefix" flag (shown as typed, never run, not even after editing the cell); CSV has no such
flag, so there it gets a leading apostrophe. Files are written to a temporary name in the target
directory, with the user's umask, and moved into place, so a failed export never leaves half a
file (nor the temporary one).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import Engine

from leadrank.warehouse import formats, labels
from leadrank.warehouse.read import dropped_leads, latest_run, segment_leads
from leadrank.warehouse.sheet_cells import FORMULA_START, SheetCells

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
# A value of only digits and number punctuation cannot call anything: "+86 755 8888 8888" stays.
_PLAIN_NUMBER = re.compile(r"^[+-]?[\d\s().]+$")
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_WIDTHS = {"company_name": 36, "company_name_en": 30, "top_reasons": 60, "address": 36, "website": 28, "email": 28,
           "other_phones": 24, "other_emails": 28, "sources": 24, "lead_id": 15, "uscc": 21, "first_seen_at": 17,
           "phone": 16, "segment": 18, "product_line": 16}


class ExportError(RuntimeError):
    pass


def fit_for_excel(frame: pd.DataFrame) -> pd.DataFrame:
    """Control characters (which a worksheet cannot hold) dropped and text beyond Excel's 32,767
    characters a cell cut. Vectorised per column: exports can be large."""
    out = frame.copy()
    for column, values in _text_columns(out):
        unfit = values.str.contains(ILLEGAL_CHARACTERS_RE, na=False) | (values.str.len() > EXCEL_MAX_CELL)
        if unfit.any():
            values = values.astype(object)
            values[unfit] = values[unfit].str.replace(ILLEGAL_CHARACTERS_RE, "", regex=True).str.slice(0, EXCEL_MAX_CELL)
            out[column] = values
    return out


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`fit_for_excel`, and for CSV (which has no way to mark a cell as text) a leading
    apostrophe on text that would start a formula."""
    return neutralise_formulas(fit_for_excel(frame))


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first,
    unless only a number) get a leading apostrophe; for every CSV a person may open in one."""
    out = frame.copy()
    for column, values in _text_columns(out):
        risky = values.str.startswith(FORMULA_START, na=False) & ~values.str.match(_PLAIN_NUMBER, na=False)
        if risky.any():
            out[column] = values.astype(object)
            out.loc[risky, column] = "'" + values[risky].astype(str)
    return out


def _text_columns(frame: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    out = []
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            try:
                values.str  # noqa: B018 - raises AttributeError when the column holds no text
            except AttributeError:
                continue
            out.append((column, values))
    return out


def localise(frame: pd.DataFrame, lang: str, tz: ZoneInfo) -> pd.DataFrame:
    """Values as a person reads them and headers in the chosen language: phones as dialled at
    home, first_seen_at on the clock of `tz`; in English the columns keep their names and
    segments, product lines and movements their codes."""
    out = frame.copy()
    if "key_account" in out:  # a boolean on both dialects (SQLite stores 0/1)
        out["key_account"] = out["key_account"].map(lambda v: None if v is None else bool(v))
    for name, shown in (("phone", formats.phone), ("other_phones", formats.phones),
                        ("first_seen_at", lambda v: formats.local_time(v, tz))):
        if name in out:
            out[name] = out[name].map(shown).astype(object)
    if lang == "zh":
        for name, word in (("key_account", labels.yes_no), ("segment", labels.segment),
                           ("product_line", labels.product_line), ("movement", labels.movement),
                           ("reason", labels.movement)):
            if name in out:
                out[name] = out[name].map(lambda v, word=word: word(v, lang))
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
    styled = SheetCells(sheet, codes)
    for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None):
        sheet.append(styled.row(row))
    sheet.auto_filter.ref = f"A1:{get_column_letter(max(len(codes), 1))}{len(frame) + 1}"


def _xlsx(path: Path, segments: pd.DataFrame, dropped: pd.DataFrame, lang: str, tz: ZoneInfo) -> None:
    workbook = Workbook(write_only=True)
    try:
        _fill_workbook(workbook, segments, dropped, lang, tz)
    except BaseException:
        for sheet in workbook.worksheets:  # finish the half-written sheets' streams; the file is discarded
            sheet.close()
        raise
    workbook.save(path)


def _fill_workbook(workbook: Workbook, segments: pd.DataFrame, dropped: pd.DataFrame, lang: str, tz: ZoneInfo) -> None:
    taken: set[str] = set()
    columns = [c for c in EXPORT_COLUMNS if c in segments.columns]
    seg_columns = [c for c in SEGMENT_SHEET_COLUMNS if c in segments.columns]
    # Every lead is shown once and cut into sheets (phones and dates are formatted once a lead).
    shown = fit_for_excel(localise(segments[seg_columns + ["reasons_for", "reasons_against"]], lang, tz))
    everything = segments.sort_values("rank").index
    _write_sheet(workbook, sheet_title(labels.sheet("all", lang), taken),
                 shown.loc[everything, [header(c, lang) for c in columns]], columns)
    sizes = segments.groupby("segment", dropna=False).size().sort_values(ascending=False, kind="stable")
    for code in sizes.index:
        part = segments[segments["segment"].isna()] if pd.isna(code) else segments[segments["segment"] == code]
        _write_sheet(workbook, sheet_title(labels.segment(None if pd.isna(code) else code, lang), taken),
                     shown.loc[part.sort_values("segment_rank").index, [header(c, lang) for c in seg_columns]],
                     seg_columns)
    if len(dropped):
        frame = fit_for_excel(localise(dropped[DROPPED_COLUMNS], lang, tz))
        _write_sheet(workbook, sheet_title(labels.sheet("dropped", lang), taken), frame, DROPPED_COLUMNS)


def _csv(path: Path, segments: pd.DataFrame, lang: str, tz: ZoneInfo) -> None:
    columns = [c for c in EXPORT_COLUMNS if c in segments.columns]
    frame = localise(segments.sort_values("rank")[columns + ["reasons_for", "reasons_against"]], lang, tz)
    whole_numbers(safe_frame(frame[[header(c, lang) for c in columns]])).to_csv(path, index=False, encoding="utf-8-sig")


def whole_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Number columns holding only whole numbers written without a decimal point: a number the
    database hands back as a float (whole yuan, a rank beside blanks) would print 245394 as
    "245394.0" in a CSV, which has no number formats as a worksheet has."""
    out = frame.copy()
    for column in out.columns:
        values = out[column].dropna()
        if values.empty or pd.api.types.is_bool_dtype(values):
            continue
        if values.dtype == object:
            if not all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in values):
                continue
            values = values.astype(float)
        if pd.api.types.is_float_dtype(values) and (values == values.round()).all() and values.abs().max() < 2**53:
            out[column] = pd.to_numeric(out[column]).astype("Int64")
    return out


def write_atomically(output: Path, write: Callable[[Path], None]) -> None:
    """Run `write(tmp)` on a temporary file beside `output`, then move it into place; on any
    failure nothing is left behind and the reason is an ExportError in words. The file is
    created with mode 0666 less the user's umask, as any other program's output (mkstemp's
    0600 would keep a report mailed from a shared folder unreadable to the team)."""
    directory = output.resolve().parent
    if output.is_dir():
        raise ExportError(f"{output} is a directory; give a file name")
    if not directory.is_dir():
        raise ExportError(f"directory {directory} does not exist")
    tmp = _new_temporary(directory, output.suffix)
    try:
        write(tmp)
        tmp.replace(output)
    except OSError as exc:
        raise ExportError(f"cannot write {output}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _new_temporary(directory: Path, suffix: str) -> Path:
    for _ in range(100):
        path = directory / f".leadrank-export-{secrets.token_hex(6)}{suffix}"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        except OSError as exc:
            raise ExportError(f"cannot write to {directory}: {exc.strerror}") from None
        return path
    raise ExportError(f"cannot write to {directory}: no free temporary name")


def display_settings(lang: str, timezone: str | None) -> ZoneInfo:
    """Check the language and return the display time zone; an ExportError in words if either
    is unknown."""
    if lang not in labels.LANGS:
        raise ExportError(f"unknown language {lang!r}: use {' or '.join(labels.LANGS)}")
    try:
        return formats.zone(timezone)
    except formats.FormatError as exc:
        raise ExportError(str(exc)) from None


def export_ranked(engine: Engine, output: Path, lang: str = "en", timezone: str | None = None) -> int:
    """Write the ranked list to `output` (.csv or .xlsx); returns the number of leads. Times are
    shown in `timezone` (else $LEADRANK_TIMEZONE, else Asia/Shanghai)."""
    suffix = output.suffix.lower()
    if suffix not in {".csv", ".xlsx"}:
        raise ExportError(f"export file must end in .csv or .xlsx, not {output.name!r}")
    tz = display_settings(lang, timezone)
    try:
        published = latest_run(engine)
        segments = segment_leads(engine)
        dropped = dropped_leads(engine) if suffix == ".xlsx" else pd.DataFrame()
    except Exception as exc:  # noqa: BLE001 - e.g. no tables yet
        raise ExportError(f"cannot read the ranked list ({type(exc).__name__}): run `leadrank run` first") from None
    if published is None:
        raise ExportError("no published run yet: run `leadrank run` first")
    if suffix == ".csv":
        write_atomically(output, lambda tmp: _csv(tmp, segments, lang, tz))
    else:
        write_atomically(output, lambda tmp: _xlsx(tmp, segments, dropped, lang, tz))
    return len(segments)
