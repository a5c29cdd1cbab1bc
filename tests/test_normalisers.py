"""Normalisers: known answers, and (with hypothesis) idempotent and never raising on any string."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadrank.transform.contacts import normalise_email, normalise_phone, normalise_website
from leadrank.transform.identifiers import check_character, normalise_uscc
from leadrank.transform.names import parse_name
from leadrank.transform.normalise import address_key, country_iso2


@pytest.mark.parametrize("raw, core, form, city, branch", [
    ("SHENZHEN HUAQIANG ELECTRONICS CO., LTD.", "huaqiang electronics", "co., ltd", "深圳市", False),
    ("深圳市华强电子有限公司", "华强电子", "有限公司", "深圳市", False),
    ("华强电子 (深圳)", "华强电子", "", "深圳市", False),
    ("華強電子（深圳）有限公司", "华强电子", "有限公司", "深圳市", False),
    ("广东省深圳市腾讯计算机系统有限公司", "腾讯计算机系统", "有限公司", "深圳市", False),
    ("华强电子有限公司上海分公司", "华强电子", "有限公司", "上海市", True),
    ("Acme Inc. Shanghai Branch", "acme", "inc", "上海市", True),
    ("328 Support Services GmbH", "328 support services", "gmbh", None, False),
    ("ＡＢＣ　Ｔｒａｄｉｎｇ　Ｌｔｄ．", "abc trading", "ltd", None, False),
])
def test_company_names(raw, core, form, city, branch):
    parsed = parse_name(raw)
    assert (parsed.core, parsed.legal_form, parsed.city, parsed.is_branch) == (core, form, city, branch)


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
    assert country_iso2(raw) == iso


def test_address_key_folds_variants():
    assert address_key("221 E. 51st Street") == address_key("221 E 51st St.")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_name_parsing_is_total_and_idempotent(text):
    once = parse_name(text)
    assert parse_name(once.display).display == once.display


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
    country_iso2(text)
