"""Exports of the ranked list for sales: CSV (UTF-8 with BOM, so Excel reads Chinese) and XLSX.

Cells that a spreadsheet would run as a formula (=, +, -, @, tab, carriage return first) are
neutralised with a leading apostrophe: names and reasons come from the open web. Files are
written to a temporary name and moved into place, so a failed export never leaves half a file.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from leadrank.warehouse.read import ranked_leads

EXPORT_COLUMNS = [
    "rank", "tier", "lead_id", "company_name", "company_name_en", "segment", "product_line", "province", "city",
    "website", "phone", "email", "priority", "fit_score", "model_score", "key_account", "est_monthly_volume",
    "movement", "top_reasons", "sources", "first_seen_at",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A value of only digits and number punctuation cannot call anything: "+86 755 8888 8888" stays.
_PLAIN_NUMBER = re.compile(r"^[+-]?[\d\s().]+$")


class ExportError(RuntimeError):
    pass


def neutralise(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(neutralise)
    return out


def export_ranked(engine: Engine, output: Path) -> int:
    suffix = output.suffix.lower()
    if suffix not in {".csv", ".xlsx"}:
        raise ExportError(f"export file must end in .csv or .xlsx, not {output.name!r}")
    try:
        frame = ranked_leads(engine)
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"cannot read the ranked list ({type(exc).__name__}); has a run been published?") from None
    frame = safe_frame(frame[[c for c in EXPORT_COLUMNS if c in frame.columns]])
    directory = output.resolve().parent
    if not directory.is_dir():
        raise ExportError(f"directory {directory} does not exist")
    try:
        handle, tmp_name = tempfile.mkstemp(prefix=".leadrank-export-", suffix=suffix, dir=directory)
    except OSError as exc:
        raise ExportError(f"cannot write to {directory}: {exc.strerror}") from None
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False, encoding="utf-8-sig")
        else:
            with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
                frame.to_excel(writer, sheet_name="ranked_leads", index=False)
                sheet = writer.sheets["ranked_leads"]
                sheet.freeze_panes = "A2"
                sheet.auto_filter.ref = sheet.dimensions
        tmp.replace(output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {output}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return len(frame)
