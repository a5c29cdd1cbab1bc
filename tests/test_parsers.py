"""Parsers and field mapping on the shapes real directories come in: AMAC-style tables (Word
markup, merged cells, nested tables, link cells), association card lists, CAAT-style JSON with
entries not all shaped alike, embedded JSON, CSV and XLSX. The fixtures are written here,
imitating the real files in ../shared/realdata; examples/realdata.yaml is run against them."""

import io
import json
import zipfile

import pytest
from openpyxl import Workbook

from leadrank.config import SourceConfig, load_config
from leadrank.extractors import parsers
from leadrank.extractors.fields import css_value, json_path, node_text
from leadrank.extractors.runner import extract_source
from leadrank.paths import PACKAGE_DIR
from tests.http_fakes import FAST

EXAMPLE = PACKAGE_DIR.parent / "examples" / "realdata.yaml"

# An AMAC-like fragment: a comment first, &nbsp; in headers, a 序号 wrapped in a nested table,
# Word-exported spans inside <p>, a link cell whose target disagrees with its text, a row merged
# over two lines whose second line holds only an ideographic space, and an empty trailing row.
AMAC_LIKE = """<!-- fragment as scraped from AMAC 从业机构公示 (test fixture) -->
<div class="ldContent"><div style="overflow:auto;">
<table border="1"><tbody>
 <tr><td><strong>序号&nbsp;</strong></td><td><strong>基金销售机构名称&nbsp;</strong></td><td><strong>业务核准时间</strong></td>
     <td><strong>网址&nbsp;</strong></td><td><strong>联系地址&nbsp;</strong></td><td><strong>电话&nbsp;</strong></td><td><strong>协会会员</strong></td></tr>
 <tr><td><table><tbody><tr><td> 1</td></tr></tbody></table></td><td> 国泰基金管理有限公司&nbsp;</td><td>1998年3月</td>
     <td> www.gtfund.com&nbsp;</td><td><p><span>上海市浦东新区世纪大道</span><span>100</span><span>号</span></p></td>
     <td> 4008-888-688,021-38569000&nbsp;</td><td> 会员</td></tr>
 <tr><td>2</td><td>中融基金管理有限公司</td><td>2013年2月</td><td><a href="http://www.ssga-fund.com">www.zrfunds.com.cn</a></td>
     <td>北京市门头沟区永安路20号</td><td>010-85003210<br> &nbsp;</td><td>会员</td></tr>
 <tr><td rowspan="2">3</td><td rowspan="2">上海大智慧财富管理有限公司</td><td rowspan="2">1997年8月</td><td rowspan="2">8.gw.com.cn</td>
     <td>上海市浦东新区杨高南路428号</td><td rowspan="2">021-20219923</td><td rowspan="2">联席会员</td></tr>
 <tr><td> \u3000</td></tr>
 <tr><td>4</td><td>国开泰富基金管理有限责任公司</td><td>2013年7月</td><td><a href="http://">www.cdbsfund.com</a></td>
     <td>北京市东城区朝阳门北大街7号</td><td>暂无</td><td></td></tr>
 <tr><td></td><td></td><td></td><td></td><td></td><td></td><td></td></tr>
</tbody></table></div></div>
"""

CAAT_LIKE = {
    "name": "CIAAE 2018",
    "exhibitor": [
        {"name": "081 ELECTRONIC GROUP CO., LTD.", "alias": "零八一电子集团有限公司",
         "country": {"text": "China 中国 (CN)", "iso2": "CN"}},
        {"name": "ACADEMY OF OPTO-ELECTRONICS  CETC ", "country": "R.O.Korea 韩国 (KP)"},
        {"name": "AVT Australia", "address": "AVT Australia\nMelbourne\nAustralia", "website": "https://avt.example.com"},
        {"name": "Chetwynd Bks", "address": {"text": "Chetwynd Bks\nNottingham\nNG9 5HU", "iso2": "GB"},
         "category": ["Consultancy", "Radar"]},
    ],
}


def amac_source(**extra) -> SourceConfig:
    return SourceConfig.model_validate({
        "name": "amac", "kind": "association", "url": "x", "format": "table",
        "columns": {"company_name": "基金销售机构名称", "website": "网址", "address": "联系地址", "phone": "电话",
                    "member_level": "协会会员"}, **extra})


def table_rows(html: str, **opts) -> list[parsers.Row]:
    return parsers.parse_html_table(parsers.soup(html), opts)


def test_amac_like_table_rows_and_values_as_found():
    rows = table_rows(AMAC_LIKE, columns=amac_source().options()["columns"])
    names = [f["company_name"] for f, _ in rows]
    assert names == ["国泰基金管理有限公司", "中融基金管理有限公司", "上海大智慧财富管理有限公司", "国开泰富基金管理有限责任公司"]
    first, raw = rows[0]
    assert first["address"] == "上海市浦东新区世纪大道100号"  # Word spans joined without spaces
    assert first["phone"] == "4008-888-688,021-38569000" and first["member_level"] == "会员"
    assert raw["序号"] == "1" and raw["业务核准时间"] == "1998年3月"  # the nested table is a cell, not a row
    assert rows[1][0]["website"] == "www.zrfunds.com.cn" and rows[1][1]["_links"] == ["http://www.ssga-fund.com"]
    assert rows[1][0]["phone"] == "010-85003210"
    merged = rows[2][0]
    assert merged == {"company_name": "上海大智慧财富管理有限公司", "website": "8.gw.com.cn", "address": "上海市浦东新区杨高南路428号",
                      "phone": "021-20219923", "member_level": "联席会员"}
    assert rows[3][0]["phone"] == "暂无" and rows[3][0]["member_level"] is None


def test_link_cells_take_real_targets_only():
    columns = {"company_name": "基金销售机构名称", "website": "网址@href"}
    rows = table_rows(AMAC_LIKE, columns=columns)
    assert [f["website"] for f, _ in rows] == ["www.gtfund.com", "http://www.ssga-fund.com", "8.gw.com.cn", "www.cdbsfund.com"]


def test_merged_member_level_and_section_rows_are_kept():
    html = """<table><tr><th>会员名称</th><th>级别</th><th>电话</th></tr>
      <tr><td colspan="3">一、理事单位</td></tr>
      <tr><td>甲公司</td><td rowspan="2">理事</td><td>1</td></tr>
      <tr><td>乙公司</td><td>2</td></tr>
      <tr><td colspan="3">二、会员单位</td></tr>
      <tr><td>丙公司</td><td></td><td>3</td></tr>
      <tr><th>会员名称</th><th>级别</th><th>电话</th></tr>
      <tr><td>丁公司</td><td>会员</td><td>4</td></tr></table>"""
    rows = table_rows(html, columns={"company_name": "会员名称", "member_level": "级别", "phone": "电话"},
                      section_field="member_level")
    assert [(f["company_name"], f["member_level"], f["phone"]) for f, _ in rows] == [
        ("甲公司", "理事", "1"), ("乙公司", "理事", "2"), ("丙公司", "二、会员单位", "3"), ("丁公司", "会员", "4")]
    assert rows[0][1]["_section"] == "一、理事单位"


def test_header_found_below_a_title_row_and_column_alternatives():
    html = """<table><tr><td colspan="2">2024年会员名录</td></tr><tr><td>单位名称</td><td>联系电话</td></tr>
              <tr><td>甲公司</td><td>010-1</td></tr></table>"""
    rows = table_rows(html, columns={"company_name": ["会员名称", "单位名称"], "phone": ["电话", "联系电话"]})
    assert rows[0][0] == {"company_name": "甲公司", "phone": "010-1"}


def test_missing_column_is_a_clear_parse_error():
    with pytest.raises(parsers.ParseError, match="'机构名称' .*not in table header"):
        table_rows(AMAC_LIKE, columns={"company_name": "机构名称"})


def test_association_card_list_with_labels(tmp_path):
    page = tmp_path / "members.html"
    page.write_text("""<ul class="members">
      <li class="m"><h4>深圳市办公用品协会会员 甲公司</h4><span class="level">副会长单位</span>
          <p>地址：深圳市福田区<br>电话：0755-1234567</p><p><b>邮箱：</b><a href="mailto:a@jia.cn">a@jia.cn</a></p></li>
      <li class="m"><h4>乙公司</h4><dl><dt>联系电话</dt><dd>020-7654321</dd><dt>网址</dt><dd><a href="http://yi.cn">yi.cn</a></dd></dl></li>
    </ul>""", encoding="utf-8")
    cfg = SourceConfig.model_validate({
        "name": "cards", "kind": "association", "url": page.as_uri(), "format": "html", "items": "li.m",
        "fields": {"company_name": "h4", "member_level": ".level", "address": {"label": "地址"},
                   "phone": {"label": ["电话", "联系电话"]}, "email": {"label": "邮箱"}, "website": {"label": "网址"}}})
    records, _, report = extract_source(cfg, FAST, run_id="r")
    assert report.status == "ok"
    first, second = records.to_dict("records")
    assert (first["address"], first["phone"], first["email"], first["member_level"]) == (
        "深圳市福田区", "0755-1234567", "a@jia.cn", "副会长单位")
    assert (second["phone"], second["website"], second["member_level"]) == ("020-7654321", "yi.cn", None)


def test_node_text_is_block_aware_and_skips_invisible():
    doc = parsers.soup("<td><p><span>2003</span>年<span>7</span>月</p><p>二行</p><script>x=1</script><!-- c -->&nbsp;\u3000</td>")
    assert node_text(doc.td) == "2003年7月 二行"
    deep = parsers.soup("<div>" * 5000 + "深" + "</div>" * 5000)
    assert node_text(deep) == "深"  # iterative: no recursion limit


def test_json_path_alternatives():
    assert json_path({"c": {"text": "UK", "iso2": "GB"}}, "c.text | c") == "UK"
    assert json_path({"c": "Ireland"}, "c.text | c") == "Ireland"
    assert json_path({}, "c.text | c") is None
    assert json_path({"a": [{"p": "1"}, {"p": "2"}]}, "a.-1.p") == "2"


def test_css_value_attribute_and_self():
    item = parsers.soup("<div class='e' data-id='7'><a href='/x'>X</a></div>").div
    assert css_value(item, "@data-id") == "7" and css_value(item, "a@href") == "/x" and css_value(item, ".") == "X"


def test_embedded_next_data_and_inline_variable():
    page = ('<html><script id="__NEXT_DATA__" type="application/json">{"props":{"pageProps":{"list":'
            '[{"n":"甲公司","booth":"1A01"}]}}}</script><script>window.__DATA__ = {"rows":[{"n":"乙公司"}]};</script></html>')
    data = parsers.load_json_document(page, {"embedded": "script#__NEXT_DATA__"})
    assert parsers.parse_json_records(data, {"records": "props.pageProps.list", "fields": {"company_name": "n", "booth": "booth"}})[0][0] == {
        "company_name": "甲公司", "booth": "1A01"}
    data = parsers.load_json_document(page, {"embedded_var": "window.__DATA__"})
    assert data == {"rows": [{"n": "乙公司"}]}
    with pytest.raises(parsers.ParseError, match="no inline script assigns"):
        parsers.load_json_document(page, {"embedded_var": "window.__MISSING__"})


def test_csv_and_xlsx_lists(tmp_path):
    csv = tmp_path / "list.csv"
    csv.write_bytes("公司名称,展位号,电话\n深圳市甲公司,1A01,0755-1\n广州乙公司 ,2B02,\n".encode("gbk"))
    book = Workbook()
    book.active.append(["Company", "Booth"])
    book.active.append(["Acme Ltd", "H1-22"])
    xlsx = tmp_path / "list.xlsx"
    book.save(xlsx)
    for path, fmt, columns, expected in [
        (csv, "csv", {"company_name": "公司名称", "booth": "展位号", "phone": "电话"}, ["深圳市甲公司", "广州乙公司"]),
        (xlsx, "xlsx", {"company_name": "Company", "booth": "Booth"}, ["Acme Ltd"]),
    ]:
        cfg = SourceConfig.model_validate({"name": fmt, "kind": "exhibition", "url": path.as_uri(), "format": fmt,
                                           "columns": columns})
        records, _, report = extract_source(cfg, FAST, run_id="r")
        assert report.status == "ok" and list(records["company_name"]) == expected


def test_a_csv_list_whose_first_row_is_longer_than_its_header_fails_the_source_saying_where(tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text("\ufeffCompany,Booth\nAcme, Ltd,H1-22\nBeta GmbH,H2-01\n", encoding="utf-8")
    cfg = SourceConfig.model_validate({"name": "c", "kind": "exhibition", "url": listing.as_uri(), "format": "csv",
                                       "columns": {"company_name": "Company", "booth": "Booth"}})
    records, _, report = extract_source(cfg, FAST, run_id="r")
    assert report.status == "failed" and "line 2 has 3 fields but the header has 2" in report.reason
    listing.write_text("\ufeffCompany,Booth\n\"Acme, Ltd\",H1-22\nBeta GmbH,H2-01\n", encoding="utf-8")
    records, _, report = extract_source(cfg, FAST, run_id="r")
    assert report.status == "ok" and list(records["company_name"]) == ["Acme, Ltd", "Beta GmbH"]
    listing.write_text("Company;Booth\nAcme, Ltd;H1-22\nBeta GmbH;H2-01\n", encoding="utf-8")  # no sep: configured
    records, _, report = extract_source(cfg, FAST, run_id="r")
    assert report.status == "ok" and list(records["booth"]) == ["H1-22", "H2-01"]


def test_xlsx_zip_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(parsers, "MAX_XLSX_UNCOMPRESSED", 1_000_000)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * 5_000_000)
    bomb = tmp_path / "bomb.xlsx"
    bomb.write_bytes(buffer.getvalue())
    cfg = SourceConfig.model_validate({"name": "b", "kind": "exhibition", "url": bomb.as_uri(), "format": "xlsx",
                                       "columns": {"company_name": "Company"}})
    _, _, report = extract_source(cfg, FAST, run_id="r")
    assert report.status == "failed" and "expands to 5000" in report.reason


# -- examples/realdata.yaml on fixtures shaped like the real files ---------------------------------

@pytest.fixture
def realdata_like(tmp_path, monkeypatch):
    (tmp_path / "exhibitions").mkdir()
    (tmp_path / "associations").mkdir()
    (tmp_path / "exhibitions" / "caat_ciaae-2018.json").write_text(json.dumps(CAAT_LIKE, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "associations" / "CYJGGS-jjxsjg.html").write_text(AMAC_LIKE, encoding="utf-8")
    monkeypatch.setenv("LEADRANK_REALDATA", str(tmp_path))
    return load_config(EXAMPLE)


def test_example_config_names_every_real_file(realdata_like):
    names = {s.name for s in realdata_like.sources}
    assert {"caat_ciaae-2018", "caat_dsei-2019", "caat_dsei-2021", "caat_dsei-2023", "caat_dsei-2025"} <= names
    assert {"CYJGGS-jjglgs", "CYJGGS-jjxsjg", "CYJGGS-jjtgr", "CYJGGS-hjsws", "CYJGGS-lssws", "CYJGGS-jjpjjg",
            "CYJGGS-xxjsxtfwjg", "CYJGGS-zcglljg", "CYJGGS-zfjsjg"} <= names
    assert len(names) == 14


def test_example_config_on_caat_like_json(realdata_like):
    records, _, report = extract_source(realdata_like.source("caat_ciaae-2018"), realdata_like.fetch, run_id="r")
    assert report.status == "ok"
    got = records.set_index("company_name")
    assert list(records["company_name"]) == [e["name"].strip() for e in CAAT_LIKE["exhibitor"]]
    assert got.loc["ACADEMY OF OPTO-ELECTRONICS  CETC", "country"] == "R.O.Korea 韩国 (KP)"  # string country, inner spaces kept
    assert got.loc["081 ELECTRONIC GROUP CO., LTD.", "company_name_alt"] == "零八一电子集团有限公司"
    assert got.loc["081 ELECTRONIC GROUP CO., LTD.", "country"] == "China 中国 (CN)"
    # a string address; its last line names the country: taken off, it becomes the country
    assert got.loc["AVT Australia", "address"] == "AVT Australia\nMelbourne"
    assert got.loc["AVT Australia", "country"] == "Australia"
    assert got.loc["Chetwynd Bks", "address"] == "Chetwynd Bks\nNottingham\nNG9 5HU"  # dict address
    assert got.loc["Chetwynd Bks", "country"] is None and got.loc["Chetwynd Bks", "products"] == "Consultancy; Radar"
    assert json.loads(got.loc["Chetwynd Bks", "raw"])["address"]["iso2"] == "GB"  # raw values as found


def test_example_config_on_amac_like_table(realdata_like):
    records, _, report = extract_source(realdata_like.source("CYJGGS-jjxsjg"), realdata_like.fetch, run_id="r")
    assert report.status == "ok" and len(records) == 4
    assert records.iloc[0]["url"].startswith("file://") and records["member_level"].tolist()[:3] == ["会员", "会员", "联席会员"]
