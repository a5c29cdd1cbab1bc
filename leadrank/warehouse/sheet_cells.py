"""Cells of an XLSX export as a person reads them: number formats, tier colours, clickable
websites, wrapped long text, and text that must never run as a formula.

Styles are chosen per column code (the English column name), so a column added to an export
needs at most one line in one of the tables below. Only cells that need a style become cell
objects; every other value is written plain, which keeps large write-only exports fast.
"""

from __future__ import annotations

import re

from openpyxl.cell import Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.cell_style import StyleArray
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from leadrank.warehouse.charts import TIER_COLOURS

NUMBER_FORMATS = {
    "priority": "0.00", "fit_score": "0.00", "model_score": "0%",
    "est_monthly_volume": "#,##0", "first_seen_at": "yyyy-mm-dd hh:mm",
}
WRAPPED = {"top_reasons", "address"}
LINKED = {"website"}
TIERED = {"tier", "prev_tier"}
STYLED = set(NUMBER_FORMATS) | WRAPPED | LINKED | TIERED
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
    """Turns a row of values into what a write-only sheet appends, styled by column code.

    Setting a style on an openpyxl cell looks it up in the workbook's style tables, which costs
    more than writing the cell; so each distinct style (column, tier or link, formula-like text)
    is set once on a template cell and new cells take a copy of its style indices."""

    def __init__(self, sheet: WriteOnlyWorksheet, codes: list[str]) -> None:
        self.sheet = sheet
        self.codes = codes
        self.styles: dict[tuple[str, object, bool], StyleArray] = {}

    def row(self, values: tuple[object, ...]) -> list[object]:
        out: list[object] = []
        for code, value in zip(self.codes, values, strict=True):
            risky = isinstance(value, str) and value.startswith(FORMULA_START)
            if value is None or not (risky or code in STYLED):
                out.append(value)
                continue
            target = link_target(value) if code in LINKED else None
            variant = value if code in TIERED else bool(target)
            cell = Cell(self.sheet, row=1, column=1, value=value, style_array=self._style(code, variant, risky))
            if risky:  # text, never a formula, shown without an apostrophe
                cell.data_type = "s"
            if target:
                cell.hyperlink = target
            out.append(cell)
        return out

    def _style(self, code: str, variant: object, risky: bool) -> StyleArray:
        key = (code, variant, risky)
        if key not in self.styles:
            template = Cell(self.sheet, row=1, column=1)
            template.quotePrefix = risky
            if code in NUMBER_FORMATS:
                template.number_format = NUMBER_FORMATS[code]
            if code in WRAPPED:
                template.alignment = _WRAP
            if code in TIERED and variant in _TIER_FILLS:
                template.fill = _TIER_FILLS[variant]
                template.font = _TIER_FONTS[variant]
                template.alignment = Alignment(horizontal="center")
            if code in LINKED and variant:
                template.font = _LINK_FONT
            self.styles[key] = template._style
        return self.styles[key]
