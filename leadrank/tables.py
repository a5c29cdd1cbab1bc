"""Reading a user's table file — financial statements, a CRM export of outcomes, a file to
dedupe — as strings: CSV in UTF-8 (with or without BOM) or GB18030 (a superset of GBK, what
Chinese Excel and finance portals save), or an XLSX workbook's first sheet.

At the package top level because three layers read such files (scoring's statements and
outcomes, the warehouse's outcome import, the CLI) and none should import another's module for it.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

TEXT_ENCODINGS = ("utf-8-sig", "gb18030")  # tried in this order when no encoding is given


class TableError(ValueError):
    """A table file that cannot be read at all; the message says why."""


def read_text_table(path: Path, encoding: str | None, sep: str, header: int | None = 0) -> pd.DataFrame:
    """A CSV as strings (blanks as ""), in `encoding` or the first of TEXT_ENCODINGS that decodes it."""
    data = path.read_bytes()
    for enc in [encoding] if encoding else TEXT_ENCODINGS:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, header=header)
    raise TableError(f"{path}: not UTF-8 or GB18030; set `encoding:` for this file")


def read_table(path: Path, encoding: str | None = None, sep: str = ",", header: int | None = 0) -> pd.DataFrame:
    """A CSV (see read_text_table) or XLSX/XLSM file as strings, blanks as ""."""
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        return pd.read_excel(path, dtype=str, header=header).fillna("")
    return read_text_table(path, encoding, sep, header)
