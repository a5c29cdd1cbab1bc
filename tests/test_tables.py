"""The one table reader (leadrank.tables) that statements, outcomes and the CLI share."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

from leadrank.tables import TableError, read_csv_text, read_table, separator

ROWS = pd.DataFrame({"公司名称": ["深圳市甲科技有限公司", ""], "结果": ["成交", "丢单"]})


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_a_csv_reads_the_same_in_utf8_with_or_without_bom_and_in_gbk(tmp_path, encoding):
    path = tmp_path / "crm.csv"
    path.write_bytes(ROWS.to_csv(index=False).encode(encoding))
    pd.testing.assert_frame_equal(read_table(path), ROWS)


def test_an_xlsx_reads_as_strings_with_blanks_as_empty(tmp_path):
    path = tmp_path / "crm.xlsx"
    ROWS.assign(金额=[1200, None]).to_excel(path, index=False)
    table = read_table(path)
    assert list(table["公司名称"]) == list(ROWS["公司名称"]) and list(table["金额"]) == ["1200", ""]


@pytest.mark.parametrize("text", ["company_name\nFoo, Bar Ltd\nBaz AG\n", "name,city\nFoo, Bar Ltd,London\nBaz AG,Bonn\n"])
def test_a_first_row_longer_than_the_header_is_an_error_naming_its_line(tmp_path, text):
    """pandas took such a row as "the first column is an index" and moved every value one
    column left: "Foo" vanished and "Baz AG" read as an empty name."""
    path = tmp_path / "list.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(pd.errors.ParserError, match="line 2 has 3 fields but the header has 2|line 2 has 2 fields but the header has 1"):
        read_table(path)


def test_bytes_no_known_encoding_reads_are_refused_with_the_way_out(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_bytes(b"name\n\xff\xfe\xfa\n")
    with pytest.raises(TableError, match="set `encoding:`"):
        read_table(path)


def test_the_warehouse_reads_tables_without_importing_scoring():
    tree = ast.parse(Path("leadrank/warehouse/feedback.py").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "leadrank.tables" in imported and "leadrank.scoring.financials" not in imported


def test_a_header_without_the_separator_but_with_another_common_one_is_read_by_that_one():
    assert separator("公司名称;结果;日期") == ";" and separator("a\tb") == "\t" and separator("name") == ","
    assert separator("a,b;c") == "," and separator("a;b", default=";") == ";"
    assert list(read_csv_text("公司名称;结果\n甲公司;成交\n").columns) == ["公司名称", "结果"]
    assert list(read_csv_text("exported\n公司名称;结果\n甲公司;成交\n", skiprows=1).columns) == ["公司名称", "结果"]
