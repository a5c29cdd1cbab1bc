"""Reading a user's table file — financial statements, a CRM export of outcomes, a file to
dedupe — as strings: CSV in UTF-8 (with or without BOM) or GB18030 (a superset of GBK, what
Chinese Excel and finance portals save), or an XLSX workbook's first sheet.

At the package top level because three layers read such files (scoring's statements and
outcomes, the warehouse's outcome import, the CLI) and none should import another's module for it.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

TEXT_ENCODINGS = ("utf-8-sig", "gb18030")  # tried in this order when no encoding is given


class TableError(ValueError):
    """A table file that cannot be read at all; the message says why."""


SEPARATORS = (",", ";", "\t", "|")


def separator(header: str, default: str = ",") -> str:
    """The field separator of a CSV from its header line: `default`, unless the line holds none
    of it and holds another common one (';' from a European Excel, a tab, '|'): read with the
    default, such a file would be one column named after the whole header."""
    counts = {sep: header.count(sep) for sep in SEPARATORS if sep != default}
    if header.count(default) or not any(counts.values()):
        return default
    return max(counts, key=lambda sep: counts[sep])


def read_csv_text(text: str, **options: Any) -> pd.DataFrame:
    """pandas.read_csv of `text` (strings, blanks as "") that never guesses an index column.

    Left to itself, pandas reads a first data row with one field more than the header (a name
    like "Foo, Bar Ltd" not quoted) as "the first column is an index": every row's values move
    one column left and the first ones vanish, silently. Here that row is an error (ParserError)
    naming its line, as pandas already reports such a row further down. A header without the
    given separator but with another common one is read by that one (`separator`)."""
    options = {"dtype": str, "keep_default_na": False, **options, "index_col": False}
    skip = int(options.get("skiprows") or 0)
    lines = text.split("\n", skip + 1)
    options["sep"] = separator(lines[skip] if len(lines) > skip else "", options.get("sep") or ",")
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            return pd.read_csv(io.StringIO(text), **options)
        except pd.errors.ParserWarning:
            raise pd.errors.ParserError(_longer_row(text, options)) from None


def _longer_row(text: str, options: dict[str, Any]) -> str:
    """Which line holds more fields than the header, in words."""
    rows = csv.reader(io.StringIO(text), delimiter=options.get("sep") or ",")
    for _ in range(int(options.get("skiprows") or 0)):
        next(rows, None)
    width = len(next(rows, []))
    for row in rows:
        if len(row) > width:
            return (f"line {rows.line_num} has {len(row)} fields but the header has {width}: "
                    "quote values that contain the separator")
    return f"a row has more fields than the header's {width}"


def read_text_table(path: Path, encoding: str | None, sep: str, header: int | None = 0) -> pd.DataFrame:
    """A CSV as strings (blanks as ""), in `encoding` or the first of TEXT_ENCODINGS that decodes it."""
    data = path.read_bytes()
    for enc in [encoding] if encoding else TEXT_ENCODINGS:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        return read_csv_text(text, sep=sep, header=header)
    raise TableError(f"{path}: not UTF-8 or GB18030; set `encoding:` for this file")


def read_table(path: Path, encoding: str | None = None, sep: str = ",", header: int | None = 0) -> pd.DataFrame:
    """A CSV (see read_text_table) or XLSX/XLSM file as strings, blanks as ""."""
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        return pd.read_excel(path, dtype=str, header=header).fillna("")
    return read_text_table(path, encoding, sep, header)


def header_key(header: object) -> str:
    """A column header as a user types one: spaces collapsed, case folded ("Converted " and
    "converted", "Sales  Rep" and "sales rep" are one key)."""
    return " ".join(str(header).split()).casefold()
