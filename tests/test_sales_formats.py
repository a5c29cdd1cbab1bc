"""How values look to sales, unit by unit: phones as dialled at home, times on the team's clock,
segments as people type them, and which website cells become links."""

from datetime import UTC, datetime

import pytest

from leadrank.warehouse import formats, labels
from leadrank.warehouse.sheet_cells import link_target


@pytest.mark.parametrize(("stored", "shown"), [
    ("+8675588888888", "0755 8888 8888"),      # Shenzhen landline
    ("+861069123456", "010 6912 3456"),        # Beijing landline
    ("+8613800138000", "138 0013 8000"),       # mobile
    ("+493012345678", "+49 30 12345678"),      # abroad: with the country code
    ("+85221234567", "+852 2123 4567"),        # Hong Kong is abroad for a mainland team
    ("not a number", "not a number"),          # kept as found
    ("+861", "+861"),                          # too short to be a number
    (None, None),
    ("", ""),
])
def test_phones_as_dialled_in_china(stored, shown):
    assert formats.phone(stored) == shown


def test_lists_of_phones():
    assert formats.phones("+8675588888888;+493012345678") == "0755 8888 8888; +49 30 12345678"
    assert formats.phones(None) is None


def test_times_on_the_teams_clock(monkeypatch):
    shanghai = formats.zone("Asia/Shanghai")
    assert formats.local_time("2026-03-03T02:30:00+00:00", shanghai) == datetime(2026, 3, 3, 10, 30)
    assert formats.local_time("2026-03-03 02:30:00.123456", shanghai) == datetime(2026, 3, 3, 10, 30)  # naive is UTC
    assert formats.local_time(datetime(2026, 3, 3, 2, 30, tzinfo=UTC), shanghai) == datetime(2026, 3, 3, 10, 30)
    berlin = formats.zone("Europe/Berlin")  # daylight saving time follows the date
    assert formats.local_time("2026-01-15T12:00:00Z", berlin) == datetime(2026, 1, 15, 13, 0)
    assert formats.local_time("2026-07-15T12:00:00Z", berlin) == datetime(2026, 7, 15, 14, 0)
    assert formats.local_time("yesterday", berlin) is None and formats.local_time(None, berlin) is None

    monkeypatch.delenv(formats.TIMEZONE_ENV, raising=False)
    assert formats.zone().key == "Asia/Shanghai"
    monkeypatch.setenv(formats.TIMEZONE_ENV, "America/New_York")
    assert formats.zone().key == "America/New_York" and formats.zone("UTC").key == "UTC"
    for bad in ("Mars/Olympus", "../etc/passwd"):
        with pytest.raises(formats.FormatError, match="unknown time zone"):
            formats.zone(bad)


def test_segments_as_people_type_them():
    codes = list(labels.SEGMENTS)
    for typed, code in [("government", "government"), ("GOVERNMENT", "government"), ("政府", "government"),
                        (" 政府机关事业单位 ", "government"), ("banks & finance", "bank_finance"),
                        ("金融", "bank_finance"), ("SME", "sme"), ("中小企业", "sme"), ("电信", "telecom")]:
        assert labels.find_segment(typed, codes) == code, typed
    # A configured segment without a label is found by its code.
    assert labels.find_segment("Hospitals", [*codes, "hospitals"]) == "hospitals"
    with pytest.raises(ValueError, match=r"fits several: multinational \(外资企业\), large_enterprise"):
        labels.find_segment("企业", codes)
    with pytest.raises(ValueError, match=r"unknown segment 'govt'; the segments are: government \(政府机关事业单位\)"):
        labels.find_segment("govt", codes)


def test_product_lines_in_both_languages():
    assert labels.product_line("equipment_maker", "zh") == "设备制造商"
    assert labels.product_line("other", "zh") == "其他" and labels.product_line("other", "en") == "Other"
    assert labels.product_line("furniture", "zh") == "furniture"  # configured: shown as it is


@pytest.mark.parametrize("code", ["merged", "expired", "not_ranked", "new", "up", "down", "unchanged"])
def test_every_dropout_reason_and_movement_reads_as_words(code):
    """The dropped sheet shows lead_dropouts.reason through labels.movement: a reason the load
    writes (merged / expired / not_ranked) must never reach sales as a raw code."""
    assert labels.movement(code, "zh") != code and labels.movement(code, "en")


@pytest.mark.parametrize(("website", "target"), [
    ("https://www.habia.com/en/", "https://www.habia.com/en/"),
    ("http://qtfund-demo.com", "http://qtfund-demo.com"),
    ("www.example.cn", "http://www.example.cn"),
    ("example.com.cn/about", "http://example.com.cn/about"),
    ("javascript:alert(1)", None),
    ("file:///etc/passwd", None),
    ("\\\\server\\share", None),
    ('http://x.com/" onclick="', None),
    ("http://x.com/" + "a" * 2100, None),
    (None, None),
])
def test_only_web_addresses_become_links(website, target):
    assert link_target(website) == target
