"""How values look to sales in exports and the report: times in the sales team's time zone,
phone numbers the way they are dialled at home.

The warehouse keeps UTC timestamps and E.164 phone numbers (exact and comparable); a person
reading a list wants "2026-03-03 10:30" on their own clock and "0755 8888 8888". The time zone
is `--timezone`, else $LEADRANK_TIMEZONE, else Asia/Shanghai (the schedules' zone in prefect.yaml:
leadrank's first users are Chinese key-account teams).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

TIMEZONE_ENV = "LEADRANK_TIMEZONE"
DEFAULT_TIMEZONE = "Asia/Shanghai"
HOME_REGION = "CN"  # numbers of this country are shown in national format, others in international


class FormatError(ValueError):
    """A display setting (time zone) that cannot be used; the message says what to give."""


def zone(name: str | None = None) -> ZoneInfo:
    """The display time zone: `name`, else $LEADRANK_TIMEZONE, else Asia/Shanghai."""
    chosen = name or os.environ.get(TIMEZONE_ENV) or DEFAULT_TIMEZONE
    try:
        return ZoneInfo(chosen)
    except (ZoneInfoNotFoundError, ValueError):
        raise FormatError(f"unknown time zone {chosen!r}: give an IANA name such as Asia/Shanghai or "
                          "Europe/Berlin") from None


def local_time(value: object, tz: ZoneInfo) -> datetime | None:
    """A stored timestamp (ISO text or datetime; naive means UTC, as the warehouse writes them)
    as a naive datetime on the wall clock of `tz`: what a spreadsheet cell can hold. None for
    a missing or unreadable value."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).replace(tzinfo=None, microsecond=0)


def phone(value: object, region: str = HOME_REGION) -> object:
    """An E.164 number as dialled in `region` (+8675588888888 -> 0755 8888 8888), a foreign one
    in international format (+49 30 1234567); anything that does not parse stays as it is."""
    if not isinstance(value, str) or not value.strip():
        return value
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return value
    if not phonenumbers.is_possible_number(number):
        return value
    home = phonenumbers.region_code_for_number(number) == region
    style = phonenumbers.PhoneNumberFormat.NATIONAL if home else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, style)


def phones(value: object, region: str = HOME_REGION) -> object:
    """A ';'-joined list of numbers (other_phones), each formatted by `phone`."""
    if not isinstance(value, str) or not value.strip():
        return value
    return "; ".join(str(phone(p.strip(), region)) for p in value.split(";") if p.strip())
