"""Run one configured source into a frame of records with provenance (contract EXTRACTED).

This is where isolation lives: whatever goes wrong inside a source (HTTP errors, parse errors,
zero rows where rows were expected, a required field that a layout change emptied) ends as a
SourceReport with a status and a reason, never as an exception that stops other sources.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from leadrank.config import ConfigError, FetchSettings, SourceConfig
from leadrank.contracts import EXTRACTED, PROSPECT_FIELDS, REJECT_COLUMNS
from leadrank.extractors import enrich, websearch
from leadrank.extractors.fetch.fetcher import Fetcher
from leadrank.extractors.fetch.result import FetchError
from leadrank.extractors.fetch.robots import RobotsStore
from leadrank.extractors.fetch.urls import redact_url
from leadrank.extractors.fields import clean_text, safe_text, split_country_line
from leadrank.extractors.pages import fetch_detail, iter_pages
from leadrank.extractors.parsers import ParseError, Unreadable
from leadrank.paths import http_cache_dir

log = logging.getLogger(__name__)

DEFAULT_FORMAT = {"exhibition": "html", "association": "table"}
# A required field empty in more than this share of rows means the layout changed: the
# source fails rather than loading a night of nameless rows.
LAYOUT_CHANGE_SHARE = 0.5
_KEY_SPACE = re.compile(r"\s+")


@dataclass
class SourceReport:
    source: str
    kind: str
    status: str = "ok"  # ok | partial | failed | disabled
    pages: int = 0
    records: int = 0
    rejected: int = 0
    reason: str | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    revalidated: int = 0  # responses the site answered 304 Not Modified to (the body from the HTTP cache)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Collected:
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)


def record_key(source: str, fields: dict[str, Any], key_field: str | None) -> str:
    """Identity of a source record across nights: the source's own id when it declares one
    (`key_field`), else its name, address, website and phone as found (case and spacing folded)."""
    if key_field and fields.get(key_field):
        basis = str(fields[key_field])
    else:
        basis = "|".join(
            _KEY_SPACE.sub(" ", str(fields.get(f) or "")).strip().lower()
            for f in ("company_name", "address", "website", "phone")
        )
    return hashlib.sha1(f"{source}\x1f{basis}".encode()).hexdigest()[:20]


_RUN_ROBOTS: OrderedDict[str, RobotsStore] = OrderedDict()
_RUN_ROBOTS_LOCK = threading.Lock()
_RUNS_KEPT = 4


def robots_store(run_id: str) -> RobotsStore:
    """The robots.txt files read by run `run_id`'s sources so far: its sources run in one process
    (Prefect tasks are threads), so a host's robots.txt is read once a run. Keyed by run, so a
    long-lived process (a worker, the tests) never judges tonight's crawl by another run's rules."""
    with _RUN_ROBOTS_LOCK:
        store = _RUN_ROBOTS.pop(run_id, None) or RobotsStore()
        _RUN_ROBOTS[run_id] = store
        while len(_RUN_ROBOTS) > _RUNS_KEPT:
            _RUN_ROBOTS.popitem(last=False)
        return store


def _fetch_settings(defaults: FetchSettings, source: SourceConfig) -> FetchSettings:
    """The defaults with the source's `fetch:` overrides, validated (a typo is an error)."""
    if not source.fetch:
        return defaults
    return FetchSettings.model_validate({**defaults.model_dump(), **source.fetch})


def extract_source(
    source: SourceConfig,
    defaults: FetchSettings,
    *,
    run_id: str,
    raw_dir: Path | None = None,
    replay: bool = False,
    on_page: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, SourceReport]:
    """Records, rejected rows and a report for one source. Never raises for source faults."""
    report = SourceReport(source.name, source.kind)
    started = time.perf_counter()
    collected = _Collected()
    if not source.enabled:
        report.status = "disabled"
        return _frames(collected, run_id) + (report,)
    try:
        settings = _fetch_settings(defaults, source)
    except Exception as exc:  # a bad `fetch:` override
        report.status, report.reason = "failed", f"invalid fetch settings: {exc}"
        return _frames(collected, run_id) + (report,)
    cache_dir = http_cache_dir() if settings.http_cache and not replay else None
    fetcher = Fetcher(settings, raw_dir=raw_dir / source.name if raw_dir else None, replay=replay,
                      cache_dir=cache_dir, robots_store=robots_store(run_id))
    try:
        if source.kind == "websearch":
            _collect_search(source, fetcher, run_id, collected, report, on_page)
        else:
            _collect_pages(source, fetcher, run_id, collected, report, on_page)
    except (FetchError, ParseError, ConfigError) as exc:
        report.status = "partial" if collected.rows else "failed"
        report.reason = str(exc)
    except Exception as exc:  # noqa: BLE001 - a bug in one source must not stop the night
        log.exception("source %s crashed", source.name)
        report.status = "partial" if collected.rows else "failed"
        report.reason = f"unexpected {type(exc).__name__}: {exc}"
    report.revalidated = fetcher.revalidated
    _validate(source, collected, report, run_id)
    # Reasons quote pages (a table header, a title): they are stored and shown, so made safe too.
    report.reason = safe_text(report.reason) if report.reason else report.reason
    report.warnings = [safe_text(w) for w in report.warnings]
    report.records = len(collected.rows)
    report.rejected = len(collected.rejects)
    report.seconds = round(time.perf_counter() - started, 3)
    return _frames(collected, run_id) + (report,)


def _frames(collected: _Collected, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    records = pd.DataFrame(collected.rows, columns=EXTRACTED, dtype=object)
    rejects = pd.DataFrame(collected.rejects, columns=REJECT_COLUMNS, dtype=object)
    return records, rejects


def _append(
    collected: _Collected,
    source: SourceConfig,
    run_id: str,
    url: str,
    fetched_at: datetime,
    fields: dict[str, Any],
    raw: dict[str, Any],
    seen_keys: dict[str, int],
) -> None:
    fixed = source.options().get("set") or {}  # constant fields, e.g. {country: CN}
    # Every value passes clean_text here, whatever produced it (a parser, enrichment, `set:`):
    # this is where a record enters the pipeline, so nothing unstorable gets further.
    row: dict[str, Any] = {f: clean_text(fields.get(f)) or clean_text(fixed.get(f)) for f in PROSPECT_FIELDS}
    # The key sees the address as found (its lines folded): a country line taken off below does
    # not change the identity a record had before countries were read from addresses.
    row["address"], row["country"] = split_country_line(row["address"], row["country"])
    key = record_key(source.name, row | {k: clean_text(v) for k, v in fields.items()}, source.options().get("key_field"))
    seen_keys[key] = seen_keys.get(key, 0) + 1
    if seen_keys[key] > 1:  # the same row twice on one night: keep both, distinctly
        key = f"{key}#{seen_keys[key]}"
    row.update(
        run_id=run_id,
        source=source.name,
        source_kind=source.kind,
        url=redact_url(url),
        fetched_at=fetched_at.astimezone(UTC).isoformat(timespec="seconds"),
        record_key=key,
        raw=safe_text(json.dumps(raw, ensure_ascii=False, default=str)),
    )
    collected.rows.append(row)


def _reject(collected: _Collected, source: SourceConfig, run_id: str, row_ref: str, reason: str,
            raw: dict[str, Any]) -> None:
    try:
        text = json.dumps(raw, ensure_ascii=False, default=repr)
    except (ValueError, RecursionError):  # the value that made the row unreadable: the raw store has it
        text = json.dumps({"unreadable": reason}, ensure_ascii=False)
    collected.rejects.append({"run_id": run_id, "source": source.name, "stage": "extract", "row_ref": row_ref,
                              "reason": reason, "raw": safe_text(text)})


def _keep(collected: _Collected, source: SourceConfig, run_id: str, row_ref: str, url: str, fetched_at: datetime,
          fields: dict[str, Any], raw: dict[str, Any], seen_keys: dict[str, int]) -> None:
    """Append a row, or reject it with the reason when a value in it cannot be stored as text (an
    integer of more digits than Python converts, a list nested deeper than the stack allows):
    one such record must not end its source, and every row a source yields is accounted for."""
    if not isinstance(fields, Unreadable):  # else the parser could not map it
        try:
            _append(collected, source, run_id, url, fetched_at, fields, raw, seen_keys)
            return
        except (ValueError, RecursionError) as exc:
            fields = Unreadable(exc)
    _reject(collected, source, run_id, row_ref, f"record cannot be read: {fields.reason}"[:300], raw)


def _collect_pages(source, fetcher, run_id, collected, report, on_page) -> None:
    opts = source.options()
    fmt = opts.get("format") or DEFAULT_FORMAT[source.kind]
    detail = opts.get("detail")
    seen: dict[str, int] = {}
    for page in iter_pages(fetcher, opts, fmt, warn=report.warnings.append):
        report.pages += 1
        for number, (fields, raw) in enumerate(page.rows, 1):
            url = page.result.url
            if detail and not isinstance(fields, Unreadable):
                # raw keeps what each page said: {"list": …, "detail": {url, values} | None}
                try:
                    fields, detail_url, found = fetch_detail(fetcher, page.result.url, fields, detail,
                                                             warn=report.warnings.append)
                    url = detail_url or url
                except FetchError as exc:
                    report.warnings.append(f"detail page failed: {exc}")
                    found = {"error": str(exc)}
                raw = {"list": raw, "detail": found}
            _keep(collected, source, run_id, f"{redact_url(page.result.url)} #{number}", url, page.result.fetched_at,
                  fields, raw, seen)
        if on_page:
            on_page(report.pages, len(collected.rows))


def _collect_search(source, fetcher, run_id, collected, report, on_page) -> None:
    """Candidates from search results; with `enrich:` each candidate's homepage (and contact
    page) completes it, the pages read and what they gave kept in raw["enrichment"]."""
    opts = source.options()
    engine = opts.get("engine", "searxng")
    exclude = set(opts.get("exclude_domains") or [])
    enrichment = opts.get("enrich") or False
    enrich_opts = enrichment if isinstance(enrichment, dict) else {}
    max_sites = int(enrich_opts.get("max_sites", 100))
    seen: dict[str, int] = {}
    seen_sites: set[str] = set()
    limit = int(opts.get("max_results", 20))
    for result, query, items in websearch.search(fetcher, opts):
        report.pages += 1
        if len(items) > limit:
            report.warnings.append(f"query {query!r}: {len(items) - limit} results beyond max_results={limit} not read")
            items = items[:limit]
        for rank, item in enumerate(items, 1):
            raw: dict[str, Any] = {"query": query, "rank": rank,
                                   **{k: v for k, v in item.items() if isinstance(v, (str, int, float))}}
            try:
                fields, unusable = websearch.result_to_fields(item, engine, exclude)
            except (ValueError, RecursionError) as exc:  # a value that is no text (see parsers.Unreadable)
                fields, unusable = None, f"cannot be read: {Unreadable(exc).reason}"
            if fields is not None and fields["website"] in seen_sites:
                fields, unusable = None, f"same website as an earlier result ({fields['website']})"
            row_ref = f"{redact_url(result.url)} query {query!r} #{rank}"
            if fields is None:  # every result is accounted for: kept, or rejected with the reason
                _reject(collected, source, run_id, row_ref, f"search result not used: {unusable}", raw)
                continue
            seen_sites.add(fields["website"])
            if enrichment and len(seen_sites) == max_sites + 1:
                report.warnings.append(f"enrichment stopped at max_sites={max_sites}; later candidates are not enriched")
            if enrichment and len(seen_sites) <= max_sites:
                facts = enrich.enrich_site(fetcher, fields["website"], contact_page=enrich_opts.get("contact_page", True))
                fields = enrich.enriched_fields(fields, facts)
                raw["enrichment"] = facts.as_raw()
                report.pages += len(facts.pages)
                if facts.errors:
                    report.warnings.append(f"enrichment of {fields['website']}: {facts.errors[0]}")
            _keep(collected, source, run_id, row_ref, result.url, result.fetched_at, fields, raw, seen)
        if on_page:
            on_page(report.pages, len(collected.rows))


def _validate(source: SourceConfig, collected: _Collected, report: SourceReport, run_id: str) -> None:
    """Quarantine rows missing required fields; fail the source on zero rows or a layout change."""
    if not collected.rows:
        if report.status == "ok" and source.expect_rows:
            report.status, report.reason = "failed", "no rows where rows were expected"
        return
    kept: list[dict[str, Any]] = []
    for index, row in enumerate(collected.rows):
        missing = [f for f in source.required_fields if not row.get(f)]
        if missing:
            collected.rejects.append(
                {
                    "run_id": run_id,
                    "source": source.name,
                    "stage": "extract",
                    "row_ref": f"{row['url']} #{index + 1}",
                    "reason": f"required field empty: {', '.join(missing)}",
                    "raw": row["raw"],
                }
            )
        else:
            kept.append(row)
    share = 1 - len(kept) / len(collected.rows)
    if share > LAYOUT_CHANGE_SHARE:
        report.status = "failed"
        report.reason = (
            f"required field(s) {', '.join(source.required_fields)} empty in {len(collected.rows) - len(kept)}"
            f" of {len(collected.rows)} rows: has the page layout changed?"
        )
        collected.rejects.extend(
            {"run_id": run_id, "source": source.name, "stage": "extract", "row_ref": r["url"],
             "reason": "source failed: layout change", "raw": r["raw"]}
            for r in kept
        )
        kept = []
    collected.rows = kept
