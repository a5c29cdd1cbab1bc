"""Column contracts between stages. Each stage documents what it reads and writes here, and
checks its input with `require`, so that a broken hand-off fails loudly at the boundary
instead of deep inside the next stage. The prose version is docs/contracts.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

# extract → normalise: one row per record a source yielded, values as found (trimmed).
PROVENANCE = ["run_id", "source", "source_kind", "url", "fetched_at", "record_key"]
PROSPECT_FIELDS = [
    "company_name",
    "company_name_alt",  # a second name the source gives (Chinese alias, English name)
    "website",
    "phone",
    "email",
    "address",
    "country",
    "province",
    "city",
    "uscc",  # 统一社会信用代码 as found
    "booth",
    "hall",
    "products",
    "member_level",
    "industry",
]
EXTRACTED = PROVENANCE + PROSPECT_FIELDS + ["raw"]

# Rows that cannot be used, at any stage, with the reason (the rejects table, stg_rejects).
REJECT_COLUMNS = ["run_id", "source", "stage", "row_ref", "reason", "raw"]

# normalise → dedupe: EXTRACTED plus these (None where unknown).
NORMALISED_EXTRA = [
    "name_norm",  # cleaned display name (half-width, simplified, spacing)
    "name_core",  # name without legal form or region prefix, lower-case: what names are compared on
    "name_alt_core",  # core of company_name_alt (an English name's Chinese twin, or vice versa)
    "name_lang",  # zh | en | mixed | ""
    "legal_form",
    "is_branch",
    "uscc_norm",
    "uscc_valid",
    "phone_e164",
    "phone_type",  # mobile | landline | other
    "email_norm",
    "email_domain",
    "email_free",  # the email is on a free-mail domain (qq.com, gmail.com, …)
    "domain",  # registered domain of the website (company domains only)
    "country_iso2",
    "province_norm",
    "city_norm",
    "address_norm",
    "flags",  # ';'-joined data-quality flags, e.g. uscc_invalid;phone_invalid
]
NORMALISED = EXTRACTED + NORMALISED_EXTRA

# Normalisation's cache between nights: a record's content hash and its normalised values.
NORMALISE_CACHE = ["content_hash", *NORMALISED_EXTRA]

# dedupe → score: NORMALISED plus the record's lead, the evidence that joined it, whether a
# source listed it tonight, and (the nightly run) published runs since it was last listed and
# whether it has expired out of its lead.
RESOLVED = NORMALISED + ["lead_id", "match_evidence", "seen_tonight", "nights_unlisted", "expired"]

# Leads (golden records), plus `name_core_zh`: the core of the Chinese name, which scoring
# matches statements and outcomes on (leads read back from the warehouse lack it).
LEAD_COLUMNS = [
    "lead_id", "company_name", "company_name_zh", "company_name_en", "name_core", "legal_form",
    "is_branch", "uscc", "uscc_valid", "domain", "website", "phone", "phone_type", "email", "address",
    "country", "province", "city", "industry", "products", "member_level", "sources", "source_kinds",
    "n_sources", "n_records", "exhibitions", "first_fetched_at", "last_fetched_at",
]
LEADS = LEAD_COLUMNS + ["name_core_zh"]

class ContractError(ValueError):
    """A frame handed between stages lacks columns its contract promises."""


def require(frame: pd.DataFrame, columns: list[str], stage: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ContractError(f"{stage}: input lacks columns {missing}")


@dataclass(frozen=True)
class Contract:
    """A hand-off's columns, and which of them are booleans (a parquet round trip, or a missing
    value, leaves those as objects: they are cast back here, in one place)."""

    name: str
    columns: tuple[str, ...]
    bools: tuple[str, ...] = ()

    def check(self, frame: pd.DataFrame, where: str) -> None:
        require(frame, list(self.columns), f"{where} ({self.name})")

    def cast(self, frame: pd.DataFrame) -> pd.DataFrame:
        for column in self.bools:
            if column in frame.columns:
                frame[column] = frame[column].fillna(False).astype(bool)
        return frame


_NORMALISED_BOOLS = ("is_branch", "uscc_valid", "email_free")
# The run directory's stage files (leadrank.run_files checks them when written and read).
STAGE_FILES = {
    "normalised": Contract("NORMALISED", tuple(NORMALISED), _NORMALISED_BOOLS),
    "normalise_rejects": Contract("REJECT_COLUMNS", tuple(REJECT_COLUMNS)),
    "resolved": Contract("RESOLVED", tuple(RESOLVED), (*_NORMALISED_BOOLS, "seen_tonight", "expired")),
    "leads": Contract("LEADS", tuple(LEADS), ("is_branch", "uscc_valid")),
    "score_rejects": Contract("REJECT_COLUMNS", tuple(REJECT_COLUMNS)),
}
EXTRACTED_FILE = Contract("EXTRACTED", tuple(EXTRACTED))
REJECTS_FILE = Contract("REJECT_COLUMNS", tuple(REJECT_COLUMNS))
