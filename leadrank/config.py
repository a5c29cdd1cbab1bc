"""The sources file: what to fetch, how politely, and how to score.

One YAML file declares everything a night needs (Meltano-style: a new source of a known shape
is configuration, not code). Strings may use `${ENV_VAR}` or `${ENV_VAR:-default}` so that
secrets and machine-specific paths stay out of the file. Relative paths are resolved against
the file's own directory, so a config works from any working directory.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from leadrank.config_schema import Strict, format_errors, redact, suggestion
from leadrank.config_sources import AnySource, SourceConfig

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """The sources file is missing, unreadable or invalid; the message says where."""


# A sources file is a few hundred keys; YAML aliases can make a few hundred bytes stand for
# billions of nodes (an "alias bomb": each level refers to the one below several times). The
# parsed tree is walked with this budget before anything copies it, so a bomb costs a bounded
# walk and fails with a clear error instead of the machine's memory.
MAX_CONFIG_NODES = 200_000


class FetchSettings(Strict):
    """Politeness and safety limits of the fetch layer; per-source `fetch:` overrides them."""

    user_agent: str = "leadrank/0.1 (+https://github.com/leadrank/leadrank; contact: {contact})"
    contact: str = "ops@example.com"  # who site owners can write to: in the user agent and the From header
    connect_timeout: float = 5.0
    read_timeout: float = 20.0  # longest silence while reading a response
    total_timeout: float = 120.0  # longest time for one response, however slowly it trickles
    max_retries: int = 3
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    rate_limit: float = 1.0  # requests per second per host; 0 disables the limit
    max_concurrency_per_host: int = 2
    max_body_bytes: int = 10_000_000
    max_redirects: int = 5
    respect_robots: bool = True
    allow_local_files: bool = False
    # Loopback, private, link-local (cloud metadata) and other non-public addresses are refused
    # unless allowed here: true allows every address, a list allows those networks only
    # (IP addresses or CIDR networks, e.g. [127.0.0.1, 10.2.0.0/16]; not host names).
    allow_private_network: bool | list[str] = False
    keep_raw: bool = True
    # Keep responses across nights (data/http-cache) and ask with their ETag / Last-Modified:
    # an unchanged page comes back as 304 Not Modified, without its body.
    http_cache: bool = True

    @field_validator("allow_private_network")
    @classmethod
    def _networks(cls, value: bool | list[str]) -> bool | list[str]:
        for item in value if isinstance(value, list) else []:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"allow_private_network: {item!r} is not an IP address or network "
                                 "(e.g. 127.0.0.1 or 10.2.0.0/16; host names are not accepted)") from None
        return value

    def agent(self) -> str:
        """The User-Agent sent: `{contact}` in it is replaced; a contact it lacks is appended."""
        if "{contact}" in self.user_agent:
            return self.user_agent.replace("{contact}", self.contact)
        if self.contact and self.contact not in self.user_agent:
            return f"{self.user_agent} (contact: {self.contact})"
        return self.user_agent


class TableFileConfig(Strict):
    """A local CSV/XLSX table (financial statements, CRM outcomes)."""

    FIELDS: ClassVar[tuple[str, ...]] = ()  # the keys `columns` may map (our fields)

    name: str
    path: Path
    encoding: str | None = None  # None: detect (UTF-8, UTF-8 with BOM, GB18030)
    sep: str = ","
    columns: dict[str, str] = {}  # our field -> the file's column

    @field_validator("columns")
    @classmethod
    def _our_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for field in value:
            if field not in cls.FIELDS:
                raise ValueError(f"columns: {field!r} is not a field{suggestion(field, cls.FIELDS)}; "
                                 f"fields: {', '.join(cls.FIELDS)}")
        return value


FINANCIAL_FIELDS = ("uscc", "stock_code", "company_name", "industry", "year", "total_assets", "current_assets",
                    "revenue", "cost_of_sales", "net_profit", "accounts_receivable", "inventory", "revenue_prev",
                    "collection_days", "inventory_days", "net_margin_percent")  # scoring.financials' columns


class FinancialsConfig(TableFileConfig):
    """A statements file (or, for the transposed layout, a folder of them).

    flat: one row per company (and year), `columns` maps our fields to the file's columns.
    transposed: the layout Chinese finance portals export (rows are line items such as
    营业收入(万元), columns are report dates); `columns` maps our fields to line-item labels
    (defaults: leadrank.scoring.financials.PORTAL_LINE_ITEMS), the company key comes from the
    file name through `file_key` (e.g. zcfzb600340.csv → stock code 600340)."""

    FIELDS: ClassVar[tuple[str, ...]] = FINANCIAL_FIELDS

    layout: Literal["flat", "transposed"] = "flat"
    units: str = "元"  # 元 | 千元 | 万元 | 百万元 | 亿元, or per-field in `field_units`; a unit in a line-item label wins
    field_units: dict[str, str] = {}
    year: int | None = None  # report year for files without a year column (e.g. a 2015 Q4 export)
    key: Literal["stock_code", "uscc", "company_name"] = "stock_code"  # transposed: what `file_key` yields
    file_key: str = r"(\d{6})"  # transposed: regex whose first group is the company key in a file name
    pattern: str = "*.csv"  # transposed: which files of a folder to read
    names: dict[str, str] = {}  # transposed: company key -> name (portal files carry no name)
    industries: dict[str, str] = {}  # transposed: company key -> industry

    @field_validator("field_units")
    @classmethod
    def _unit_fields(cls, value: dict[str, str]) -> dict[str, str]:
        return cls._our_fields(value)


class OutcomesConfig(TableFileConfig):
    FIELDS: ClassVar[tuple[str, ...]] = ("lead_id", "company_name", "uscc", "outcome", "outcome_date", "owner")


DEFAULT_MATCH_WEIGHTS: dict[str, float] = {
    "uscc_same": 14.0,
    "uscc_conflict": -14.0,
    "domain_same": 6.0,
    "domain_different": -2.0,  # two company websites: companies seldom run two
    "phone_same": 5.0,
    "phone_local_same": 4.0,  # same last seven digits where a number lacks its area code
    "email_same": 6.0,
    "address_same": 6.0,
    "address_different": -3.0,  # two sites (house number and street differ)
    "name_exact": 6.0,
    "name_near": 5.0,
    "name_strong": 4.0,
    "name_weak": 1.0,
    "name_contained": 4.0,  # every word of one name is in the other ('Revere' / 'CPS Revere, Paul')
    "name_different": -3.0,
    "industry_different": -6.0,  # one trade name, two industries (华强电子 / 华强物流)
    "name_pinyin": 5.0,  # an English name is the pinyin of a Chinese one (Huaqiang Electronics / 华强电子)
    "name_ambiguous": -2.0,  # the name or its pinyin is carried by several companies
    "city_same": 1.0,
    "country_same": 2.0,  # at most: agreement counts log2(1/share of the country) up to this
    "country_different": -3.0,
    "city_different": -3.0,
    "branch_mismatch": -12.0,  # a branch (分公司) is a different buyer from its head office
    "legal_form_different": -3.0,  # legal forms of no common country (s.r.o. / Pty Ltd), as country_different
}


class ResolutionConfig(Strict):
    """Entity-resolution settings: evidence weights (log-odds points) and the threshold their sum
    must reach for two records to be one company. See leadrank.transform.matching."""

    model_config = ConfigDict(extra="forbid")

    # Chosen leave-one-set-out (docs/entity_resolution.md): four of the five evaluation sets, held
    # out, get 5.0 from the other four (grid 4-7); the points themselves are the hand-set priors.
    match_threshold: float = 5.0
    # Learned weights (leadrank.transform.fellegi_sunter): m by EM, u from random pairs, the
    # hand-set weights below as the prior; a pair joins when its weights sum to match_threshold.
    learned: bool = False  # measured below the hand-set weights: docs/entity_resolution.md
    random_pairs: int = 200_000
    random_seed: int = 0
    prior_pairs: float = 50.0  # pseudo-pairs holding each m towards its hand-set prior
    # A single edge scoring below match_threshold + this between two groups of strong edges is
    # cut (clustering._without_weak_bridges); None: no cut.
    bridge_margin: float | None = 6.0  # chosen leave-one-set-out (grid 0-20; the sets barely move)
    cannot_link: float = -4.0  # pairs scoring at most this are never put in one cluster
    max_block_size: int = 100  # larger blocks are sub-blocked (each record with its `block_window` name neighbours)
    block_window: int = 4
    max_token_block: int = 30  # a name word shared by more records than this is too common to block on
    name_near: float = 95.0  # rapidfuzz similarity (0-100) of one name written two ways ('Systems' / 'System')
    name_strong: float = 90.0  # ... counted as the same name
    name_weak: float = 75.0  # ... as a plausible variant
    name_different: float = 55.0  # ... below this, names disagree
    shared_key_names: int = 3  # a phone/domain used by more distinct names than this is a shared one
    # Every key above is checked (Strict: a typo is an error with a suggestion), so a new setting
    # is a new field. `weights` given in the file are merged over DEFAULT_MATCH_WEIGHTS by name.
    weights: dict[str, float] = DEFAULT_MATCH_WEIGHTS

    @field_validator("weights")
    @classmethod
    def _known_weights(cls, value: dict[str, float]) -> dict[str, float]:
        for name in value:
            if name not in DEFAULT_MATCH_WEIGHTS:
                raise ValueError(f"weights: unknown evidence {name!r}{suggestion(name, DEFAULT_MATCH_WEIGHTS)}; "
                                 f"known: {', '.join(DEFAULT_MATCH_WEIGHTS)}")
        return {**DEFAULT_MATCH_WEIGHTS, **value}


class SegmentRule(Strict):
    """A customer-type rule: the first whose `pattern` (over name, industry and products) and
    `source` (over the lead's source names) both match gives the segment."""

    segment: str
    pattern: str | None = None
    source: str | None = None

    @model_validator(mode="after")
    def _valid(self) -> SegmentRule:
        if self.pattern is None and self.source is None:
            raise ValueError("a segment rule needs `pattern` or `source`")
        for regex in (self.pattern, self.source):
            _compiles(regex)
        return self


class ProductLineRule(Strict):
    product_line: str
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _valid(cls, value: str) -> str:
        return _compiles(value) or value


def _compiles(regex: str | None) -> str | None:
    try:
        re.compile(regex or "")
    except re.error as exc:
        raise ValueError(f"{regex!r} is not a valid regular expression: {exc}") from None
    return regex


DEFAULT_RATIO_WEIGHTS = {"current_asset_ratio": 1.0, "net_margin": 1.0, "roa": 1.0, "collection_days": 1.0,
                         "inventory_days": 0.5}  # the ratios of the fit score (scoring.ratios.RATIOS)
RATIO_NAMES = ("current_asset_ratio", "net_margin", "roa", "collection_days", "inventory_days", "revenue_growth")
SEGMENTS = ("government", "bank_finance", "telecom", "listed", "multinational", "large_enterprise", "retail_chain",
            "wholesaler", "sme")
TIERS = ("A", "B", "C")


def _keys_in(value: dict[str, Any], known: tuple[str, ...] | list[str], what: str) -> dict[str, Any]:
    for name in value:
        if name not in known:
            raise ValueError(f"unknown {what} {name!r}{suggestion(name, known)}; known: {', '.join(known)}")
    return value


class ScoringConfig(Strict):
    fit_weight: float = 0.5
    model_weight: float = 0.5
    min_outcomes_per_class: int = 8
    tiers: dict[str, float] = {"A": 0.10, "B": 0.30, "C": 0.60}  # cumulative share of ranked leads
    ratio_weights: dict[str, float] = DEFAULT_RATIO_WEIGHTS  # merged over these; 0 leaves a ratio out
    fit_ratio_share: float = Field(default=0.6, ge=0, le=1)  # the fit score is this much ratios, the rest segment
    segment_rules: list[SegmentRule] = []  # empty: leadrank.scoring.segments.DEFAULT_RULES
    product_line_rules: list[ProductLineRule] = []  # empty: DEFAULT_PRODUCT_LINES
    segment_weights: dict[str, float] = {}  # merged over DEFAULT_WEIGHTS
    key_account_threshold: float = 50_000.0  # yuan of office purchases a month
    model_features: list[str] = []  # extra CRM columns of the outcomes file used as features
    ratio_higher_is_better: dict[str, bool] = {}  # direction per ratio, merged over ratios.HIGHER_IS_BETTER
    collection_days_limit: float = 180.0  # risk flag beyond this many days to collect receivables
    liquidity_low: float = 0.10  # risk flag: current assets below this share of total assets
    liquidity_high: float = 0.98  # risk flag: almost everything current (shell or cash box)
    precision_top_share: float = 0.10  # "precision at top k" is measured on this share of leads
    # the nightly reuses a weekly retrain this young, and its own model while its outcomes are unchanged; 0 = never
    model_max_age_days: float = 8.0

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, value: dict[str, float]) -> dict[str, float]:
        for letter, share in _keys_in(value, TIERS, "tier (D is the rest)").items():
            if not 0 < share <= 1:
                raise ValueError(f"tiers: {letter} is a cumulative share of the ranked list, in (0, 1]")
        return value

    @field_validator("ratio_weights")
    @classmethod
    def _weighted_ratios(cls, value: dict[str, float]) -> dict[str, float]:
        return {**DEFAULT_RATIO_WEIGHTS, **_keys_in(value, list(DEFAULT_RATIO_WEIGHTS), "ratio in ratio_weights")}

    @field_validator("ratio_higher_is_better")
    @classmethod
    def _ratios(cls, value: dict[str, bool]) -> dict[str, bool]:
        return _keys_in(value, RATIO_NAMES, "ratio")

    @model_validator(mode="after")
    def _segment_weights(self) -> ScoringConfig:
        _keys_in(self.segment_weights, list(SEGMENTS) + [r.segment for r in self.segment_rules if r.segment not in SEGMENTS],
                 "segment in segment_weights")
        return self


class Config(Strict):
    path: Path | None = None
    fetch: FetchSettings = FetchSettings()
    sources: list[AnySource] = []
    financials: list[FinancialsConfig] = []
    outcomes: list[OutcomesConfig] = []
    resolution: ResolutionConfig = ResolutionConfig()
    scoring: ScoringConfig = ScoringConfig()
    lead_expiry_nights: int = Field(default=3, ge=1, description=(
        "a lead no source has listed for this many nights (runs) drops out of the ranked list"))

    def source(self, name: str) -> SourceConfig:
        for src in self.sources:
            if src.name == name:
                return src
        known = ", ".join(s.name for s in self.sources) or "none"
        raise ConfigError(f"no source named {name!r} in {self.path} (known: {known})")

    def fingerprint(self) -> str:
        """Short hash of the effective configuration, stored with each run."""
        blob = json.dumps(self.model_dump(mode="json", exclude={"path"}), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class _Expansion:
    """One expansion of `${VAR}` over a parsed tree: remembers the values it put in (so errors
    can be redacted) and stops at MAX_CONFIG_NODES nodes (so aliases cannot blow it up)."""

    def __init__(self, builtins: dict[str, str], limit: int = MAX_CONFIG_NODES) -> None:
        self.builtins = builtins
        self.expanded: dict[str, str] = {}
        self.nodes = 0
        self.limit = limit

    def __call__(self, value: Any, where: str) -> Any:
        self.nodes += 1
        if self.nodes > self.limit:
            raise ConfigError(f"{where}: the config expands to more than {self.limit} values "
                              "(YAML aliases repeated at several levels?); refusing to expand it")
        if isinstance(value, str):
            return _ENV.sub(lambda match: self._value(match, where), value)
        if isinstance(value, list):
            return [self(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
        return value

    def _value(self, match: re.Match[str], where: str) -> str:
        var, default = match.group(1), match.group(2)
        if var in self.builtins:
            return self.builtins[var]
        if var in os.environ:
            self.expanded[var] = os.environ[var]
            return os.environ[var]
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {var} is not set")


def expand_env(value: Any, *, where: str = "", builtins: dict[str, str] | None = None) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string of a parsed YAML tree.

    `builtins` (such as CONFIG_DIR, the directory of the sources file) take precedence over
    the environment. A tree of more than MAX_CONFIG_NODES values is refused.
    """
    return _Expansion(builtins or {})(value, where)


def _resolve_paths(cfg: Config, base: Path) -> None:
    for table in [*cfg.financials, *cfg.outcomes]:
        if not table.path.is_absolute():
            table.path = (base / table.path).resolve()


def _builtins(path: Path) -> dict[str, str]:
    """${CONFIG_DIR} is the sources file's directory, ${CONFIG_URL} the same as a file:// URL."""
    base = path.resolve().parent
    return {"CONFIG_DIR": str(base), "CONFIG_URL": base.as_uri()}


def _source_names(raw: dict[str, Any]) -> dict[int, str]:
    sources = raw.get("sources")
    if not isinstance(sources, list):
        return {}
    return {i: str(s["name"]) for i, s in enumerate(sources) if isinstance(s, dict) and isinstance(s.get("name"), str)}


def _validate(raw: dict[str, Any], path: Path) -> tuple[Config, list[str]]:
    """The config and the errors of every source's `fetch:` overrides (checked merged over the
    top-level fetch settings, as the extractor will use them)."""
    try:
        cfg = Config.model_validate({**raw, "path": path.resolve()})
    except ValidationError as exc:
        return Config(), format_errors(exc, source_names=_source_names(raw))
    problems: list[str] = []
    for index, source in enumerate(cfg.sources):
        if source.fetch:
            try:
                FetchSettings.model_validate({**cfg.fetch.model_dump(exclude_unset=True), **source.fetch})
            except ValidationError as exc:
                problems += format_errors(exc, prefix=("sources", index, "fetch"), source_names={index: source.name})
    return cfg, problems


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, expand and validate a sources file. Raises ConfigError naming the file and, for
    each problem, the path of the key (`sources[2] (expo).pagination: …`), never a value."""
    return config_from_tree(read_config_tree(Path(path)), Path(path))


def read_config_tree(path: Path) -> dict[str, Any]:
    """The sources file parsed, as written (`${VAR}` not yet expanded)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return raw


def config_from_tree(raw: dict[str, Any], path: Path) -> Config:
    """Expand and validate a parsed sources file; `path` is where it was written (for
    ${CONFIG_DIR}, relative paths and messages)."""
    expansion = _Expansion(_builtins(path))
    raw = expansion(raw, str(path))
    cfg, problems = _validate(raw, path)
    if problems:
        raise ConfigError(redact(f"invalid config {path}:\n" + "\n".join(f"  {p}" for p in problems),
                                 expansion.expanded))
    names = [s.name for s in cfg.sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: duplicate source names: {', '.join(dupes)}")
    _resolve_paths(cfg, path.resolve().parent)
    return cfg


# -- secrets ------------------------------------------------------------------------------------
# A setting that holds a secret (a search API key) may be a string (usually `${ENV_VAR}`),
# `{env: VAR}`, or `{secret: NAME}`: a name looked up, when the source runs, in the secret stores
# registered here. Stage code never imports Prefect, so `leadrank.flows` registers Prefect Secret
# blocks as a store; tests register their own. Secrets are resolved at the point of use and never
# kept in the loaded config, so they cannot reach fingerprints, logs or the warehouse.

SecretResolver = Callable[[str], "str | None"]
_SECRET_STORES: dict[str, SecretResolver] = {}


def register_secret_resolver(name: str, resolver: SecretResolver) -> None:
    """Add (or replace) a secret store; stores are asked in registration order."""
    _SECRET_STORES[name] = resolver


def unregister_secret_resolver(name: str) -> None:
    _SECRET_STORES.pop(name, None)


def resolve_secret(value: Any, *, what: str) -> str | None:
    """The secret a setting names, or None when the setting is empty. Raises ConfigError saying
    which setting and which store, never the secret."""
    if value is None or value == "":
        return None
    if isinstance(value, SecretStr):
        return value.get_secret_value() or None
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"env"}:
        found = os.environ.get(str(value["env"]))
        if not found:
            raise ConfigError(f"{what}: environment variable {value['env']} is not set")
        return found
    if isinstance(value, dict) and set(value) == {"secret"}:
        name = str(value["secret"])
        if not _SECRET_STORES:
            raise ConfigError(f"{what}: secret {name!r} needs a secret store and none is registered "
                              "(leadrank's command line and flows register Prefect Secret blocks)")
        for store, resolver in list(_SECRET_STORES.items()):
            try:
                found = resolver(name)
            except Exception as exc:  # noqa: BLE001 - a store's failure is reported, not raised through
                raise ConfigError(f"{what}: secret store {store!r} failed to read {name!r} ({type(exc).__name__})") from None
            if found:
                return found
        raise ConfigError(f"{what}: secret {name!r} not found in the secret stores ({', '.join(_SECRET_STORES)})")
    raise ConfigError(f"{what}: expected a string such as ${{ENV_VAR}}, {{env: VAR}} or {{secret: NAME}}")
