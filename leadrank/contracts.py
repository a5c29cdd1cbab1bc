"""Column contracts between stages: every hand-off declared once, with its columns' types.

Each hand-off is a pandera DataFrameModel below; the column lists the stages use (`EXTRACTED`,
`NORMALISED`, `RESOLVED`, `LEADS`, …) and the warehouse's column lists are derived from them, so
a column is added in one place. The run directory's files are checked against their contract
where they are written and where they are read (leadrank.run_files, through `Contract.conform`),
so that a broken hand-off fails loudly at the boundary, naming the file, the contract and the
column, instead of deep inside the next stage. The prose version is docs/contracts.md.

Four kinds of column:
- `Text`: a string or None (missing). Stage code builds object columns of str/None; a file read
  as stored gives pandas' Arrow-backed string dtype; a column that held no value at all comes
  back from parquet as object. All are text. Checked by the column's dtype alone: pandera's own
  `str` check looks at every value in Python (0.7 s per 100k rows of 40 columns), this one costs
  nothing per row.
- `bool`, `int` (int64) and `float` (float64): numpy dtypes; bools and ints are never missing,
  a float's missing value is NaN (where its column allows one). A parquet round trip through object columns, a warehouse read or a stage that
  filled a column with None leaves them as objects: `Contract.cast` turns them back, the one
  place where that is done (a missing bool is False; a missing int, or a value that is not a
  bool or a number, is a contract error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.dtypes import immutable
from pandera.engines import numpy_engine
from pandera.errors import SchemaError
from pandera.typing import Series


@immutable
class Text(numpy_engine.Object):
    """A text column (str or None): object, or a pandas string dtype; never checked per value."""

    def check(self, pandera_dtype: Any, data_container: Any = None) -> bool:  # noqa: ARG002 (dtype alone)
        dtype = getattr(pandera_dtype, "type", None)
        return dtype == np.dtype(object) or isinstance(dtype, pd.StringDtype) or (
            isinstance(dtype, pd.ArrowDtype) and pd.api.types.is_string_dtype(dtype))

    def __str__(self) -> str:
        return "text"


def text(description: str | None = None) -> Any:
    """A text column that may be missing (most are: sources give what they give)."""
    return pa.Field(nullable=True, description=description)


def number(description: str | None = None) -> Any:
    """A float column that may be missing (NaN)."""
    return pa.Field(nullable=True, description=description)


def key(description: str | None = None) -> Any:
    """A text column that is never missing (an identity: record_key, lead_id)."""
    return pa.Field(nullable=False, description=description)


class Model(pa.DataFrameModel):
    """Columns a contract promises; a frame may carry more."""

    class Config:
        strict = False


# -- extract → normalise: one row per record a source yielded, values as found (trimmed) -----------

class Provenance(Model):
    run_id: Series[Text] = text()
    source: Series[Text] = text()
    source_kind: Series[Text] = text()
    url: Series[Text] = text()
    fetched_at: Series[Text] = text()
    record_key: Series[Text] = key("identity of the source record across nights")


class Extracted(Provenance):
    company_name: Series[Text] = text()
    company_name_alt: Series[Text] = text("a second name the source gives (Chinese alias, English name)")
    website: Series[Text] = text()
    phone: Series[Text] = text()
    email: Series[Text] = text()
    address: Series[Text] = text()
    country: Series[Text] = text()
    province: Series[Text] = text()
    city: Series[Text] = text()
    uscc: Series[Text] = text("统一社会信用代码 as found")
    booth: Series[Text] = text()
    hall: Series[Text] = text()
    products: Series[Text] = text()
    member_level: Series[Text] = text()
    industry: Series[Text] = text()
    raw: Series[Text] = text("JSON of every value the source held for the row")


# -- rows that cannot be used, at any stage, with the reason (the rejects table, stg_rejects) ------

class Rejects(Model):
    run_id: Series[Text] = text()
    source: Series[Text] = text()
    stage: Series[Text] = text("extract, normalise, financials or outcomes")
    row_ref: Series[Text] = text("where the row came from (file:row, url, record key)")
    reason: Series[Text] = text()
    raw: Series[Text] = text()


# -- normalise → dedupe: EXTRACTED plus the normalised values (None where unknown) ----------------

class NormalisedValues(Model):
    name_norm: Series[Text] = text("cleaned display name (half-width, simplified, spacing)")
    name_core: Series[Text] = text("name without legal form or region prefix, lower-case: what names are "
                                   "compared on")
    name_alt_core: Series[Text] = text("core of company_name_alt (an English name's Chinese twin, or vice versa)")
    name_lang: Series[Text] = text("zh | en | mixed | ''")
    legal_form: Series[Text] = text()
    is_branch: Series[bool]
    uscc_norm: Series[Text] = text()
    uscc_valid: Series[bool]
    phone_e164: Series[Text] = text()
    phone_type: Series[Text] = text("mobile | landline | other")
    email_norm: Series[Text] = text()
    email_domain: Series[Text] = text()
    email_free: Series[bool] = pa.Field(description="the email is on a free-mail domain (qq.com, gmail.com, …)")
    domain: Series[Text] = text("registered domain of the website (company domains only)")
    country_iso2: Series[Text] = text()
    province_norm: Series[Text] = text()
    city_norm: Series[Text] = text()
    address_norm: Series[Text] = text()
    flags: Series[Text] = text("';'-joined data-quality flags, e.g. uscc_invalid;phone_invalid")


# pandera lists a model's columns from its last base to its first: EXTRACTED, then the values.
class Normalised(NormalisedValues, Extracted):
    pass


class NormaliseCache(NormalisedValues):
    """Normalisation's cache between nights: a record's content hash and its normalised values."""

    content_hash: Series[np.uint64] = pa.Field(description="64-bit hash of the record's prospect fields")


# -- dedupe → score: NORMALISED plus the record's lead, the evidence that joined it, whether a ------
# source listed it tonight, published runs since it was last listed and whether it has expired out
# of its lead.

class Resolved(Normalised):
    lead_id: Series[Text] = key()
    match_evidence: Series[Text] = text()
    seen_tonight: Series[bool]
    nights_unlisted: Series[int] = pa.Field(description="published runs since a source last listed the record")
    expired: Series[bool] = pa.Field(description="nights_unlisted reached lead_expiry_nights: no longer feeds its lead")


class LeadColumns(Model):
    """A golden record as the warehouse keeps it (leads read back from it have these)."""

    lead_id: Series[Text] = key()
    company_name: Series[Text] = text()
    company_name_zh: Series[Text] = text()
    company_name_en: Series[Text] = text()
    name_core: Series[Text] = text()
    legal_form: Series[Text] = text()
    is_branch: Series[bool]
    uscc: Series[Text] = text()
    uscc_valid: Series[bool]
    domain: Series[Text] = text()
    website: Series[Text] = text()
    phone: Series[Text] = text()
    phone_type: Series[Text] = text()
    email: Series[Text] = text()
    address: Series[Text] = text()
    country: Series[Text] = text()
    province: Series[Text] = text()
    city: Series[Text] = text()
    industry: Series[Text] = text()
    products: Series[Text] = text()
    member_level: Series[Text] = text()
    sources: Series[Text] = text()
    source_kinds: Series[Text] = text()
    n_sources: Series[int]
    n_records: Series[int]
    exhibitions: Series[int]
    first_fetched_at: Series[Text] = text()
    last_fetched_at: Series[Text] = text()


class Leads(LeadColumns):
    """Leads as dedupe hands them to scoring: plus the core of the Chinese name, which scoring
    matches statements and outcomes on."""

    name_core_zh: Series[Text] = text()


class Events(Model):
    """Merges and splits of existing leads, as dedupe found them."""

    kind: Series[Text] = key("merge | split")
    lead_id: Series[Text] = key()
    other_lead_id: Series[Text] = key()
    records: Series[int]
    evidence: Series[Text] = text()


# -- score → publish ---------------------------------------------------------------------------------

class Outcomes(Model):
    """Won/lost outcomes of tonight's outcome files, matched to leads."""

    lead_id: Series[Text] = key()
    company_name: Series[Text] = text()
    uscc: Series[Text] = text()
    outcome: Series[Text] = text("won | lost | contacted")
    outcome_date: Series[Text] = text("YYYY-MM-DD")
    owner: Series[Text] = text()
    source_file: Series[Text] = text()
    row_no: Series[int]


class Scores(Model):
    """Each lead's scores, rank, tier, segment, ratios, risk flags and reasons."""

    lead_id: Series[Text] = key()
    fit_score: Series[float]
    model_score: Series[float] = number("NaN without a deployed model")
    priority: Series[float]
    rank: Series[int]
    tier: Series[Text] = key("A | B | C | D")
    customer_type: Series[Text] = text()
    channel: Series[Text] = text()
    product_line: Series[Text] = text()
    key_account: Series[bool]
    est_monthly_volume: Series[float] = number()
    segment_score: Series[float] = number()
    ratio_score: Series[float] = number()
    ratio_coverage: Series[float] = number()
    current_asset_ratio: Series[float] = number()  # the ratios of leadrank.scoring.ratios.RATIOS
    net_margin: Series[float] = number()
    roa: Series[float] = number()
    collection_days: Series[float] = number()
    inventory_days: Series[float] = number()
    revenue_growth: Series[float] = number()
    fin_year: Series[float] = number("year of the statements the ratios come from (NaN: none)")
    risk_flags: Series[Text] = text()
    reasons_for: Series[Text] = text()
    reasons_against: Series[Text] = text()
    top_reasons: Series[Text] = text()


class ContractError(ValueError):
    """A frame handed between stages lacks columns its contract promises, or holds a column of
    another type."""


def require(frame: pd.DataFrame, columns: list[str], stage: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ContractError(f"{stage}: input lacks columns {missing}")


_CASTS = {"bool": "boolean", "int64": "Int64", "float64": "Float64"}  # through pandas' checked nullable types


@dataclass(frozen=True)
class Contract:
    """One hand-off: its model, the column list derived from it, and the check and cast that
    every boundary uses."""

    name: str
    model: type[Model]
    schema: pa.DataFrameSchema = field(init=False, repr=False)
    columns: list[str] = field(init=False, repr=False)
    typed: dict[str, str] = field(init=False, repr=False)  # column → numpy dtype, for the non-text ones

    def __post_init__(self) -> None:
        schema = self.model.to_schema()
        object.__setattr__(self, "schema", schema)
        object.__setattr__(self, "columns", list(schema.columns))
        object.__setattr__(self, "typed", {name: str(column.dtype) for name, column in schema.columns.items()
                                           if str(column.dtype) in _CASTS})

    def cast(self, frame: pd.DataFrame, where: str = "casting") -> pd.DataFrame:
        """`frame` with its bool, int and float columns in their dtypes (see the module
        docstring); only columns not already so are touched, on a shallow copy."""
        out = frame
        for column, dtype in self.typed.items():
            if column not in frame.columns or frame[column].dtype == dtype:
                continue
            values = frame[column]
            try:
                values = values.astype(_CASTS[dtype])
            except (TypeError, ValueError) as exc:
                raise ContractError(f"{where} ({self.name}): column {column!r} holds values that are not "
                                    f"{dtype} ({str(exc)[:80]})") from None
            if dtype == "bool":
                values = values.fillna(False)
            elif dtype == "int64" and values.hasnans:
                raise ContractError(f"{where} ({self.name}): column {column!r} has missing values")
            if out is frame:
                out = frame.copy(deep=False)
            out[column] = values.astype(dtype)
        return out

    def check(self, frame: pd.DataFrame, where: str, columns: list[str] | None = None) -> None:
        """The contract's columns are there (only `columns`, when a file was read in part) and
        of their kind; a column that may not be missing has no missing value."""
        stage = f"{where} ({self.name})"
        require(frame, self.columns if columns is None else [c for c in columns if c in self.columns], stage)
        schema = self.schema if columns is None else self.schema.select_columns(
            [c for c in self.columns if c in columns])
        try:
            schema.validate(frame, inplace=True)  # inplace: no copy of a million rows
        except SchemaError as exc:
            column = getattr(exc, "column_name", None)
            declared = schema.columns[column].dtype if column in schema.columns else "?"
            if column in frame.columns and frame[column].isna().any() and not schema.columns[column].nullable:
                raise ContractError(f"{stage}: column {column!r} has missing values") from None
            found = frame[column].dtype if column in frame.columns else "?"
            raise ContractError(f"{stage}: column {column!r} is {found}, not {declared}") from None

    def conform(self, frame: pd.DataFrame, where: str, columns: list[str] | None = None) -> pd.DataFrame:
        """`frame` cast (`cast`) and checked (`check`), as a boundary hands it on."""
        frame = self.cast(frame, where)
        self.check(frame, where, columns)
        return frame


EXTRACTED_FILE = Contract("EXTRACTED", Extracted)
REJECTS_FILE = Contract("REJECT_COLUMNS", Rejects)
NORMALISED_FILE = Contract("NORMALISED", Normalised)
NORMALISE_CACHE_FILE = Contract("NORMALISE_CACHE", NormaliseCache)
RESOLVED_FILE = Contract("RESOLVED", Resolved)
LEAD_TABLE = Contract("LEAD_COLUMNS", LeadColumns)
LEADS_FILE = Contract("LEADS", Leads)
EVENTS_FILE = Contract("EVENTS", Events)
OUTCOMES_FILE = Contract("OUTCOMES", Outcomes)
SCORES_FILE = Contract("SCORES", Scores)

# The run directory's stage files (leadrank.run_files conforms them when written and read).
STAGE_FILES = {
    "normalised": NORMALISED_FILE,
    "normalise_rejects": REJECTS_FILE,
    "resolved": RESOLVED_FILE,
    "leads": LEADS_FILE,
    "events": EVENTS_FILE,
    "scores": SCORES_FILE,
    "outcomes": OUTCOMES_FILE,
    "score_rejects": REJECTS_FILE,
}

# The column lists, in the order of their models.
PROVENANCE = Contract("PROVENANCE", Provenance).columns
EXTRACTED = EXTRACTED_FILE.columns
PROSPECT_FIELDS = [c for c in EXTRACTED if c not in (*PROVENANCE, "raw")]
REJECT_COLUMNS = REJECTS_FILE.columns
NORMALISED = NORMALISED_FILE.columns
NORMALISED_EXTRA = Contract("NORMALISED_EXTRA", NormalisedValues).columns
NORMALISE_CACHE = NORMALISE_CACHE_FILE.columns
RESOLVED = RESOLVED_FILE.columns
LEAD_COLUMNS = LEAD_TABLE.columns
LEADS = LEADS_FILE.columns
EVENT_COLUMNS = EVENTS_FILE.columns
OUTCOME_COLUMNS = OUTCOMES_FILE.columns
SCORE_COLUMNS = SCORES_FILE.columns
