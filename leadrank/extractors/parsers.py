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

Row = tuple[dict[str, str | None], dict[str, Any]]

# XLSX files are zip archives; refuse ones that would expand beyond this (zip bombs).
MAX_XLSX_UNCOMPRESSED = 200_000_000


class ParseError(ValueError):
    """A document does not have the shape its source declares."""


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


def _span(cell: Tag, attr: str) -> int:
    try:
        return max(1, min(int(str(cell.get(attr, 1)).strip() or 1), 1000))
    except ValueError:
        return 1


@dataclass
class GridRow:
    """One table row laid out on the column grid: `cells[i]` is the cell covering column i
    (possibly one spanning down from a row above); `own[i]` says whether it starts here."""

    tr: Tag
    cells: list[Tag | None]
    own: list[bool]


def table_grid(table: Tag) -> list[GridRow]:
    """Rows with rowspan/colspan expanded, so that column i means the same column in every row."""
    grid: list[GridRow] = []
    pending: dict[int, tuple[Tag, int]] = {}  # column -> (cell spanning down, rows still to cover)
    for tr in own_rows(table):
        cells: list[Tag | None] = []
        own: list[bool] = []
        queue = tr.find_all(["td", "th"], recursive=False)
        column = 0
        while queue or any(c >= column for c in pending):
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
            cell = queue.pop(0)
            rowspan, colspan = _span(cell, "rowspan"), _span(cell, "colspan")
            for offset in range(colspan):
                cells.append(cell)
                own.append(offset == 0)
                if rowspan > 1:
                    pending[column + offset] = (cell, rowspan - 1)
            column += colspan
        grid.append(GridRow(tr, cells, own))
    return grid


def _cell_text(cell: Tag | None) -> str:
    return node_text(cell) if cell is not None else ""


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
        parts = urlsplit(value)
        if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
            value = None
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
    for table in tables:
        grid = table_grid(table)
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
        texts = [_cell_text(c) for c in row.cells]
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
        raw: dict[str, Any] = {header[i] if i < len(header) and header[i] else f"col{i}": t for i, t in enumerate(texts)}
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
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParseError(f"invalid JSON at line {exc.lineno} column {exc.colno}") from None
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
        value, _ = json.JSONDecoder().raw_decode(payload.strip())
    except json.JSONDecodeError as exc:
        raise ParseError(f"embedded JSON is invalid: {exc.msg}") from None
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
        out.append((map_json(entry, fields), raw))
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
        return pd.read_csv(
            io.BytesIO(content),
            sep=opts.get("sep", ","),
            dtype=str,
            encoding=opts.get("encoding") or encoding,
            keep_default_na=False,
            skiprows=int(opts.get("skip_rows", 0)),
        )
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
