"""Cells of an XLSX export as a person reads them: number formats, tier colours, clickable
websites, wrapped long text, and text that must never run as a formula.

Styles are chosen per column code (the English column name), so a column added to an export
needs at most one line in one of the tables below. Only cells that need a style become cell
objects; every other value is written plain, which keeps large write-only exports fast.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from leadrank.warehouse.charts import TIER_COLOURS

NUMBER_FORMATS = {
    "priority": "0.00", "fit_score": "0.00", "model_score": "0%",
    "est_monthly_volume": "#,##0", "first_seen_at": "yyyy-mm-dd hh:mm",
}
WRAPPED = {"top_reasons", "address"}
LINKED = {"website"}
TIERED = {"tier", "prev_tier"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Hyperlink targets: web addresses only (never file:, javascript: or a UNC path), short enough
# for Excel (2,079 characters at most), and a bare host such as www.example.com gets http://.
_WEB = re.compile(r"^https?://[^\s\"<>]+$", re.I)
_BARE_HOST = re.compile(r"^[\w-]+(\.[\w-]+)+(/[^\s\"<>]*)?$")
_MAX_LINK = 2000
_LINK_FONT = Font(color="0563C1", underline="single")
_WRAP = Alignment(wrap_text=True, vertical="top")
_TIER_FILLS = {t: PatternFill("solid", fgColor=c.lstrip("#").upper()) for t, c in TIER_COLOURS.items()}
_TIER_FONTS = {"A": Font(bold=True, color="FFFFFF"), "B": Font(bold=True), "C": Font(bold=True), "D": Font(bold=True)}


def link_target(value: object) -> str | None:
    """The web address a website cell links to, or None when it is not one."""
    if not isinstance(value, str) or len(value) > _MAX_LINK:
        return None
    text = value.strip()
    if _WEB.match(text):
        return text
    return f"http://{text}" if _BARE_HOST.match(text) else None


class SheetCells:
    """Turns a row of values into what a write-only sheet appends, styled by column code."""

    def __init__(self, sheet: WriteOnlyWorksheet, codes: list[str]) -> None:
        self.sheet = sheet
        self.stylers: list[Callable[[WriteOnlyCell, object], None] | None] = [self._styler(c) for c in codes]

    def _styler(self, code: str) -> Callable[[WriteOnlyCell, object], None] | None:
        if code in NUMBER_FORMATS:
            number_format = NUMBER_FORMATS[code]
            return lambda cell, value: setattr(cell, "number_format", number_format)
        if code in WRAPPED:
            return lambda cell, value: setattr(cell, "alignment", _WRAP)
        if code in TIERED:
            return _tier
        if code in LINKED:
            return _link
        return None

    def row(self, values: tuple[object, ...]) -> list[object]:
        out: list[object] = []
        for value, styler in zip(values, self.stylers, strict=True):
            risky = isinstance(value, str) and value.startswith(FORMULA_START)
            if value is None or (styler is None and not risky):
                out.append(value)
                continue
            cell = WriteOnlyCell(self.sheet, value=value)
            if risky:  # text, never a formula, shown without an apostrophe
                cell.data_type = "s"
                cell.quotePrefix = True
            if styler is not None:
                styler(cell, value)
            out.append(cell)
        return out


def _tier(cell: WriteOnlyCell, value: object) -> None:
    if value in _TIER_FILLS:
        cell.fill = _TIER_FILLS[value]
        cell.font = _TIER_FONTS[value]
        cell.alignment = Alignment(horizontal="center")


def _link(cell: WriteOnlyCell, value: object) -> None:
    target = link_target(value)
    if target:
        cell.hyperlink = target
        cell.font = _LINK_FONT
