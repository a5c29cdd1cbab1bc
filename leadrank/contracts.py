"""Column contracts between stages. Each stage documents what it reads and writes here, and
checks its input with `require`, so that a broken hand-off fails loudly at the boundary
instead of deep inside the next stage. The prose version is docs/contracts.md.
"""

from __future__ import annotations

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

class ContractError(ValueError):
    """A frame handed between stages lacks columns its contract promises."""


def require(frame: pd.DataFrame, columns: list[str], stage: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ContractError(f"{stage}: input lacks columns {missing}")
