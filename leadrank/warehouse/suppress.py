"""Do-not-contact suppression: entries by 统一社会信用代码, domain, email, phone or company name.

An entry is normalised exactly the way lead records are (the same normalisers as the transform
stage), so "www.HuaQiang.com.cn/contact" suppresses every lead whose website or email is on
huaqiang.com.cn. Which leads an entry hides is materialised in suppressed_leads, recomputed when
entries change and at every publish (a new source record may bring an old entry's company
back); the marts leave those leads out, and exports and the report read the marts. An entry
that matches nothing is kept (it applies as soon as such a lead appears) and the caller says so.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, Engine, text

from leadrank.transform.contacts import normalise_email, normalise_phone, normalise_website
from leadrank.transform.identifiers import normalise_uscc
from leadrank.transform.names import parse_name
from leadrank.warehouse.engine import now, writer

KINDS = ("code", "domain", "email", "phone", "name")
# Which lead_records columns each kind of entry is compared with (equality, so the database
# can hash-join a million records against the entries).
MATCH_COLUMNS = {
    "code": ["uscc_norm"],
    "domain": ["domain", "email_domain"],
    "email": ["email_norm"],
    "phone": ["phone_e164"],
    "name": ["name_core", "name_alt_core"],
}


class SuppressionError(ValueError):
    """An entry that cannot be used (unknown kind, a value that is not what its kind says)."""


@dataclass(frozen=True)
class Entry:
    suppression_id: str
    kind: str
    value: str
    value_norm: str
    reason: str
    added_by: str | None


def normalise(kind: str, value: str) -> str:
    """The key an entry is matched on; raises SuppressionError with what was wrong."""
    value = (value or "").strip()
    if kind not in KINDS:
        raise SuppressionError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
    if not value:
        raise SuppressionError(f"empty {kind}")
    if kind == "code":
        code, valid = normalise_uscc(value)
        if not code or not valid:
            raise SuppressionError(f"{value!r} is not a valid 统一社会信用代码 (18 characters, the last a check "
                                   "character); suppress by name instead if the code is unknown")
        return code
    if kind == "domain":
        domain = normalise_website(value)
        if not domain:
            raise SuppressionError(f"{value!r} is not a website domain (e.g. huaqiang.com.cn)")
        return domain
    if kind == "email":
        email = normalise_email(value)[0]
        if not email:
            raise SuppressionError(f"{value!r} is not an email address")
        return email
    if kind == "phone":
        phone = normalise_phone(value)[0]
        if not phone:
            raise SuppressionError(f"{value!r} is not a valid phone number (give the area code, e.g. "
                                   "0755-8888 8888 or +86 138 0013 8000)")
        return phone
    core = parse_name(value).core
    if not core:
        raise SuppressionError(f"{value!r} has no company name left once the legal form is removed")
    return core


def entry_id(kind: str, value_norm: str) -> str:
    return "S" + hashlib.sha1(f"{kind}|{value_norm}".encode()).hexdigest()[:10].upper()


def _match(conn: Connection, kind: str, suppression_id: str | None = None) -> None:
    """Materialise the matches of the entries of one kind (or of one entry)."""
    only = " AND s.suppression_id = :id" if suppression_id else ""
    stamp = "CAST(:t AS TIMESTAMPTZ)" if conn.dialect.name == "postgresql" else ":t"
    for column in MATCH_COLUMNS[kind]:
        conn.execute(text(
            "INSERT INTO suppressed_leads (lead_id, suppression_id, matched_at) "
            f"SELECT DISTINCT r.lead_id, s.suppression_id, {stamp} FROM suppressions s "
            f"JOIN lead_records r ON r.{column} = s.value_norm WHERE s.kind = :kind{only} "
            "ON CONFLICT (lead_id, suppression_id) DO NOTHING"),
            {"t": now(), "kind": kind, "id": suppression_id})


def refresh_matches(conn: Connection) -> None:
    """Recompute suppressed_leads from every entry (inside the caller's transaction)."""
    conn.execute(text("DELETE FROM suppressed_leads"))
    kinds = [k for (k,) in conn.execute(text("SELECT DISTINCT kind FROM suppressions")).all()]
    for kind in kinds:
        if kind in MATCH_COLUMNS:
            _match(conn, kind)


def matched_leads(conn: Connection, suppression_id: str) -> pd.DataFrame:
    rows = conn.execute(text(
        "SELECT l.lead_id, l.company_name, l.city FROM suppressed_leads x JOIN leads l ON l.lead_id = x.lead_id "
        "WHERE x.suppression_id = :id ORDER BY l.company_name, l.lead_id"), {"id": suppression_id}).all()
    return pd.DataFrame(rows, columns=["lead_id", "company_name", "city"])


def add(engine: Engine, kind: str, value: str, reason: str, added_by: str | None = None) -> tuple[Entry, bool, pd.DataFrame]:
    """Add an entry. Returns (entry, whether it is new, the leads it hides now)."""
    reason = (reason or "").strip()
    if not reason:
        raise SuppressionError("give a reason (--reason): it is kept with the entry")
    value_norm = normalise(kind, value)
    entry = Entry(entry_id(kind, value_norm), kind, value.strip(), value_norm, reason, added_by)
    with writer(engine).begin() as conn:
        existing = conn.execute(text("SELECT suppression_id, value, reason, added_by FROM suppressions "
                                     "WHERE kind = :k AND value_norm = :v"), {"k": kind, "v": value_norm}).first()
        if existing:
            old = Entry(existing[0], kind, existing[1], value_norm, existing[2], existing[3])
            return old, False, matched_leads(conn, old.suppression_id)
        conn.execute(text("INSERT INTO suppressions (suppression_id, kind, value, value_norm, reason, added_by, added_at) "
                          "VALUES (:i, :k, :v, :n, :r, :b, :t)"),
                     {"i": entry.suppression_id, "k": kind, "v": entry.value, "n": value_norm, "r": reason,
                      "b": added_by, "t": now()})
        _match(conn, kind, entry.suppression_id)
        return entry, True, matched_leads(conn, entry.suppression_id)


def remove(engine: Engine, suppression_id: str) -> tuple[Entry, int]:
    """Remove an entry; returns it and how many leads it stopped hiding."""
    with writer(engine).begin() as conn:
        row = conn.execute(text("SELECT suppression_id, kind, value, value_norm, reason, added_by FROM suppressions "
                                "WHERE suppression_id = :i"), {"i": suppression_id.strip().upper()}).first()
        if row is None:
            raise SuppressionError(f"no suppression entry {suppression_id!r} (see `leadrank suppress list`)")
        entry = Entry(*row)
        freed = conn.execute(text("DELETE FROM suppressed_leads WHERE suppression_id = :i"), {"i": entry.suppression_id})
        conn.execute(text("DELETE FROM suppressions WHERE suppression_id = :i"), {"i": entry.suppression_id})
    return entry, freed.rowcount or 0


def entries(engine: Engine) -> pd.DataFrame:
    """Every entry with how many leads it hides."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT s.suppression_id, s.kind, s.value, s.reason, s.added_by, s.added_at, COUNT(x.lead_id) AS leads "
            "FROM suppressions s LEFT JOIN suppressed_leads x ON x.suppression_id = s.suppression_id "
            "GROUP BY s.suppression_id, s.kind, s.value, s.reason, s.added_by, s.added_at "
            "ORDER BY s.added_at, s.suppression_id")).all()
    return pd.DataFrame(rows, columns=["suppression_id", "kind", "value", "reason", "added_by", "added_at", "leads"])
