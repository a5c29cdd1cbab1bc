"""Column contracts between stages: every hand-off declared once, with its columns' types.

Each hand-off is declared below as a mapping of column names to typed columns, checked as a
pandera schema (`Contract.schema`); the column lists the stages use (`EXTRACTED`, `NORMALISED`, `RESOLVED`, `LEADS`, …) and the
warehouse's column lists are derived from them, so a column is added in one place. The run
directory's files are conformed to their contract where they are written and where they are
read (leadrank.run_files, through `Contract.conform`), so that a broken hand-off fails loudly at
the boundary, naming the file, the contract and the column, instead of deep inside the next
stage. The prose version is docs/contracts.md.

Four kinds of column:
- `text`: a string or None (missing). Stage code builds object columns of str/None; a file read
  as stored gives pandas' Arrow-backed string dtype; a column that held no value at all comes
  back from parquet as object. All are text. Checked by the column's dtype alone: pandera's own
  `str` check looks at every value in Python (0.7 s per 100k rows of 40 columns), this one costs
  nothing per row.
- `flag` (bool), `whole` (int64) and `number` (float64): numpy dtypes; bools and ints are never
  missing, a float's missing value is NaN (where its column allows one). A parquet round trip
  through object columns, a warehouse read or a stage that filled a column with None leaves them
  as objects: `Contract.cast` turns them back, the one place where that is done (a missing bool
  is False; a missing int, or a value that is not a bool or a number, is a contract error).

The schemas are pandera's object API (`DataFrameSchema`), not its class API: building a
`DataFrameModel`'s schema imports dask's dataframe module (installed here for prefect-dask), half
a second or more in every step's process. pandera itself is imported when a contract first
checks, not by every process that reads a column list (the command line, config loading).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Column:
    """A declared column: its kind (text, bool, int64, float64, uint64), whether it may be
    missing, and what it holds. Turned into a pandera column when a contract first checks."""

    kind: str
    nullable: bool = False
    description: str | None = None


def text(description: str | None = None) -> Column:
    """A text column that may be missing (most are: sources give what they give)."""
    return Column("text", True, description)


def key(description: str | None = None) -> Column:
    """A text column that is never missing (an identity: record_key, lead_id)."""
    return Column("text", False, description)


def flag(description: str | None = None) -> Column:
    return Column("bool", False, description)


def whole(description: str | None = None) -> Column:
    return Column("int64", False, description)


def number(description: str | None = None, *, nullable: bool = True) -> Column:
    """A float column, missing as NaN unless `nullable` is False."""
    return Column("float64", nullable, description)


# -- extract → normalise: one row per record a source yielded, values as found (trimmed) -----------

PROVENANCE_SCHEMA = {
    "run_id": text(),
    "source": text(),
    "source_kind": text(),
    "url": text(),
    "fetched_at": text(),
    "record_key": key("identity of the source record across nights"),
}
EXTRACTED_SCHEMA = {
    **PROVENANCE_SCHEMA,
    "company_name": text(),
    "company_name_alt": text("a second name the source gives (Chinese alias, English name)"),
    "website": text(),
    "phone": text(),
    "email": text(),
    "address": text(),
    "country": text(),
    "province": text(),
    "city": text(),
    "uscc": text("统一社会信用代码 as found"),
    "booth": text(),
    "hall": text(),
    "products": text(),
    "member_level": text(),
    "industry": text(),
    "raw": text("JSON of every value the source held for the row"),
}

# -- rows that cannot be used, at any stage, with the reason (the rejects table, stg_rejects) ------

REJECT_SCHEMA = {
    "run_id": text(),
    "source": text(),
    "stage": text("extract, normalise, financials or outcomes"),
    "row_ref": text("where the row came from (file:row, url, record key)"),
    "reason": text(),
    "raw": text(),
}

# -- normalise → dedupe: EXTRACTED plus the normalised values (None where unknown) ----------------

NORMALISED_EXTRA_SCHEMA = {
    "name_norm": text("cleaned display name (half-width, simplified, spacing)"),
    "name_core": text("name without legal form or region prefix, lower-case: what names are compared on"),
    "name_alt_core": text("core of company_name_alt (an English name's Chinese twin, or vice versa)"),
    "name_lang": text("zh | en | mixed | ''"),
    "legal_form": text(),
    "is_branch": flag(),
    "uscc_norm": text(),
    "uscc_valid": flag(),
    "phone_e164": text(),
    "phone_type": text("mobile | landline | other"),
    "email_norm": text(),
    "email_domain": text(),
    "email_free": flag("the email is on a free-mail domain (qq.com, gmail.com, …)"),
    "domain": text("registered domain of the website (company domains only)"),
    "country_iso2": text(),
    "province_norm": text(),
    "city_norm": text(),
    "address_norm": text(),
    "flags": text("';'-joined data-quality flags, e.g. uscc_invalid;phone_invalid"),
}
NORMALISED_SCHEMA = {**EXTRACTED_SCHEMA, **NORMALISED_EXTRA_SCHEMA}
# Normalisation's cache between nights: a record's content hash and its normalised values.
NORMALISE_CACHE_SCHEMA = {
    "content_hash": Column("uint64", False, "64-bit hash of the record's prospect fields"),
    **NORMALISED_EXTRA_SCHEMA,
}

# -- dedupe → score: NORMALISED plus the record's lead, the evidence that joined it, whether a ------
# source listed it tonight, published runs since it was last listed and whether it has expired out
# of its lead.

RESOLVED_SCHEMA = {
    **NORMALISED_SCHEMA,
    "lead_id": key(),
    "match_evidence": text(),
    "seen_tonight": flag(),
    "nights_unlisted": whole("published runs since a source last listed the record"),
    "expired": flag("nights_unlisted reached lead_expiry_nights: no longer feeds its lead"),
}

# A golden record as the warehouse keeps it (leads read back from it have these).
LEAD_TABLE_SCHEMA = {
    "lead_id": key(),
    "company_name": text(),
    "company_name_zh": text(),
    "company_name_en": text(),
    "name_core": text(),
    "legal_form": text(),
    "is_branch": flag(),
    "uscc": text(),
    "uscc_valid": flag(),
    "domain": text(),
    "website": text(),
    "phone": text(),
    "phone_type": text(),
    "email": text(),
    "address": text(),
    "country": text(),
    "province": text(),
    "city": text(),
    "industry": text(),
    "products": text(),
    "member_level": text(),
    "sources": text(),
    "source_kinds": text(),
    "n_sources": whole(),
    "n_records": whole(),
    "exhibitions": whole(),
    "first_fetched_at": text(),
    "last_fetched_at": text(),
}
# Leads as dedupe hands them to scoring: plus the core of the Chinese name, which scoring matches
# statements and outcomes on.
LEADS_SCHEMA = {**LEAD_TABLE_SCHEMA, "name_core_zh": text()}

# Merges and splits of existing leads, as dedupe found them.
EVENTS_SCHEMA = {
    "kind": key("merge | split"),
    "lead_id": key(),
    "other_lead_id": key(),
    "records": whole("how many records moved"),
    "evidence": text(),
}

# The leads an incremental dedupe step rebuilt (golden records of leads whose records changed
# since its base run, new leads among them); every other lead is the base run's as that run
# published it, so publishing compares only these with the stored ones.
REBUILT_SCHEMA = {
    "lead_id": key(),
    "base_run_id": key("the run the other leads are kept from"),
}

# -- score → publish ---------------------------------------------------------------------------------

# Won/lost outcomes of tonight's outcome files, matched to leads.
OUTCOMES_SCHEMA = {
    "lead_id": key(),
    "company_name": text(),
    "uscc": text(),
    "outcome": text("won | lost | contacted"),
    "outcome_date": text("YYYY-MM-DD"),
    "owner": text(),
    "source_file": text(),
    "row_no": whole(),
}

# Each lead's scores, rank, tier, segment, ratios, risk flags and reasons.
SCORES_SCHEMA = {
    "lead_id": key(),
    "fit_score": number(nullable=False),
    "model_score": number("NaN without a deployed model"),
    "priority": number(nullable=False),
    "rank": whole(),
    "tier": key("A | B | C | D"),
    "customer_type": text(),
    "channel": text(),
    "product_line": text(),
    "key_account": flag(),
    "est_monthly_volume": number(),
    "segment_score": number(),
    "ratio_score": number(),
    "ratio_coverage": number(),
    **{ratio: number() for ratio in  # leadrank.scoring.ratios.RATIOS
       ("current_asset_ratio", "net_margin", "roa", "collection_days", "inventory_days")},
    "revenue_growth": number(),
    "fin_year": number("year of the statements the ratios come from (NaN: none)"),
    "risk_flags": text(),
    "reasons_for": text(),
    "reasons_against": text(),
    "top_reasons": text(),
}


class ContractError(ValueError):
    """A frame handed between stages lacks columns its contract promises, or holds a column of
    another type."""


def require(frame: pd.DataFrame, columns: list[str], stage: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ContractError(f"{stage}: input lacks columns {missing}")


_CASTS = {"bool": "boolean", "int64": "Int64", "float64": "Float64"}  # through pandas' checked nullable types


@functools.cache
def _pandera() -> tuple[Any, Any, type[Exception]]:
    """pandera, imported when a contract first checks (a quarter second of every process that
    imports the contracts otherwise: the command line, config loading), and its text dtype."""
    import pandera.pandas as pa
    from pandera.dtypes import immutable
    from pandera.engines import numpy_engine
    from pandera.errors import SchemaError

    @immutable
    class Text(numpy_engine.Object):
        """A text column (str or None): object, or a pandas string dtype; never checked per value."""

        def check(self, pandera_dtype: Any, data_container: Any = None) -> bool:  # noqa: ARG002 (dtype alone)
            return _text_dtype(getattr(pandera_dtype, "type", None))

        def __str__(self) -> str:
            return "text"

    return pa, Text, SchemaError


@dataclass(frozen=True)
class Contract:
    """One hand-off: its declared columns, the column list derived from them, and the cast and
    check that every boundary uses. A frame may carry columns besides the contract's."""

    name: str
    declared: dict[str, Column] = field(repr=False)
    columns: list[str] = field(init=False, repr=False)
    typed: dict[str, str] = field(init=False, repr=False)  # column → numpy dtype, for the non-text ones

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", list(self.declared))
        object.__setattr__(self, "typed", {name: column.kind for name, column in self.declared.items()
                                           if column.kind in _CASTS})

    @functools.cached_property
    def schema(self) -> Any:
        """The pandera schema (a DataFrameSchema) of the declared columns."""
        pa, text_dtype, _ = _pandera()
        return pa.DataFrameSchema({
            name: pa.Column(text_dtype() if column.kind == "text" else np.dtype(column.kind),
                            nullable=column.nullable, description=column.description)
            for name, column in self.declared.items()}, name=self.name)

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
        names = self.columns if columns is None else [c for c in columns if c in self.columns]
        require(frame, names, stage)
        if self.conforms(frame, names):
            return
        schema = self.schema if columns is None else self.schema.select_columns(names)
        try:
            schema.validate(frame, inplace=True)  # inplace: no copy of a million rows
        except _pandera()[2] as exc:
            column = getattr(exc, "column_name", None)
            declared = schema.columns[column].dtype if column in schema.columns else "?"
            if column in frame.columns and frame[column].isna().any() and not schema.columns[column].nullable:
                raise ContractError(f"{stage}: column {column!r} has missing values") from None
            found = frame[column].dtype if column in frame.columns else "?"
            raise ContractError(f"{stage}: column {column!r} is {found}, not {declared}") from None

    def conforms(self, frame: pd.DataFrame, names: list[str]) -> bool:
        """Whether each named column is of its declared kind (by dtype, as the pandera schema's
        dtypes check) and, where it may not be missing, has no missing value: all the schema
        checks, decided without pandera for a frame that passes. pandera costs a millisecond or
        more per column whatever the frame's length (its schema copied for a part, each column's
        checks dispatched): a small night's hundred hand-offs spent a quarter of their time
        there. A frame that fails here goes to pandera, whose error names the column."""
        for name in names:
            values, column = frame[name], self.declared[name]
            if not isinstance(values, pd.Series):  # (a duplicated column: pandera says so)
                return False
            kind_ok = _text_dtype(values.dtype) if column.kind == "text" else values.dtype == np.dtype(column.kind)
            if not kind_ok or (not column.nullable and values.hasnans):
                return False
        return True

    def conform(self, frame: pd.DataFrame, where: str, columns: list[str] | None = None) -> pd.DataFrame:
        """`frame` cast (`cast`) and checked (`check`), as a boundary hands it on."""
        frame = self.cast(frame, where)
        self.check(frame, where, columns)
        return frame


EXTRACTED_FILE = Contract("EXTRACTED", EXTRACTED_SCHEMA)
REJECTS_FILE = Contract("REJECT_COLUMNS", REJECT_SCHEMA)
NORMALISED_FILE = Contract("NORMALISED", NORMALISED_SCHEMA)
NORMALISE_CACHE_FILE = Contract("NORMALISE_CACHE", NORMALISE_CACHE_SCHEMA)
RESOLVED_FILE = Contract("RESOLVED", RESOLVED_SCHEMA)
LEAD_TABLE = Contract("LEAD_COLUMNS", LEAD_TABLE_SCHEMA)
LEADS_FILE = Contract("LEADS", LEADS_SCHEMA)
EVENTS_FILE = Contract("EVENTS", EVENTS_SCHEMA)
REBUILT_FILE = Contract("REBUILT", REBUILT_SCHEMA)
OUTCOMES_FILE = Contract("OUTCOMES", OUTCOMES_SCHEMA)
SCORES_FILE = Contract("SCORES", SCORES_SCHEMA)

# The run directory's stage files (leadrank.run_files conforms them when written and read).
STAGE_FILES = {
    "normalised": NORMALISED_FILE,
    "normalise_rejects": REJECTS_FILE,
    "resolved": RESOLVED_FILE,
    "leads": LEADS_FILE,
    "events": EVENTS_FILE,
    "leads_rebuilt": REBUILT_FILE,
    "scores": SCORES_FILE,
    "outcomes": OUTCOMES_FILE,
    "score_rejects": REJECTS_FILE,
}

# The column lists, in the order of their schemas.
PROVENANCE = list(PROVENANCE_SCHEMA)
EXTRACTED = EXTRACTED_FILE.columns
PROSPECT_FIELDS = [c for c in EXTRACTED if c not in (*PROVENANCE, "raw")]
REJECT_COLUMNS = REJECTS_FILE.columns
NORMALISED = NORMALISED_FILE.columns
NORMALISED_EXTRA = list(NORMALISED_EXTRA_SCHEMA)
NORMALISE_CACHE = NORMALISE_CACHE_FILE.columns
RESOLVED = RESOLVED_FILE.columns
LEAD_COLUMNS = LEAD_TABLE.columns
LEADS = LEADS_FILE.columns
EVENT_COLUMNS = EVENTS_FILE.columns
OUTCOME_COLUMNS = OUTCOMES_FILE.columns
# What says which CRM row an outcome is, whichever lead it matched: a configured outcomes file is
# read and matched again every night, a CRM export is imported again as it grows, and a row that
# matches another lead than before (a lead's 统一社会信用代码 or name changed, two leads merged or
# split) is the same deal (warehouse.load.write_outcomes moves its stored copy).
OUTCOME_IDENTITY = ["source_file", "company_name", "uscc", "outcome", "outcome_date", "owner"]
SCORE_COLUMNS = SCORES_FILE.columns


def is_arrow_text(values: pd.Series) -> bool:
    """Text in one of pandas' string dtypes (pandas 3's `str`, Arrow-backed; an Arrow string
    type), as stage files are read: not Python objects."""
    return _arrow_text_dtype(values.dtype)


def _arrow_text_dtype(dtype: Any) -> bool:
    return isinstance(dtype, pd.StringDtype) or (
        isinstance(dtype, pd.ArrowDtype) and pd.api.types.is_string_dtype(dtype))


def _text_dtype(dtype: Any) -> bool:
    """A `text` column's dtype: objects (str or None) or a pandas string dtype."""
    return dtype == np.dtype(object) or _arrow_text_dtype(dtype)


def column_as_objects(values: pd.Series) -> pd.Series:
    """A column as Python objects with None for missing values. Arrow-backed text becomes one
    Python string per distinct value (countries, cities, legal forms and run ids repeat
    endlessly: a string per row cost ten times the memory), hashed in Arrow."""
    if values.dtype == object and not values.hasnans:
        return values
    if isinstance(values.dtype, (pd.StringDtype, pd.ArrowDtype)):
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        distinct = np.append(np.asarray(uniques, dtype=object), None)  # code -1 (missing) takes the last
        return pd.Series(distinct[codes], index=values.index, dtype=object, name=values.name)
    missing = values.isna().to_numpy()
    values = values.astype(object)
    return values.where(~missing, None) if missing.any() else values
