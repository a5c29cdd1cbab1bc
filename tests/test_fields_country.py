"""Field specs that take part of an element, the country an address' last line names, country
codes for every country from names, phones and domains, and detail pages over list pages.

The end-to-end test serves tests/fixtures/fair_detail (62 exhibitors of 40 countries, one
detail page each, addresses as "street<br>town<br>country" in several markups) and runs the
source its sources.yaml declares, as a user would.
"""

import html
import json
from pathlib import Path

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from leadrank.config import ConfigError, SourceConfig, load_config
from leadrank.contracts import EXTRACTED
from leadrank.countries import country_code, line_country
from leadrank.extractors.fields import css_value, map_css, split_country_line
from leadrank.extractors.runner import extract_source
from leadrank.transform.normalise import normalise_records
from tests.http_fakes import FAST, allow_all_robots

FIXTURE = Path(__file__).parent / "fixtures" / "fair_detail"
TRUTH = json.loads((FIXTURE / "exhibitors.json").read_text(encoding="utf-8"))["exhibitors"]
PER_PAGE = 25


def doc(markup: str) -> BeautifulSoup:
    return BeautifulSoup(markup, "lxml")


# --- field specs ----------------------------------------------------------------------------

CARD = doc("""<div class='e'><td class='addr'>Carl-Schurz-Str. 1<br>41453 Neuss<br> Germany </td>
<p>Stand：Hall 3 / A12</p><span class='tel' data-all='+49 1&#10;+49 2'>x</span></div>""").div


@pytest.mark.parametrize("spec, expected", [
    ({"css": "td.addr", "line": -1}, "Germany"),
    ({"css": "td.addr", "line": 0}, "Carl-Schurz-Str. 1"),
    ({"css": "td.addr", "line": 5}, None),
    ({"css": "td.addr", "line": 1, "regex": r"(\d{5}) (?P<town>\w+)", "group": "town"}, "Neuss"),
    ({"css": "td.addr", "line": 1, "regex": r"\d{5}"}, "41453"),  # no group: the whole match
    ({"css": "td.addr", "regex": r"(\d{5})"}, "41453"),  # without `line`: the lines as one
    ({"css": "td.addr", "regex": r"Berlin (\d+)"}, None),
    ({"label": "Stand", "split": "/", "index": 1}, "A12"),
    ({"label": "Stand", "split": "/"}, "Hall 3"),
    ({"label": "Stand", "split": "/", "index": 2}, None),
    ({"css": "span.tel@data-all", "line": -1}, "+49 2"),  # an attribute's lines are its line breaks
    ("td.addr", "Carl-Schurz-Str. 1 41453 Neuss Germany"),  # a plain selector: one line, as before
])
def test_a_spec_takes_part_of_an_element(spec, expected):
    assert css_value(CARD, spec) == expected


@pytest.mark.parametrize("spec, message", [
    ({"css": "td", "grop": 1, "regex": "(a)"}, "grop: unknown key (did you mean `group`?)"),
    ({"css": "td", "lines": -1}, "lines: unknown key (did you mean `line`?)"),
    ({"css": "td", "label": "x"}, "exactly one of `css`"),
    ({"line": -1}, "exactly one of `css`"),
    ({"css": "td", "line": "last"}, "`line` must be a whole number"),
    ({"css": "td", "index": 1}, "`index` needs `split`"),
    ({"css": "td", "regex": "(a"}, "not a valid pattern"),
    ({"css": "td", "regex": "(a)", "group": 2}, "no group 2"),
])
def test_a_mistyped_spec_is_an_error_that_names_the_key(spec, message):
    with pytest.raises(ConfigError, match=None) as raised:
        css_value(CARD, spec)
    assert message in str(raised.value)


def test_a_mistyped_spec_fails_at_load_with_a_suggestion():
    with pytest.raises(ValueError, match=r"lien[\s\S]*did you mean `line`"):
        SourceConfig.model_validate({"name": "s", "kind": "exhibition", "url": "https://expo.example/l",
                                     "items": "div.e", "fields": {"company_name": {"css": "h3", "lien": 0}}})


# --- the country an address' last line names -----------------------------------------------

@pytest.mark.parametrize("line, iso", [
    ("Germany", "DE"), ("Deutschland", "DE"), ("德国", "DE"), ("德國", "DE"), ("Hong Kong SAR", "HK"),
    ("中国香港", "HK"), ("Hong Kong, China", "HK"), ("P.R. China", "CN"), ("中国", "CN"), ("台湾", "TW"),
    ("Korea, Republic of", "KR"), ("韩国", "KR"), ("USA", "US"), ("Türkiye", "TR"), ("Turkey", "TR"),
    ("Viet Nam", "VN"), ("Germany / 德国", "DE"), ("España", "ES"),
    ("CA", None), ("41453 Neuss", None), ("Singapore 138632", None), ("Germany / 法国", None),
    ("Georgia, USA", "US"), ("Puerto Rico", "PR"),
])
def test_a_line_names_a_country_only_when_it_is_one(line, iso):
    assert line_country(line) == iso


@pytest.mark.parametrize("raw, iso", [("China 中国 (CN)", "CN"), ("DE", "DE"), ("deu", "DE"), ("中国广东", "CN"),
                                       ("中国香港九龙", "HK"), ("Via P. Beretta 18\nItaly", "IT"), ("Atlantis", None), ("", None),
                                       ("Georgia", "GE"), ("Atlanta\nGeorgia", None), ("San Juan\nPuerto Rico", "PR")])
def test_a_declared_country_may_also_be_a_code_or_name_a_country_inside_chinese_text(raw, iso):
    assert country_code(raw) == iso


@pytest.mark.parametrize("address, country, expected", [
    ("Carl-Schurz-Str. 1\n41453 Neuss\nGermany", None, ("Carl-Schurz-Str. 1\n41453 Neuss", "Germany")),
    ("Carl-Schurz-Str. 1\n41453 Neuss\nGermany", "DE", ("Carl-Schurz-Str. 1\n41453 Neuss", "DE")),  # same country
    ("Carl-Schurz-Str. 1\n41453 Neuss\nGermany", "Austria", ("Carl-Schurz-Str. 1\n41453 Neuss\nGermany", "Austria")),
    ("Carl-Schurz-Str. 1\n41453 Neuss", None, ("Carl-Schurz-Str. 1\n41453 Neuss", None)),
    ("Germany", None, ("Germany", None)),  # one line is an address, not a country
    ("San Jose\nCA", None, ("San Jose\nCA", None)),
    # a US state that is also a country's name is no country line, unless the record declares it
    ("6435 Shiloh Rd\nAlpharetta\nGeorgia", None, ("6435 Shiloh Rd\nAlpharetta\nGeorgia", None)),
    ("12 Rustaveli Ave\nTbilisi 0105\nGeorgia", "Georgia", ("12 Rustaveli Ave\nTbilisi 0105", "Georgia")),
    ("Calle Luna 1\nSan Juan\nPuerto Rico", None, ("Calle Luna 1\nSan Juan", "Puerto Rico")),
])
def test_the_country_line_leaves_the_address_never_overriding_a_given_country(address, country, expected):
    assert split_country_line(address, country) == expected


def test_an_html_address_keeps_its_lines_however_the_page_breaks_them():
    for cell in ("<td>a 1<br/>\n  b&nbsp;2 <br>c</td>", "<td><p>a 1</p><p>b 2</p>c</td>", "<td><div>a 1</div>b 2<div>c</div></td>"):
        assert map_css(doc(cell).td, {"address": ".", "phone": "."}) == {"address": "a 1\nb 2\nc", "phone": "a 1 b 2 c"}


# --- country codes for every country --------------------------------------------------------

def normalised(*rows: dict) -> pd.DataFrame:
    frame = pd.DataFrame([{c: r.get(c) for c in EXTRACTED} for r in rows], dtype=object)
    frame["run_id"], frame["source"], frame["source_kind"] = "r", "s", "exhibition"
    frame["record_key"] = [str(i) for i in range(len(frame))]
    return normalise_records(frame).set_index("company_name")


def test_a_hong_kong_firm_with_a_ningbo_phone_stays_in_hong_kong():
    out = normalised({"company_name": "Golden Harbour Trading Ltd", "phone": "+86 574 8765 4321", "country": "Hong Kong"},
                     {"company_name": "Unplaced Trading Ltd", "phone": "+86 574 8765 4321"})
    assert out.loc["Golden Harbour Trading Ltd", ["country_iso2", "province_norm", "city_norm"]].tolist() == ["HK", None, None]
    # Without a country, the Ningbo landline still places a company: CN / 宁波 as before.
    assert out.loc["Unplaced Trading Ltd", ["country_iso2", "city_norm"]].tolist() == ["CN", "宁波市"]


def test_country_evidence_in_order_of_strength_and_never_over_a_declared_one():
    out = normalised(
        {"company_name": "Declared", "country": "Germany", "phone": "+33 1 42 68 53 00", "website": "x.fr",
         "uscc": "91440300MA5DC0UP7R"},
        {"company_name": "By phone", "phone": "+49 2131 12345", "website": "y.fr"},
        {"company_name": "By 0049 phone", "phone": "Tel: 0049 2131 12345"},
        {"company_name": "By domain", "phone": "2131 12345", "website": "https://www.z.co.uk/en"},
        {"company_name": "Generic domain", "website": "https://acme.io"},
        {"company_name": "香港贸易公司", "address": "香港九龙弥敦道12号"},
        {"company_name": "By Chinese province", "address": "广东省深圳市南山区", "phone": "+852 2345 6789"},
    )
    assert out["country_iso2"].to_dict() == {
        "Declared": "DE", "By phone": "DE", "By 0049 phone": "DE", "By domain": "GB", "Generic domain": None,
        "香港贸易公司": "HK", "By Chinese province": "CN"}


# --- detail pages over list pages -----------------------------------------------------------

def test_detail_values_win_and_raw_keeps_both_pages(httpserver):
    allow_all_robots(httpserver)
    httpserver.expect_request("/list").respond_with_data(
        "<div class='e'><h3>Quimicos del Norte</h3><i>+34 1</i><b>Bilbao</b><a href='/d/1'>more</a></div>"
        "<div class='e'><h3>Envases</h3><i>+34 2</i><a href='/gone'>more</a></div>"
        "<div class='e'><h3>Sin enlace</h3></div>", content_type="text/html")
    httpserver.expect_request("/d/1").respond_with_data("<h1>Químicos del Norte S.A.</h1><p class='tel'></p>",
                                                        content_type="text/html")
    httpserver.expect_request("/gone").respond_with_data("no", status=404)
    cfg = SourceConfig.model_validate({
        "name": "s", "kind": "exhibition", "url": httpserver.url_for("/list"), "items": "div.e",
        "fields": {"company_name": "h3", "phone": "i", "city": "b", "detail_url": "a@href"},
        "detail": {"fields": {"company_name": "h1", "phone": ".tel"}}})
    records, _, report = extract_source(cfg, FAST, run_id="r")
    first, second, third = records.to_dict("records")
    assert first["company_name"] == "Químicos del Norte S.A."  # the detail page's, accents kept
    assert first["phone"] == "+34 1" and first["city"] == "Bilbao"  # what the detail page lacks
    raw = json.loads(first["raw"])
    assert raw["list"]["company_name"] == "Quimicos del Norte" and raw["list"]["phone"] == "+34 1"
    assert raw["detail"] == {"url": httpserver.url_for("/d/1"), "company_name": "Químicos del Norte S.A."}
    assert second["company_name"] == "Envases" and json.loads(second["raw"])["detail"]["error"].startswith("HTTP 404")
    assert any("detail page failed" in w for w in report.warnings)
    assert json.loads(third["raw"])["detail"] is None and json.loads(third["raw"])["list"]["company_name"] == "Sin enlace"


# --- the list + detail fixture site, declared in YAML only -------------------------------------

def _address_cell(entry: dict) -> str:
    lines = [html.escape(x) for x in entry["address_lines"] + ([entry["country_line"]] if entry["country_line"] else [])]
    if entry["markup"] == "p":
        return "".join(f"<p>{line}</p>" for line in lines)
    if entry["markup"] == "div":
        return lines[0] + "".join(f"<div>{line}</div>" for line in lines[1:])
    if entry["markup"] == "nbsp":  # source-formatting newlines and &nbsp; inside the lines
        return "\n      " + "&nbsp;<br/>\n      ".join(line.replace(" ", "\n ", 1) for line in lines) + "&nbsp;\n"
    return "<br>".join(lines)


def _detail_page(entry: dict) -> str:
    e = {k: html.escape(str(v)) for k, v in entry.items()}
    return (f"<html><body><nav>Exhibitors › {e['list_name']}</nav><h1 class='company'>{e['name']}</h1>"
            f"<table class='facts'><tr><th>Address</th><td>{_address_cell(entry)}</td></tr>"
            f"<tr><th>Phone</th><td>{e['phone']}</td></tr>"
            f"<tr><th>Website</th><td><a class='web' href='{e['website']}'>{e['website']}</a></td></tr>"
            f"<tr><th>Stand</th><td>{e['stand']}</td></tr></table></body></html>")


def _list_page(number: int, pages: int) -> str:
    entries = TRUTH[(number - 1) * PER_PAGE:number * PER_PAGE]
    items = "".join(f"<li class='exhibitor'><a class='name' href='/exhibitors/{e['id']}.html'>"
                    f"{html.escape(e['list_name'])}</a> <span>{html.escape(e['stand'])}</span></li>" for e in entries)
    following = f"<a class='next' href='/exhibitors.html?page={number + 1}'>Next</a>" if number < pages else ""
    return f"<html><body><ul>{items}</ul>{following}</body></html>"


@pytest.fixture
def fair_site(httpserver, monkeypatch):
    allow_all_robots(httpserver)
    pages = -(-len(TRUTH) // PER_PAGE)
    for number in range(1, pages + 1):
        httpserver.expect_request("/exhibitors.html", query_string=f"page={number}" if number > 1 else "") \
            .respond_with_data(_list_page(number, pages), content_type="text/html; charset=utf-8")
    for entry in TRUTH:
        httpserver.expect_request(f"/exhibitors/{entry['id']}.html").respond_with_data(
            _detail_page(entry), content_type="text/html; charset=utf-8")
    monkeypatch.setenv("FAIR_URL", httpserver.url_for("").rstrip("/"))
    return load_config(FIXTURE / "sources.yaml")


def site_rates(config) -> dict[str, float]:
    """Share of exhibitors whose address (without the country line), country code, detail-page
    name and stand came out right."""
    records, _, report = extract_source(config.source("fair-detail"), config.fetch, run_id="r")
    assert report.status == "ok", report.reason
    assert len(records) == len(TRUTH)
    got = normalised(*records.to_dict("records")).reset_index()
    truth = pd.DataFrame(TRUTH)
    return {
        "address": float((got["address"] == truth["address_lines"].map("\n".join)).mean()),
        "country": float((got["country_iso2"] == truth["iso2"]).mean()),
        "name": float((got["company_name"] == truth["name"]).mean()),
        "stand": float(((got["hall"] + " / " + got["booth"]) == truth["stand"]).mean()),
    }


def test_list_and_detail_site_declared_in_yaml_gives_addresses_and_countries(fair_site):
    rates = site_rates(fair_site)
    print(f"fair_detail: {rates}")
    assert rates["address"] >= 0.95 and rates["country"] >= 0.95
    assert rates["name"] == 1.0 and rates["stand"] == 1.0
