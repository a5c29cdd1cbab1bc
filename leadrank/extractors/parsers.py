"""Parsers for the page shapes sources come in: HTML item lists, HTML tables, JSON (served or
embedded in a page) and CSV/XLSX files. Each turns one fetched document into a list of
`(fields, raw)` pairs: the mapped prospect fields, and every value the document held for that
row, as found, for provenance.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from bs4 import BeautifulSoup, Tag

from leadrank.extractors.fields import clean_text, json_path, map_css, map_json, node_text
from leadrank.tables import read_csv_text

Row = tuple[dict[str, str | None], dict[str, Any]]

# XLSX files are zip archives; refuse ones that would expand beyond this (zip bombs).
MAX_XLSX_UNCOMPRESSED = 200_000_000
# Cells a page's tables may lay out once merged cells are expanded. A colspan or rowspan repeats
# a cell on the grid: a 369 KB page of `colspan=1000` cells took 107 s and 2.28 GB. A real member
# table of a 10 MB page (the body cap) has far fewer than this; beyond it the page is refused.
MAX_GRID_CELLS = 500_000
# The largest spans HTML itself honours (browsers clamp larger values to these).
MAX_COLSPAN, MAX_ROWSPAN = 1000, 65534


class ParseError(ValueError):
    """A document does not have the shape its source declares."""


class OversizedInt:
    """An integer in a JSON document with more digits than Python converts to text (4,300):
    json.loads would fail the whole document on it, so it is kept aside as this, which refuses to
    become text: the record holding it is rejected with the reason, the others are read."""

    def __init__(self, digits: str):
        self.digits = len(digits.lstrip("-"))

    def __str__(self) -> str:
        raise ValueError(f"an integer of {self.digits} digits (more than can be converted)")

    def __repr__(self) -> str:
        return f"<integer of {self.digits} digits>"


class Unreadable(dict):
    """The fields of a record that cannot be read (a value nested deeper than the stack allows,
    an OversizedInt): empty, with the reason. The runner rejects such a row and reads the rest."""

    def __init__(self, error: Exception):
        super().__init__()
        self.reason = "nested too deep" if isinstance(error, RecursionError) else str(error)


def _parse_int(digits: str) -> int | OversizedInt:
    try:
        return int(digits)
    except ValueError:
        return OversizedInt(digits)


_JSON = json.JSONDecoder(parse_int=_parse_int)


def soup(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "lxml")


def parse_html_items(doc: BeautifulSoup, opts: dict[str, Any]) -> list[Row]:
    """Cards or list entries: `items` selects one element per exhibitor, `fields` maps inside it."""
    selector = opts.get("items")
    if not selector:
        raise ParseError("an HTML list source needs `items` (a CSS selector for one entry)")
    fields: dict[str, str] = opts.get("fields") or {}
    rows: list[Row] = []
    for item in doc.select(selector):
        mapped = map_css(item, fields)
        rows.append((mapped, {"text": node_text(item)[:2000], **{k: v for k, v in mapped.items() if v}}))
    return rows


def own_rows(table: Tag) -> list[Tag]:
    """The rows of `table` itself, not of tables nested in its cells (AMAC wraps the 序号 of
    some rows in a one-cell table)."""
    return [tr for tr in table.find_all("tr") if tr.find_parent("table") is table]


def _span(cell: Tag, attr: str, largest: int) -> int:
    try:
        return max(1, min(int(str(cell.get(attr, 1)).strip()[:6] or 1), largest))
    except ValueError:
        return 1


class GridTooLarge(ParseError):
    def __init__(self, max_cells: int):
        super().__init__(f"the page's tables expand to more than {max_cells} cells once merged cells "
                         "(colspan/rowspan) are laid out: page refused")


@dataclass
class GridRow:
    """One table row laid out on the column grid: `cells[i]` is the cell covering column i
    (possibly one spanning down from a row above); `own[i]` says whether it starts here."""

    tr: Tag
    cells: list[Tag | None]
    own: list[bool]


def table_grid(table: Tag, max_cells: int = MAX_GRID_CELLS) -> list[GridRow]:
    """Rows with rowspan/colspan expanded, so that column i means the same column in every row.
    Raises ParseError when the expanded grid would exceed `max_cells` (merged-cell amplification)."""
    grid: list[GridRow] = []
    pending: dict[int, tuple[Tag, int]] = {}  # column -> (cell spanning down, rows still to cover)
    laid_out = 0
    for tr in own_rows(table):
        cells: list[Tag | None] = []
        own: list[bool] = []
        queue = tr.find_all(["td", "th"], recursive=False)
        queue.reverse()  # popped from the end
        column = 0
        last_pending = max(pending, default=-1)  # cells spanning down from above reach this far
        while queue or column <= last_pending:
            if column in pending:
                cell, left = pending.pop(column)
                if left > 1:
                    pending[column] = (cell, left - 1)
                cells.append(cell)
                own.append(False)
                column += 1
                continue
            if not queue:
                cells.append(None)
                own.append(False)
                column += 1
                continue
            cell = queue.pop()
            rowspan, colspan = _span(cell, "rowspan", MAX_ROWSPAN), _span(cell, "colspan", MAX_COLSPAN)
            if laid_out + len(cells) + colspan > max_cells:
                raise GridTooLarge(max_cells)
            for offset in range(colspan):
                cells.append(cell)
                own.append(offset == 0)
                if rowspan > 1:
                    pending[column + offset] = (cell, rowspan - 1)
            column += colspan
        laid_out += len(cells)
        if laid_out > max_cells:  # cells spanning down from rows above
            raise GridTooLarge(max_cells)
        grid.append(GridRow(tr, cells, own))
    return grid


def _cell_text(cell: Tag | None) -> str:
    return node_text(cell) if cell is not None else ""


def _row_texts(cells: list[Tag | None]) -> list[str]:
    """The text of each grid cell of a row, read once per cell however many columns it spans."""
    seen: dict[int, str] = {}
    for cell in cells:
        if cell is not None and id(cell) not in seen:
            seen[id(cell)] = node_text(cell)
    return [seen[id(c)] if c is not None else "" for c in cells]


def _has_columns(header: list[str] | set[str], names: list[list[str]]) -> bool:
    """Whether a header row carries one of the alternative names of every mapped column."""
    return all(any(name in header for name in alternatives) for alternatives in names)


def _find_header(grid: list[GridRow], names: list[list[str]], fixed: int | None) -> int:
    """`header_row` when given, else the first of the top rows that carries every mapped column
    (tables often put a title row above the header), else the first row."""
    if fixed is not None:
        if fixed >= len(grid):
            raise ParseError(f"header_row {fixed} but the table has {len(grid)} rows")
        return fixed
    for index, row in enumerate(grid[:15]):
        if _has_columns({_cell_text(c) for c in row.cells}, names):
            return index
    return 0


def _link_value(cell: Tag, attr: str) -> str | None:
    """A cell's link target when it is a real http(s) URL (`<a href="http://">` is not), else
    the cell's text: the value the reader of the page would follow."""
    link = cell.find(href=True) if attr == "href" else cell
    value = clean_text(link.get(attr)) if link is not None else None
    if attr == "href" and value:
        try:
            parts = urlsplit(value)
            usable = parts.scheme.lower() in {"http", "https"} and bool(parts.hostname)
        except ValueError:  # malformed (`http://[bad`): the cell's text instead
            usable = False
        value = value if usable else None
    return value or clean_text(node_text(cell))


def parse_html_table(doc: BeautifulSoup, opts: dict[str, Any]) -> list[Row]:
    """A member table: the header row names columns, `columns` maps our fields to header text.

    Cells keep their links: a field mapped to `网址@href` takes the cell's link target. Header
    matching ignores surrounding whitespace (`&nbsp;机构名称 ` is `机构名称`); a column may list
    alternatives (`[机构名称, 会员名称]`). Merged cells count for every row they cover, so a
    member level merged over a block of rows is kept on each; a row whose name cell is merged
    from the row above continues that record (its own cells are appended, not a new company).
    A row of one cell across the whole table is a section heading (`一、理事单位`): it goes into
    each following row's raw values, and into `section_field` (e.g. member_level) when set.
    """
    columns: dict[str, str | list[str]] = opts.get("columns") or {}
    wanted_names = {field: ([spec] if isinstance(spec, str) else list(spec)) for field, spec in columns.items()}
    header_names = [[n.partition("@")[0].strip() for n in names] for names in wanted_names.values()]
    tables = doc.select(opts["table"]) if opts.get("table") else [t for t in doc.find_all("table") if t.find_parent("table") is None]
    if not tables:
        raise ParseError("no table found on the page")
    candidates = []
    budget = MAX_GRID_CELLS  # for the whole page, not per table
    for table in tables:
        grid = table_grid(table, budget)
        budget -= sum(len(row.cells) for row in grid)
        if not grid:
            continue
        header_index = _find_header(grid, header_names, opts.get("header_row"))
        header = [_cell_text(c) for c in grid[header_index].cells]
        candidates.append((grid, header_index, header))
    if not candidates:
        raise ParseError("the table has no rows")
    # the first table whose header carries the mapped columns, else the first table (for the error)
    grid, header_index, header = next((c for c in candidates if _has_columns(c[2], header_names)), candidates[0])
    wanted: dict[str, tuple[int, str]] = {}
    for field, names in wanted_names.items():
        for spec in names:
            name, _, attr = spec.partition("@")
            if name.strip() in header:
                wanted[field] = (header.index(name.strip()), attr.strip())
                break
        else:
            raise ParseError(f"column {' / '.join(n.partition('@')[0].strip() for n in names)!r} (for {field}) "
                             f"not in table header {header}")
    name_column = wanted.get("company_name", (None, ""))[0]
    section_field = opts.get("section_field")
    section: str | None = None
    out: list[Row] = []
    previous: GridRow | None = None
    for row in grid[header_index + 1 :]:
        texts = _row_texts(row.cells)
        if not any(texts) or texts == header:
            continue
        own_cells = [c for c, own in zip(row.cells, row.own, strict=True) if own]
        if len(own_cells) == 1 and len(grid[header_index].cells) > 1 and len(set(map(id, row.cells))) == 1:
            section = texts[0]  # a heading across the whole table
            continue
        if out and previous is not None and name_column is not None and name_column < len(row.cells) \
                and not row.own[name_column] and row.cells[name_column] is previous.cells[name_column]:
            _continue_record(out[-1], row, texts, header, wanted)
            previous = row
            continue
        raw: dict[str, Any] = {header[i] if i < len(header) and header[i] else f"col{i}": t for i, t in enumerate(texts)
                               if i == 0 or row.cells[i] is None or row.cells[i] is not row.cells[i - 1]}
        links = [a["href"] for a in row.tr.find_all("a", href=True)]
        if links:
            raw["_links"] = links
        if section:
            raw["_section"] = section
        fields: dict[str, str | None] = {}
        for field, (index, attr) in wanted.items():
            cell = row.cells[index] if index < len(row.cells) else None
            if cell is None:
                fields[field] = None
            elif attr:
                fields[field] = _link_value(cell, attr)
            else:
                fields[field] = clean_text(texts[index])
        if section_field and section and not fields.get(section_field):
            fields[section_field] = section
        out.append((fields, raw))
        previous = row
    return out


def _continue_record(record: Row, row: GridRow, texts: list[str], header: list[str],
                     wanted: dict[str, tuple[int, str]]) -> None:
    """Append a continuation row's own non-empty cells to the record it continues."""
    fields, raw = record
    for index, own in enumerate(row.own):
        if not own or not texts[index]:
            continue
        key = header[index] if index < len(header) and header[index] else f"col{index}"
        raw[key] = f"{raw.get(key) or ''} {texts[index]}".strip()
        for field, (column, _) in wanted.items():
            if column == index:
                fields[field] = clean_text(f"{fields.get(field) or ''} {texts[index]}")


def load_json_document(text: str, opts: dict[str, Any]) -> Any:
    """The JSON of a response, or JSON embedded in an HTML page (`embedded: script#__NEXT_DATA__`,
    or `embedded_var: window.__DATA__` for `var = {...};` assignments in inline scripts)."""
    selector = opts.get("embedded")
    variable = opts.get("embedded_var")
    if not selector and not variable:
        try:
            return _JSON.decode(text)
        except json.JSONDecodeError as exc:
            raise ParseError(f"invalid JSON at line {exc.lineno} column {exc.colno}") from None
        except RecursionError:
            raise ParseError("JSON nested deeper than can be read") from None
    doc = soup(text)
    if selector:
        node = doc.select_one(selector)
        if node is None:
            raise ParseError(f"no element matches {selector!r} for embedded JSON")
        payload = node.string or node.get_text()
    else:
        payload = None
        for script in doc.find_all("script"):
            body = script.string or ""
            at = body.find(variable)
            if at >= 0:
                start = body.find("=", at) + 1
                payload = body[start:].strip()
                break
        if payload is None:
            raise ParseError(f"no inline script assigns {variable!r}")
    try:
        value, _ = _JSON.raw_decode(payload.strip())
    except json.JSONDecodeError as exc:
        raise ParseError(f"embedded JSON is invalid: {exc.msg}") from None
    except RecursionError:
        raise ParseError("embedded JSON nested deeper than can be read") from None
    return value


def parse_json_records(data: Any, opts: dict[str, Any]) -> list[Row]:
    """`records` is the path to the list of entries; `fields` maps dotted paths inside one."""
    records = json_path(data, opts.get("records", ""))
    if records is None:
        raise ParseError(f"JSON has nothing at records path {opts.get('records')!r}")
    if isinstance(records, dict):
        records = list(records.values())
    if not isinstance(records, list):
        raise ParseError(f"records path {opts.get('records')!r} is not a list")
    fields: dict[str, str] = opts.get("fields") or {}
    out: list[Row] = []
    for entry in records:
        raw = entry if isinstance(entry, dict) else {"value": entry}
        try:
            out.append((map_json(entry, fields), raw))
        except (ValueError, RecursionError) as exc:
            out.append((Unreadable(exc), raw))
    return out


def _check_xlsx(content: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise ParseError("not a valid XLSX file (bad zip archive)") from None
    if total > MAX_XLSX_UNCOMPRESSED:
        raise ParseError(f"XLSX expands to {total} bytes, over the limit of {MAX_XLSX_UNCOMPRESSED}")


def read_table_bytes(content: bytes, fmt: str, opts: dict[str, Any], encoding: str) -> pd.DataFrame:
    """A CSV or XLSX document as a frame of strings (no type guessing: values as found)."""
    try:
        if fmt == "xlsx":
            _check_xlsx(content)
            return pd.read_excel(io.BytesIO(content), sheet_name=opts.get("sheet", 0), dtype=str)
        charset = opts.get("encoding") or encoding
        # a UTF-8 byte-order mark is no part of the first header (pandas dropped it as it decoded)
        text = content.decode("utf-8-sig" if charset.lower().replace("_", "-") in {"utf-8", "utf8"} else charset)
        return read_csv_text(text, sep=opts.get("sep", ","), skiprows=int(opts.get("skip_rows", 0)))
    except ParseError:
        raise
    except Exception as exc:  # pandas raises many types for malformed files
        raise ParseError(f"cannot read {fmt.upper()}: {type(exc).__name__}: {exc}") from None


def parse_table_file(frame: pd.DataFrame, opts: dict[str, Any]) -> list[Row]:
    columns: dict[str, str] = opts.get("columns") or {}
    frame = frame.rename(columns=lambda c: str(c).strip())
    missing = [c for c in columns.values() if c not in frame.columns]
    if missing:
        raise ParseError(f"columns {missing} not in file header {list(frame.columns)[:20]}")
    out: list[Row] = []
    for record in frame.to_dict("records"):
        raw = {k: v for k, v in record.items() if clean_text(v) is not None}
        out.append(({field: clean_text(record[col]) for field, col in columns.items()}, raw))
    return out


def detail_fields(doc: BeautifulSoup, fields: dict[str, str]) -> dict[str, str | None]:
    """Fields from an exhibitor's detail page, mapped from the whole page."""
    root = doc.select_one("body") or doc
    return map_css(root, fields)
