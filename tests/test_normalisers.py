"""Normalisers: known answers, and (with hypothesis) idempotent and never raising on any string."""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadrank.countries import country_code
from leadrank.transform.contacts import normalise_email, normalise_phone, normalise_website
from leadrank.transform.identifiers import check_character, normalise_uscc
from leadrank.transform.legal_forms import ABBREVIATIONS
from leadrank.transform.names import parse_name, parse_names
from leadrank.transform.normalise import address_key, address_keys


@pytest.mark.parametrize("raw, core, form, city, branch", [
    ("SHENZHEN HUAQIANG ELECTRONICS CO., LTD.", "huaqiang electronic", "co., ltd", "深圳市", False),
    ("深圳市华强电子有限公司", "华强电子", "有限公司", "深圳市", False),
    ("华强电子 (深圳)", "华强电子", "", "深圳市", False),
    ("華強電子（深圳）有限公司", "华强电子", "有限公司", "深圳市", False),
    ("广东省深圳市腾讯计算机系统有限公司", "腾讯计算机系统", "有限公司", "深圳市", False),
    # A second region that does not lie in the first, or follows a city, is the trade name (字号):
    # 威海 and 朝阳 are also cities of Shandong and Liaoning, and were stripped, leaving 精密制造.
    ("上海市威海精密製造有限公司", "威海精密制造", "有限公司", "上海市", False),
    ("Shanghai Weihai Office Supplies Co., Ltd.", "weihai office supplie", "co., ltd", "上海市", False),
    ("北京市朝阳区华达科技有限公司", "朝阳区华达科技", "有限公司", "北京市", False),
    ("华强电子有限公司上海分公司", "华强电子", "有限公司", "上海市", True),
    ("Acme Inc. Shanghai Branch", "acme", "inc", "上海市", True),
    ("328 Support Services GmbH", "328 support service", "gmbh", None, False),
    ("ＡＢＣ　Ｔｒａｄｉｎｇ　Ｌｔｄ．", "abc trading", "ltd", None, False),
])
def test_company_names(raw, core, form, city, branch):
    parsed = parse_name(raw)
    assert (parsed.core, parsed.legal_form, parsed.city, parsed.is_branch) == (core, form, city, branch)


@pytest.mark.parametrize(("raw", "display"), [
    # Stand numbers an exhibitor list wrote into the name go, in brackets or after a comma or dash.
    ("Siemens AG (Stand 3-105)", "Siemens AG"), ("Bosch GmbH, Hall A1", "Bosch GmbH"),
    ("Bosch GmbH - Booth #1234", "Bosch GmbH"), ("Bosch GmbH (Hall 4, Stand B12)", "Bosch GmbH"),
    ("Acme Corp, Booth No. 5", "Acme Corp"), ("华为技术有限公司（展位号：A12）", "华为技术有限公司"),
    ("华为技术有限公司 展位:3A01", "华为技术有限公司"),
    # A name that only looks like one stays: no digit, no separator, or nothing else left.
    ("Carnegie Hall Inc", "Carnegie Hall Inc"), ("Hall & Partners Ltd", "Hall & Partners Ltd"),
    ("Acme Corp, Hall of Fame", "Acme Corp, Hall of Fame"), ("Pavilion 7 Holdings Ltd", "Pavilion 7 Holdings Ltd"),
    ("(Stand 12)", "(Stand 12)"), ("Acme Ltd (Booth)", "Acme Ltd (Booth)"),
    # HTML references decoded (twice escaped too) and tags dropped; an ampersand alone stays.
    ("AT&amp;T Inc", "AT&T Inc"), ("Procter &amp;amp; Gamble Co", "Procter & Gamble Co"),
    ("M&#252;ller GmbH", "Müller GmbH"), ("&lt;b&gt;Bosch&lt;/b&gt; GmbH", "Bosch GmbH"),
    ("<span class='x'>Siemens</span> AG", "Siemens AG"), ("R&D Labs Ltd", "R&D Labs Ltd"),
    ("Fish & Chips <Ltd>", "Fish & Chips <Ltd>"),
])
def test_notes_and_markup_in_names_are_not_the_name(raw, display):
    parsed = parse_names([raw, display])
    assert parsed["display"].iloc[0] == display
    assert parsed["core"].iloc[0] == parsed["core"].iloc[1]


@pytest.mark.parametrize("raw, flag", [("有限公司", "name_only_legal_form"), ("Co., Ltd.", "name_only_legal_form"),
                                       ("", "name_empty"), ("x" * 10_000, "name_truncated")])
def test_degenerate_names_are_flagged(raw, flag):
    assert flag in parse_name(raw).flags


def test_uscc_check_character():
    # 91350100M000100Y43 is a published example code; the check character is 3.
    assert check_character("91350100M000100Y4") == "3"
    assert normalise_uscc("9135 0100-M000 100Y43") == ("91350100M000100Y43", True)
    assert normalise_uscc("91350100M000100Y44") == ("91350100M000100Y44", False)  # kept, flagged
    assert normalise_uscc("91350100M00010") == ("91350100M00010", False)  # wrong length
    assert normalise_uscc("91350100I000100Y43")[1] is False  # I is not in the character set
    assert normalise_uscc(None) == (None, False)


@pytest.mark.parametrize("raw, region, expected", [
    ("0755-8888 8888 / 138 0013 8000", None, ("+8675588888888", "landline")),
    ("138-0013-8000", "CN", ("+8613800138000", "mobile")),
    ("+86 755 8321 6688", None, ("+8675583216688", "landline")),
    ("+44 20 7946 0958", "GB", ("+442079460958", "landline")),
    ("not a phone", None, (None, None)),
])
def test_phones(raw, region, expected):
    assert normalise_phone(raw, region) == expected


def test_emails_and_free_mail():
    assert normalise_email("mailto:Sales@HuaQiang.com.cn") == ("sales@huaqiang.com.cn", "huaqiang.com.cn", False)
    assert normalise_email("12345@qq.com")[2] is True
    assert normalise_email("no at sign") == (None, None, False)


@pytest.mark.parametrize("raw, expected", [
    ("http://www.huaqiang.com.cn/about", "huaqiang.com.cn"),
    ("HUAQIANG.COM.CN", "huaqiang.com.cn"),
    ("https://shop.huaqiang.co.uk:8443/x", "huaqiang.co.uk"),
    ("acme.en.alibaba.com", "acme.en.alibaba.com"),
    ("https://www.linkedin.com/company/acme/", "linkedin.com/company/acme"),
    ("javascript:void(0)", None),
    ("localhost", None),
])
def test_websites(raw, expected):
    assert normalise_website(raw) == expected


@pytest.mark.parametrize("raw, iso", [("China 中国 (CN)", "CN"), ("Germany", "DE"), ("UK", "GB"), ("德国", "DE"),
                                       ("de", "DE"), ("Atlantis", None)])
def test_countries(raw, iso):
    assert country_code(raw) == iso


def test_address_key_folds_variants():
    assert address_key("221 E. 51st Street") == address_key("221 E 51st St.")


def test_comparison_keys_of_abbreviations_and_their_plurals_are_keys_of_themselves():
    """'TECHS' once keyed to 'tech' (the plural step after the abbreviations), which a second pass
    expanded to 'technology': 'Acme Techs' and 'Acme Tech' keyed apart, and hypothesis found it."""
    words = sorted({*ABBREVIATIONS, *(f"{w}s" for w in ABBREVIATIONS), *ABBREVIATIONS.values(),
                    *(f"{w}s" for w in ABBREVIATIONS.values())})
    texts = [f"Acme {w.upper()}" for w in words]
    keys = address_keys(texts)
    assert list(address_keys(keys)) == list(keys)
    cores = parse_names(texts)["core"]
    assert list(parse_names(list(cores))["core"]) == list(cores)
    assert len(set(address_keys(["Acme Techs", "ACME TECH", "Acme Technologies", "acme technology"]))) == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=300), min_size=1, max_size=40))
def test_name_parsing_is_total_and_idempotent(texts):
    once = parse_names(texts)
    again = parse_names(list(once["display"]))
    assert list(again["display"]) == list(once["display"])
    assert list(again["core"]) == list(once["core"])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_identifier_and_contact_normalisers_never_raise(text):
    code, _ = normalise_uscc(text)
    if code is not None and len(code) == 18:
        assert normalise_uscc(code)[0] == code
    e164, _ = normalise_phone(text)
    if e164:
        assert normalise_phone(e164)[0] == e164
    email, _, _ = normalise_email(text)
    if email:
        assert normalise_email(email)[0] == email
    site = normalise_website(text)
    if site and "/" not in site:
        assert normalise_website(site) == site
    address_key(text)
    country_code(text)


# --- column normalisers: the fast paths agree with the libraries they stand in for ---------

import pyarrow as pa  # noqa: E402
import tldextract  # noqa: E402
from hypothesis import HealthCheck  # noqa: E402

from leadrank.contracts import EXTRACTED  # noqa: E402
from leadrank.transform.contacts import _parse_phone, normalise_phones, registered_domain, registered_domains  # noqa: E402, I001
from leadrank.transform.identifiers import normalise_usccs  # noqa: E402
from leadrank.transform.normalise import normalise_records  # noqa: E402

AREAS = ["10", "21", "22", "23", "20", "25", "27", "28", "29", "755", "571", "512", "532", "411", "592", "756", "769",
         "431", "991", "898"]
phone_formats = st.builds(
    lambda area, sub, mobile, kind, fmt: (
        [f"0{area}-{sub}", f"({area}){sub}", f"+86 {area} {sub[:4]} {sub[4:]}", f"86-{area}-{sub}", f"0{area}{sub}",
         f"0086 {area} {sub}", f"{sub}", f"+86-{area}-{sub} / 138 0013 8000"][fmt] if kind else
        [mobile, f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}", f"+86 {mobile}", f"0086{mobile}", f"86{mobile}",
         f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}", f"+86-{mobile}", f"0{mobile}"][fmt]),
    st.sampled_from(AREAS), st.text("0123456789", min_size=6, max_size=9), st.text("0123456789", min_size=11, max_size=11),
    st.booleans(), st.integers(0, 7),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(phone_formats, st.text("0123456789 +-()/", max_size=20)), min_size=1, max_size=30))
def test_phone_fast_path_agrees_with_phonenumbers(values):
    e164, kind = normalise_phones(values, ["CN"] * len(values))
    for value, got_e164, got_kind in zip(values, e164, kind, strict=True):
        assert (got_e164, got_kind) == _parse_phone(value, "CN"), value


OFFLINE_TLDEXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
hosts = st.builds(
    lambda labels, suffix: ".".join([*labels, suffix]),
    st.lists(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True), min_size=0, max_size=3),
    st.sampled_from(["com", "com.cn", "cn", "co.uk", "net", "org.cn", "gov.cn", "ck", "www.ck", "kawasaki.jp",
                     "city.kawasaki.jp", "de", "unknowntld", "github.io", "blogspot.com", "xn--fiqs8s"]),
)


@settings(max_examples=400, deadline=None)
@given(hosts)
def test_registered_domain_agrees_with_tldextract(host):
    ext = OFFLINE_TLDEXTRACT(host)
    expected = f"{ext.domain}.{ext.suffix}".lower() if ext.domain and ext.suffix else None
    assert registered_domain(host) == expected
    assert list(registered_domains(pa.array([host, "www." + host]))) == [expected, registered_domain("www." + host)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(max_size=60), min_size=1, max_size=40))
def test_column_normalisers_never_raise_and_are_idempotent(values):
    parsed = parse_names(values)
    assert len(parsed) == len(values)
    assert list(parse_names(list(parsed["display"]))["display"]) == list(parsed["display"])
    codes, _ = normalise_usccs(values)
    again, _ = normalise_usccs(list(codes))
    assert [c for c in again] == [c for c in codes]
    keys = [address_key(v) for v in values[:3]]
    assert [address_key(k) for k in keys] == keys


def test_bad_records_are_kept_and_flagged():
    rows = pd.DataFrame([
        {"company_name": "有限公司"}, {"company_name": ""}, {"company_name": "x" * 10_000},
        {"company_name": "华强电子", "uscc": "9135010"}, {"company_name": "\x00\ud800☃"},
        {"company_name": "Acme", "phone": "not a phone", "email": "nobody"},
    ], dtype=object).reindex(columns=EXTRACTED)
    rows["source"], rows["source_kind"], rows["record_key"] = "s", "input", [f"r{i}" for i in range(len(rows))]
    out = normalise_records(rows)
    assert len(out) == len(rows) and list(out["record_key"]) == list(rows["record_key"])
    flags = list(out["flags"])
    assert "name_only_legal_form" in flags[0] and "name_empty" in flags[1] and "name_truncated" in flags[2]
    assert "uscc_invalid" in flags[3] and "phone_invalid" in flags[5] and "email_invalid" in flags[5]


def test_landline_places_come_from_the_shipped_table_which_is_the_geocoders():
    """phone_places reads cn_area_places.json, not phonenumbers' geocoder (0.3 CPU seconds to
    import in every normalise process); the table is the geocoder's for the installed release."""
    import json
    import subprocess
    import sys

    import phonenumbers

    from leadrank.transform.contacts import AREA_PLACES, area_places_from_geocoder

    shipped = json.loads(AREA_PLACES.read_text(encoding="utf-8"))
    assert shipped["phonenumbers"] == phonenumbers.__version__, "regenerate cn_area_places.json for this release"
    assert shipped["places"] == area_places_from_geocoder()
    probe = ("import sys, numpy as np; from leadrank.transform.contacts import phone_places; "
             "print(phone_places(np.array(['+8675512345678', '+8613812345678'], dtype=object), "
             "np.array(['landline', 'mobile'], dtype=object)).tolist(), 'phonenumbers.geocoder' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['广东省深圳市', None] False"


@pytest.mark.parametrize(("raw", "plain"), [("西门子(中国)有限公司", "西门子有限公司"), ("西门子（中国）有限公司", "西门子有限公司"),
                                            ("Siemens (China) Co., Ltd.", "Siemens Co., Ltd."),
                                            ("ABB (中国)有限公司", "ABB有限公司"), ("Siemens Ltd. (PRC)", "Siemens Ltd.")])
def test_a_country_in_brackets_is_a_place_not_the_name(raw, plain):
    parsed = parse_names([raw, plain, "中国银行"])
    assert parsed["core"].iloc[0] == parsed["core"].iloc[1] and parsed["core"].iloc[2] == "中国银行"
