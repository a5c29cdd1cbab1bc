"""Prospect rows from any table, for running entity resolution on its own (`leadrank dedupe`).

Columns named like our fields are used as they are (case and spacing ignored: "Company Name"
is company_name); `mapping` maps other names ("Site name" → company_name). Every row becomes
one record, keyed by its values (`content_order`), not its position: resolution works in
record-key order, so the same rows in another order give the same leads. The output keeps the
input's order and rows.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv

from leadrank.contracts import EXTRACTED, PROSPECT_FIELDS
from leadrank.key_lookup import ARROW_TEXT

INPUT_FIELDS = [*PROSPECT_FIELDS, "source"]
_ALIASES = {"name": "company_name", "company": "company_name", "website_url": "website", "url": "website",
            "telephone": "phone", "tel": "phone", "e_mail": "email", "email_address": "email",
            "统一社会信用代码": "uscc", "credit_code": "uscc", "state": "province"}


def _canonical(column: str) -> str:
    key = re.sub(r"[^0-9a-z\u4e00-\u9fff]+", "_", column.strip().lower()).strip("_")
    return _ALIASES.get(key, key)


def read_csv_strings(path: Path, sep: str = ",") -> pd.DataFrame | None:
    """A UTF-8 CSV as strings ('' for empty cells), read by Arrow's multi-threaded reader: at a
    million rows pandas' reader alone takes longer than deduplicating. None when Arrow cannot
    read it (another encoding, duplicate headers): the caller falls back to its usual reader."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(io.StringIO(handle.readline()), delimiter=sep), [])
        if not header or len(set(header)) != len(header):
            return None
        table = pcsv.read_csv(
            path,
            parse_options=pcsv.ParseOptions(delimiter=sep, newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(column_types={name: pa.string() for name in header},
                                                strings_can_be_null=False),
        )
    except (UnicodeDecodeError, pa.ArrowInvalid, StopIteration, OSError):
        return None
    return table.to_pandas()


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a frame of strings as CSV with Arrow (quoting only where needed)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)  # Arrow-backed string columns: no copy
    table = table.cast(pa.schema([pa.field(f.name, pa.string()) for f in table.schema]))
    pcsv.write_csv(table, path, write_options=pcsv.WriteOptions(quoting_style="needed"))


def records_from_table(table: pd.DataFrame, mapping: dict[str, str] | None = None, *, source: str = "input",
                       in_content_order: bool = False) -> pd.DataFrame:
    """EXTRACTED records from a table, in its order (index 0..n-1), or `in_content_order`, the
    record-key order resolution works in (index: each record's row), so that resolution takes no
    reordered copy; raises ValueError naming the columns when no name column can be found or a
    mapping names a column the table lacks or a field we do not know."""
    mapping = mapping or {}
    unknown = sorted(set(mapping.values()) - set(INPUT_FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown} in --map; fields are: {', '.join(INPUT_FIELDS)}")
    missing = sorted(set(mapping) - set(table.columns))
    if missing:
        raise ValueError(f"--map names column(s) {missing} not in the input; columns are: {list(table.columns)}")
    chosen: dict[str, str] = {field: column for column, field in mapping.items()}
    for column in table.columns:
        field = _canonical(str(column))
        if field in INPUT_FIELDS and field not in chosen and column not in mapping:
            chosen[field] = column
    if "company_name" not in chosen:
        raise ValueError(
            f"no company name column among {list(table.columns)}; map one with --map 'COLUMN=company_name'"
        )
    n = len(table)

    def constant(value: str | None) -> pd.Series:  # one shared object per row, not a string each
        return pd.Series(np.full(n, value, dtype=object), index=table.index)

    columns: dict[str, pd.Series] = {}
    for field, column in chosen.items():
        # Arrow-backed text, not a Python string per cell: at 1.4M rows the object copy of ten
        # columns was 1.35 GB, a third of `leadrank dedupe`'s peak (normalise reads Arrow text).
        values = table[column].astype(ARROW_TEXT).str.strip()
        columns[field] = values.where(values != "", None)
    columns["source"] = columns["source"].fillna(source) if "source" in columns else constant(source)
    columns["source_kind"] = constant("input")
    columns["run_id"] = constant("adhoc")
    # Of the table's own values only: the same rows give the same keys whatever the file is called.
    order = content_order(pd.DataFrame({f: columns[f] for f in chosen}))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    columns["record_key"] = pd.Series(_numbered(_KEY, rank), index=table.index)
    # One constructor call: setting two dozen columns of a million rows one by one costs seconds.
    records = pd.DataFrame({c: columns[c] if c in columns else constant(None) for c in EXTRACTED}).reset_index(drop=True)
    return records.take(order) if in_content_order else records


def content_order(fields: pd.DataFrame) -> np.ndarray:
    """The rows' positions in the order of their values (of a 64-bit hash of them; equal rows in
    table order). Records are keyed by their rank in it: resolution works in record-key order
    (the sorted neighbourhoods of large blocks, ties between equal scores, each cluster's first
    record), and keys from row numbers let the input's row order move a few records to other
    leads (179 of the 27k leads of a 100k-row list between two orders). Equal rows may trade
    places, which cannot matter: they are one record written twice."""
    if not len(fields):
        return np.empty(0, dtype=np.int64)
    digest = pd.util.hash_pandas_object(fields[sorted(fields.columns)], index=False).to_numpy()
    return np.argsort(digest, kind="stable")


_KEY = "key"  # a record key: 'key' and the record's rank in content order


def _numbered(prefix: str, numbers: np.ndarray) -> np.ndarray:
    """prefix + each number in nine digits ('row000000007'), so that they sort as the numbers do."""
    numbers = np.asarray(numbers)
    if not len(numbers):  # np.char.zfill of no rows fails
        return np.empty(0, dtype=object)
    return np.char.add(prefix, np.char.zfill(numbers.astype(str), 9)).astype(object)


def evidence_by_row(evidence: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Match evidence naming the other record by its row in the table ('row000000007:
    phone,name= (12.0)', counted from 0, the header not counted) instead of its record key ('key000000123', its rank in content order:
    `rows[123]` is its row)."""
    out = pd.Series(evidence, dtype=object)
    given = out.notna() & (out != "")
    if given.any():
        parts = out[given].str.split(": ", n=1)
        rank = parts.str[0].str.slice(len(_KEY)).astype(np.int64).to_numpy()
        out[given] = _numbered("row", np.asarray(rows)[rank]) + ": " + parts.str[1].to_numpy(dtype=object)
    return out.to_numpy(dtype=object)
