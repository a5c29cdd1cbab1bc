"""Typed settings of a source, per kind: what each key means, where it may appear, and checks
that make a mistake fail when the sources file is loaded rather than yield nothing at night.

A source is one of three models, chosen by `kind` (a discriminated union): `exhibition` and
`association` sources walk pages (`PageSource`: start URLs, pagination, detail pages, one of the
formats html, table, json, csv, xlsx), `websearch` sources query a search API
(`WebSearchSource`). Keys of another format (`items` on a table source), of another section
(`allow_private_network` belongs under `fetch:`) or misspelt (`paginaton`) are errors naming the
key and what was probably meant. The extractors read the settings as a plain mapping,
`source.options()`: the keys that were written, validated, without the defaults.

Field specs (`fields:`, `detail: {fields: …}`) are a string (a CSS selector, `css@attr`, or a
dotted JSON path) or a mapping, `FieldSpec`. The mapping's keys are the options the field
grammar of leadrank.extractors.fields understands; a new option there is declared here as a
field of `FieldSpec`, so that it is accepted and typed and any other key stays an error.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Discriminator, Field, SecretStr, Tag, TypeAdapter, ValidationInfo, field_validator, model_validator

from leadrank.config_schema import Strict, suggestion
from leadrank.contracts import PROSPECT_FIELDS

KINDS = ("exhibition", "association", "websearch")
DEFAULT_FORMAT = {"exhibition": "html", "association": "table"}
# Keys that only one family of formats reads; on a source of another format they would be
# ignored, so they are errors.
FORMAT_KEYS: dict[str, set[str]] = {
    "items": {"html"},
    "fields": {"html", "json"},
    "table": {"table"},
    "header_row": {"table"},
    "section_field": {"table"},
    "columns": {"table", "csv", "xlsx"},
    "records": {"json"},
    "embedded": {"json"},
    "embedded_var": {"json"},
    "sep": {"csv"},
    "encoding": {"csv"},
    "skip_rows": {"csv"},
    "sheet": {"xlsx"},
}
# What a source-level key that belongs elsewhere is: the fetch settings go under `fetch:`.
_FETCH_KEYS = ("user_agent", "contact", "connect_timeout", "read_timeout", "total_timeout", "max_retries",
               "backoff_base", "backoff_max", "rate_limit", "max_concurrency_per_host", "max_body_bytes",
               "max_redirects", "respect_robots", "allow_local_files", "allow_private_network", "keep_raw")
SOURCE_MISPLACED = {key: "under the source's `fetch:` (or the top-level `fetch:`)" for key in _FETCH_KEYS}


class FieldSpec(Strict):
    """A field taken from a card or page by more than a selector.

    `label` takes the value after a label (`{label: 电话}`, or a list of labels), or `css`
    selects an element (`css@attr` for an attribute). Of the text found, `line` keeps one line (0 the
    first, -1 the last), `regex` the match (its `group`; by default the first group when the
    pattern has one, else the whole match), `split`
    cuts at a separator and `index` keeps that piece (default 0)."""

    label: str | list[str] | None = None
    css: str | None = None
    line: int | None = None
    regex: str | None = None
    group: int | str | None = None
    split: str | None = None
    index: int | None = None

    @field_validator("line", "index", mode="before")
    @classmethod
    def _whole_number(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"`{info.field_name}` must be a whole number (0 first, -1 last)")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> FieldSpec:
        if (self.label is None) == (self.css is None):
            raise ValueError("a field spec mapping needs exactly one of `css` (an element) or `label` (text after "
                             "a label)")
        if self.regex is not None:
            try:
                pattern = re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"`regex` is not a valid pattern ({exc})") from None
            group = self.match_group(pattern)
            if group not in pattern.groupindex and not (isinstance(group, int) and 0 <= group <= pattern.groups):
                raise ValueError(f"the pattern has no group {group!r} (it has {pattern.groups}"
                                 + "".join(f", {name!r}" for name in pattern.groupindex) + ")")
        elif self.group is not None:
            raise ValueError("`group` needs `regex`")
        if self.index is not None and self.split is None:
            raise ValueError("`index` needs `split` (the separator)")
        if self.split == "":
            raise ValueError("`split` needs a separator")
        return self

    def match_group(self, pattern: re.Pattern[str]) -> int | str:
        """The group of a `regex` match the value is: `group`, else the first group when the
        pattern has one, else the whole match."""
        return self.group if self.group is not None else (1 if pattern.groups else 0)

    @property
    def takes_part(self) -> bool:
        """Whether the spec takes part of what it finds (a line, a piece, a match)."""
        return self.line is not None or self.split is not None or self.regex is not None


def _spec_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "<text>"
    if isinstance(value, (dict, FieldSpec)):
        return "<spec>"
    return None


Spec = Annotated[
    Annotated[str, Tag("<text>")] | Annotated[FieldSpec, Tag("<spec>")],
    Discriminator(_spec_tag, custom_error_type="field_spec",
                  custom_error_message="a field spec is a selector (text) or a mapping such as {label: 电话}"),
]


class Pagination(Strict):
    """One of three styles: `next` (follow a link), `param` (page numbers) or `offset` (rows)."""

    next: str | None = None
    param: str | None = None
    offset: str | None = None
    start: int | None = None
    step: int | None = Field(default=None, ge=1)
    limit_param: str | None = None
    max_pages: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_style(self) -> Pagination:
        styles = [s for s in ("next", "param", "offset") if getattr(self, s) is not None]
        if len(styles) != 1:
            raise ValueError("pagination needs exactly one of `next` (a link), `param` (page numbers) or "
                             f"`offset` (rows); got {', '.join(styles) or 'none'}")
        counted = {"start", "step", "limit_param"} & self.model_fields_set
        if styles == ["next"] and counted:
            raise ValueError(f"{', '.join(sorted(counted))}: only for `param` or `offset` pagination")
        if self.limit_param and self.step is None:
            raise ValueError("`limit_param` sends the page size: it needs `step`")
        return self


class DetailSpec(Strict):
    """A detail page per entry: the list field holding its link, and fields read from it."""

    link_field: str = "detail_url"
    fields: dict[str, Spec] = {}


class EnrichSpec(Strict):
    max_sites: int = Field(default=100, ge=1)
    contact_page: bool = True


class SecretRef(Strict):
    """`{env: VAR}` or `{secret: NAME}` (a secret store, e.g. a Prefect Secret block)."""

    env: str | None = None
    secret: str | None = None

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if (self.env is None) == (self.secret is None):
            raise ValueError("give one of `env` (an environment variable) or `secret` (a secret store name)")
        return self


def _prospect_field(name: str, what: str) -> str:
    if name not in PROSPECT_FIELDS:
        raise ValueError(f"{what} {name!r} is not a record field{suggestion(name, PROSPECT_FIELDS)}; "
                         f"fields: {', '.join(PROSPECT_FIELDS)}")
    return name


class SourceConfig(Strict):
    """What every source has, whatever its kind. `SourceConfig.model_validate(mapping)` gives
    the model of the mapping's kind (PageSource or WebSearchSource)."""

    # Common keys, not part of `options()`.
    COMMON: ClassVar[frozenset[str]] = frozenset(
        {"name", "kind", "enabled", "trust", "expect_rows", "required_fields", "fetch"})
    misplaced: ClassVar[Mapping[str, str]] = SOURCE_MISPLACED

    name: str
    kind: str
    enabled: bool = True
    trust: int = Field(default=0, description="higher wins field conflicts in golden records")
    expect_rows: bool = True
    required_fields: list[str] = ["company_name"]
    fetch: dict[str, Any] = {}  # overrides of the top-level fetch settings, checked by the config loader
    set: dict[str, str] = {}  # constant fields, e.g. {country: CN}
    key_field: str | None = None  # the source's own id field: the record's identity across nights

    @field_validator("name")
    @classmethod
    def _name_is_slug(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", value):
            raise ValueError(f"source name {value!r} must be letters, digits, '-', '_' or '.'")
        return value

    @field_validator("required_fields")
    @classmethod
    def _required_are_fields(cls, value: list[str]) -> list[str]:
        return [_prospect_field(name, "required field") for name in value]

    @field_validator("set")
    @classmethod
    def _set_are_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            _prospect_field(name, "`set:` key")
        return value

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> SourceConfig:  # type: ignore[override]
        if cls is SourceConfig:
            return _SOURCE.validate_python(obj, **kwargs)
        return super().model_validate(obj, **kwargs)

    def options(self) -> dict[str, Any]:
        """The kind-specific settings as written (validated; unset keys left out)."""
        return self.model_dump(exclude=set(self.COMMON), exclude_unset=True, by_alias=True)


class PageSource(SourceConfig):
    """An exhibition or association source: pages walked from start URLs (see
    leadrank.extractors.pages for pagination, leadrank.extractors.parsers for the formats)."""

    kind: Literal["exhibition", "association"]
    url: str | None = None
    urls: list[str] | None = None
    format: Literal["html", "table", "json", "csv", "xlsx"] | None = None
    pagination: Pagination | None = None
    detail: DetailSpec | None = None
    items: str | None = None  # html: a CSS selector for one entry
    fields: dict[str, Spec] = {}  # html: selectors inside an entry; json: dotted paths in a record
    table: str | None = None  # table: which table (CSS), else the first with the mapped columns
    columns: dict[str, str | list[str]] = {}  # table: header text (`网址@href`); csv/xlsx: column names
    header_row: int | None = Field(default=None, ge=0)
    section_field: str | None = None
    records: str | None = None  # json: dotted path to the list of entries
    embedded: str | None = None  # json inside a page: the element holding it
    embedded_var: str | None = None  # json inside a page: the script variable assigned it
    sep: str | None = None
    encoding: str | None = None
    skip_rows: int | None = Field(default=None, ge=0)
    sheet: int | str | None = None

    def effective_format(self) -> str:
        return self.format or DEFAULT_FORMAT[self.kind]

    @model_validator(mode="after")
    def _fits_format(self) -> PageSource:
        fmt = self.effective_format()
        for key in sorted(self.model_fields_set & FORMAT_KEYS.keys()):
            if fmt not in FORMAT_KEYS[key]:
                raise ValueError(f"`{key}` is a setting of format {' / '.join(sorted(FORMAT_KEYS[key]))}, "
                                 f"and this source's format is {fmt}" + ("" if self.format else " (the default)"))
        if not self.url and not self.urls:
            raise ValueError("a page source needs `url` (or `urls`, a list of start URLs)")
        if self.section_field is not None:
            _prospect_field(self.section_field, "section_field")
        mapped = set(self.fields) | set(self.columns)
        if self.key_field and self.key_field not in mapped:
            raise ValueError(f"key_field {self.key_field!r} is not one of the source's fields"
                             f"{suggestion(self.key_field, mapped)}")
        if self.detail and self.detail.link_field not in mapped:
            raise ValueError(f"detail: link_field {self.detail.link_field!r} is not a field of the list page; "
                             f"map it, e.g. fields: {{{self.detail.link_field}: \"a.more@href\"}}"
                             f"{suggestion(self.detail.link_field, mapped)}")
        return self


def _shape_tag(value: Any) -> str:
    """`<value>` for a scalar, `<mapping>` for a mapping: the two shapes of `enrich` and `api_key`."""
    return "<mapping>" if isinstance(value, (dict, Strict)) else "<value>"


def _shaped(scalar: Any, mapping: type[Strict], what: str) -> Any:
    """A setting that is a scalar or a mapping, told apart by shape (so errors name one of them)."""
    return Annotated[Annotated[scalar, Tag("<value>")] | Annotated[mapping, Tag("<mapping>")],
                     Discriminator(_shape_tag, custom_error_type="shape", custom_error_message=what)]


class WebSearchSource(SourceConfig):
    """Candidates from a search API (leadrank.extractors.websearch)."""

    kind: Literal["websearch"]
    engine: Literal["searxng", "brave", "serpapi"] = "searxng"
    endpoint: str
    api_key: _shaped(SecretStr, SecretRef, "api_key") | None = None  # type: ignore[valid-type]
    queries: list[str] = Field(min_length=1)
    vars: dict[str, list[str]] = {}
    max_results: int | None = Field(default=None, ge=1)
    language: str | None = None
    serpapi_engine: str | None = None
    exclude_domains: list[str] = []
    enrich: _shaped(bool, EnrichSpec, "enrich") = False  # type: ignore[valid-type]

    @field_validator("api_key", mode="before")
    @classmethod
    def _key_form(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, (str, dict, SecretStr, SecretRef)):
            raise ValueError("api_key is a string such as ${ENV_VAR}, {env: VAR} or {secret: NAME}")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> WebSearchSource:
        if self.engine in {"brave", "serpapi"} and self.api_key is None:
            raise ValueError(f"the {self.engine} engine needs api_key (e.g. ${{{self.engine.upper()}_API_KEY}} "
                             "or {secret: NAME})")
        if self.serpapi_engine is not None and self.engine != "serpapi":
            raise ValueError("`serpapi_engine` is a setting of engine serpapi")
        for query in self.queries:
            for _, name, _, _ in string.Formatter().parse(query):
                if name is not None and name not in self.vars:
                    raise ValueError(f"query {query!r} uses {{{name}}}, which `vars` does not define"
                                     f"{suggestion(name, self.vars)}")
        return self

    def options(self) -> dict[str, Any]:
        options = super().options()
        if isinstance(self.api_key, SecretRef):  # {env: …} / {secret: …} as written, for resolve_secret
            options["api_key"] = self.api_key.model_dump(exclude_none=True)
        return options


def _kind_tag(value: Any) -> str | None:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    if kind in {"exhibition", "association"}:
        return "<page>"
    return "<websearch>" if kind == "websearch" else None


AnySource = Annotated[
    Annotated[PageSource, Tag("<page>")] | Annotated[WebSearchSource, Tag("<websearch>")],
    Discriminator(_kind_tag, custom_error_type="source_kind",
                  custom_error_message=f"`kind` must be one of {', '.join(KINDS)}"),
]
_SOURCE: TypeAdapter[PageSource | WebSearchSource] = TypeAdapter(AnySource)
