"""Parsers for the page shapes sources come in: HTML item lists, HTML tables, JSON (served or
embedded in a page) and CSV/XLSX files. Each turns one fetched document into a list of
`(fields, raw)` pairs: the mapped prospect fields, and every value the document held for that
row, as found, for provenance.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pandas as pd
from bs4 import BeautifulSoup, Tag

from leadrank.extractors.fields import clean_text, css_value, json_path, map_css, map_json, node_text

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


def _header_cells(row: Tag) -> list[str]:
    return [node_text(c) for c in row.find_all(["th", "td"], recursive=False)]


def parse_html_table(doc: BeautifulSoup, opts: dict[str, Any]) -> list[Row]:
    """A member table: the header row names columns, `columns` maps our fields to header text.

    Cells keep their links: a field mapped to `网址@href` takes the cell's link target.
    Header matching ignores surrounding whitespace, so `机构名称` matches `&nbsp;机构名称 `.
    """
    table = doc.select_one(opts.get("table") or "table")
    if table is None:
        raise ParseError("no table found on the page")
    rows = table.find_all("tr")
    if not rows:
        raise ParseError("the table has no rows")
    header_index = int(opts.get("header_row", 0))
    header = _header_cells(rows[header_index])
    columns: dict[str, str] = opts.get("columns") or {}
    wanted: dict[str, tuple[int, str]] = {}
    for field, spec in columns.items():
        name, _, attr = spec.partition("@")
        if name.strip() not in header:
            raise ParseError(f"column {name.strip()!r} (for {field}) not in table header {header}")
        wanted[field] = (header.index(name.strip()), attr.strip())
    out: list[Row] = []
    for row in rows[header_index + 1 :]:
        cells = row.find_all(["td", "th"], recursive=False)
        if not cells or all(not node_text(c) for c in cells):
            continue
        raw = {header[i] if i < len(header) else f"col{i}": node_text(c) for i, c in enumerate(cells)}
        fields: dict[str, str | None] = {}
        for field, (index, attr) in wanted.items():
            if index >= len(cells):
                fields[field] = None
            elif attr:
                link = cells[index].find(href=True) if attr == "href" else cells[index]
                fields[field] = clean_text(link.get(attr)) if link is not None else None
                fields[field] = fields[field] or clean_text(node_text(cells[index]))
            else:
                fields[field] = clean_text(node_text(cells[index]))
        out.append((fields, raw))
    return out


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
    return {name: css_value(root, spec) for name, spec in fields.items()}
