"""The nightly run as steps that hand each other references, not data.

Each step reads its inputs from the run directory (data/runs/<run_id>/) or the warehouse and
writes its outputs there, returning only small dicts of counts. That is what lets the Prefect
flow stay thin (tasks pass run ids and paths), lets a crashed run resume from the last finished
step, and lets every step be tested without Prefect. No Prefect import here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from leadrank import base_state
from leadrank.config import Config, load_config
from leadrank.config_files import require_files
from leadrank.contracts import (
    EXTRACTED,
    LEADS,
    NORMALISE_CACHE,
    NORMALISE_CACHE_FILE,
    OUTCOME_COLUMNS,
    REJECT_COLUMNS,
    RESOLVED_FILE,
    ContractError,
)
from leadrank.key_lookup import looked_up, positions
from leadrank.memory import release_memory
from leadrank.paths import PACKAGE_DIR, data_dir
from leadrank.run_files import (
    RunFiles,
    UnreadableFile,
    freeze_config,
    has_run_files,
    is_run_id,
    read_json,
    run_config,
    write_frame,
    write_json,
)
from leadrank.scoring import incremental
from leadrank.scoring.financials import load_financials
from leadrank.scoring.lead_index import LeadIndex
from leadrank.scoring.outcomes import load_outcomes, match_outcomes
from leadrank.transform.golden import GOLDEN_READS, golden_inputs, golden_parts, golden_update
from leadrank.transform.unusable import split_unusable
from leadrank.warehouse import load, models, read
from leadrank.warehouse.bulk import BATCH_ROWS
from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.migrate import upgrade
from leadrank.worker_processes import in_workers

log = logging.getLogger(__name__)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


class ResumeError(ValueError):
    """A run cannot be resumed; the message says why."""


def begin(config_path: str, run_id: str, warehouse: str | None, flow_run_id: str | None = None,
          *, resume: bool = False) -> dict[str, Any]:
    """Register the run as running and freeze its config (leadrank.run_files): the later steps
    read that, never the sources file. With `resume`, the run is an earlier one that did not
    publish, and keeps the config it began with: `reused` lists the sources whose extraction it
    already finished (see `finished_extract`)."""
    if resume:
        _check_run_files(run_id)
    cfg = run_config(run_id) if resume and RunFiles(run_id).config.exists() else freeze_config(config_path, run_id)
    # A mistyped financials/outcomes path would otherwise score without them; a missing source
    # file fails that source alone, as a site that is down does.
    require_files(cfg, sources=False)
    engine = make_engine(warehouse)
    upgrade(engine)
    reused: dict[str, dict[str, Any]] = {}
    if resume:
        _check_resumable(engine, run_id)
        for source in cfg.sources:
            if source.enabled and (report := finished_extract(cfg, run_id, source.name)) is not None:
                reused[source.name] = report
    load.start_run(engine, run_id, config_hash=cfg.fingerprint(), flow_run_id=flow_run_id)
    return {"run_id": run_id, "sources": [s.name for s in cfg.sources if s.enabled], "reused": reused}


def _check_run_files(run_id: str) -> None:
    if not is_run_id(run_id):
        raise ResumeError(f"{run_id!r} is not a run id")
    if not has_run_files(run_id):
        raise ResumeError(f"run {run_id} has no working files under {data_dir() / 'runs'}: nothing to resume")


def _check_resumable(engine: Any, run_id: str) -> None:
    status = read.run_status(engine, run_id)
    if status is None:
        raise ResumeError(f"run {run_id} is not in this warehouse: resume it against the warehouse it started with")
    if status == "published":
        raise ResumeError(f"run {run_id} is already published: start a new run instead")


def source_hash(cfg: Config, source_name: str) -> str:
    """Fingerprint of what a source's extraction depends on (its settings and the fetch defaults):
    a resumed run reuses an extraction only while this is unchanged."""
    blob = json.dumps({"source": cfg.source(source_name).model_dump(mode="json"),
                       "fetch": cfg.fetch.model_dump(mode="json")}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def finished_extract(cfg: Config, run_id: str, source_name: str) -> dict[str, Any] | None:
    """The saved report of a source this run already extracted (not failed, same settings), else None.

    The report is written last and every file atomically, so its presence means the source's
    records, rejects and raw responses are all on disk."""
    path = RunFiles(run_id).report(source_name)
    if not path.exists():
        return None
    report = read_json(path)
    if report.get("status") == "failed" or report.get("source_hash") != source_hash(cfg, source_name):
        return None
    return {**report, "reused": True}


def _save_extract(cfg: Config, run_id: str, source_name: str, records: pd.DataFrame, rejects: pd.DataFrame,
                  report: dict[str, Any]) -> dict[str, Any]:
    files = RunFiles(run_id)
    files.write_extract(source_name, records, rejects)
    write_json({**report, "source_hash": source_hash(cfg, source_name)}, files.report(source_name))
    return report


def extract_step(run_id: str, source_name: str, *, replay: bool = False) -> dict[str, Any]:
    """Run one source into the run directory; returns its report (never raises for source faults).
    The extractors (parsers, the fetcher: 0.7 CPU seconds to import) are imported here, not with
    the module, so that the steps after extraction, each in its own process, do not pay for them."""
    from leadrank.extractors.fetch.cancel import current_cancellation
    from leadrank.extractors.runner import extract_source

    cfg = run_config(run_id)
    records, rejects, report = extract_source(
        cfg.source(source_name), cfg.fetch, run_id=run_id, raw_dir=RunFiles(run_id).raw, replay=replay
    )
    cancellation = current_cancellation()
    if cancellation is not None and cancellation.cancelled:
        # Abandoned (its task timed out): the flow has recorded the source as failed, and saving
        # now would race that record for the same files. Nothing waits for this report.
        log.warning("source %s: abandoned after its timeout, its late results are not saved", source_name)
        return report.as_dict()
    if report.status in {"failed", "partial"}:
        log.warning("source %s %s: %s", source_name, report.status, report.reason)
    return _save_extract(cfg, run_id, source_name, records, rejects, report.as_dict())


def source_failed(run_id: str, source_name: str, reason: str) -> dict[str, Any]:
    """Record a source whose extraction itself crashed or timed out, as a failed source."""
    cfg = run_config(run_id)
    report = {"source": source_name, "kind": cfg.source(source_name).kind, "status": "failed", "pages": 0,
              "records": 0, "rejected": 0, "reason": reason, "seconds": 0.0, "warnings": []}
    return _save_extract(cfg, run_id, source_name, pd.DataFrame(columns=EXTRACTED, dtype=object),
                         pd.DataFrame(columns=REJECT_COLUMNS, dtype=object), report)


# Staging runs beside normalise → dedupe → score (leadrank.night: `joins_at`), in the flow's
# process. Its SQLite writes bind every value as a Python object, holding the interpreter lock
# that those steps' own Python needs: at 1.4M records a second night's dedupe step took 44 s
# beside staging in a thread, 36-37 s beside staging in a process (bench/README.md). From this
# many records it runs in a worker process of its own, on the other core.
STAGE_APART_FROM_ROWS = 100_000


def stage_step(run_id: str, sources: list[str], warehouse: str | None) -> dict[str, int]:
    """Stage tonight's extracted records and rejects in the warehouse (stg_*), in a worker
    process from STAGE_APART_FROM_ROWS records on; in this process when the worker cannot start
    or dies (a machine that forbids them, a worker killed for memory): slower, never lost. An
    error of the staging itself is raised here either way."""
    if RunFiles(run_id).extracted_rows(sources) >= STAGE_APART_FROM_ROWS:
        # (the worker reads the run directory and the warehouse itself)
        done = in_workers(_stage_here, [(run_id, sources, warehouse)], 1, "staging")
        if done is not None:
            return done[0]
    return stage_here(run_id, sources, warehouse)


def _stage_here(arguments: tuple[str, list[str], str | None]) -> dict[str, int]:
    return stage_here(*arguments)


def stage_here(run_id: str, sources: list[str], warehouse: str | None) -> dict[str, int]:
    """`stage_step`'s work, in the calling process (a replay replaces the run's earlier rows)."""
    files = RunFiles(run_id)
    tonight = [name for name in sources if files.extracted(name).exists()]
    rejects = [files.read_source_rejects(name) for name in tonight]
    bad = pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame(columns=REJECT_COLUMNS)
    staged = load.stage_run(make_engine(warehouse), run_id, files.extracted_batches(sources, BATCH_ROWS), bad,
                            [read_json(files.report(name)) for name in tonight])
    return {"records": staged, "rejected": len(bad)}


def normalise_cache() -> Path:
    """Tonight's normalised values by content hash, for the next night to reuse. The name carries
    a fingerprint of the normalising code and the libraries whose data it uses, so that a new
    release never reuses values an older one computed."""
    parts = [(PACKAGE_DIR / "transform" / name).read_bytes() for name in
             ("normalise.py", "names.py", "legal_forms.py", "regions.py", "contacts.py", "identifiers.py")]
    parts.append((PACKAGE_DIR / "countries.py").read_bytes())  # country names, shared with extraction
    parts.append((PACKAGE_DIR / "transform" / "cn_area_places.json").read_bytes())  # landline area codes' places
    parts += [f"{lib}={metadata.version(lib)}".encode() for lib in
              ("phonenumbers", "tldextract", "cpca", "opencc-python-reimplemented", "pycountry", "cleanco", "ftfy")]
    return data_dir() / "cache" / f"normalised-{hashlib.sha256(b'|'.join(parts)).hexdigest()[:16]}.parquet"


# A night whose new values are few adds them to the cache as a part beside it instead of writing
# the whole cache again (1.4M records' values: ~1.6 s of a second night's normalise step); the
# cache is written whole, of tonight's values only, once its parts would hold more than this
# share of tonight's values (values no record carries any more go then).
CACHE_PART_SHARE = 0.1


def _cache_parts(cache: Path) -> list[Path]:
    return sorted(cache.parent.glob(f"{cache.stem}+*.parquet"))


def _known_normalised() -> tuple[pd.DataFrame | None, int]:
    """The cached values (the cache and its parts) and how many of them the parts hold."""
    path = normalise_cache()
    if not path.exists():
        return None, 0
    try:
        frames = [pd.read_parquet(part) for part in [path, *_cache_parts(path)]]
        # A part's column of no values at all comes back as objects: typed as the cache's, so
        # that the column stays Arrow-backed text (concatenated by its chunks, not copied), not
        # a million Python strings.
        typed = [part.astype({c: t for c, t in frames[0].dtypes.items() if c in part.columns and part[c].dtype != t})
                 for part in frames[1:]]
        known = pd.concat([frames[0], *typed], ignore_index=True) if typed else frames[0]
        return NORMALISE_CACHE_FILE.conform(known, f"reading {path.name}"), sum(len(f) for f in frames[1:])
    except (OSError, ValueError, TypeError) as exc:  # a damaged cache (or a ContractError) costs time, never correctness
        log.warning("ignoring the normalisation cache %s: %s", path, exc)
        return None, 0


def normalise_step(run_id: str, sources: list[str]) -> dict[str, int]:
    """Normalise tonight's records, afresh only where their content is new (normalise_known).
    The records are read as stored (Arrow-backed text): normalising reads each column once per
    distinct value, and the columns it passes on untouched need never be Python objects.
    The normalisers (address parser, public-suffix list: 0.5 CPU seconds to import) are imported
    here, not with the module, so that the later steps' processes do not pay for them."""
    from leadrank.transform.normalise import normalise_known

    known, in_parts = _known_normalised()
    cached = known["content_hash"].to_numpy() if known is not None else None
    # Handed over: the records' columns go as tonight's normalised ones are assembled, and the
    # cached values are normalise_known's alone.
    handed = [known]
    del known
    normalised, afresh = normalise_known(RunFiles(run_id).read_all_extracted(sources), handed.pop(), handed_over=True)
    release_memory(len(normalised))  # normalising's garbage (~1 GB at 1.4M records), before the files' Arrow copies
    _keep_normalised(normalised, cached, in_parts, run_id)
    normalised, unusable = split_unusable(normalised.drop(columns=["content_hash"]))
    files = RunFiles(run_id)
    files.write_stage("normalise_rejects", unusable)
    files.write_stage("normalised", normalised)
    flagged = normalised["flags"].fillna("").str.len() > 0
    return {"records": len(normalised), "normalised_afresh": afresh, "flagged": int(flagged.sum()),
            "rejected": len(unusable)}


def _keep_normalised(normalised: pd.DataFrame, cached: np.ndarray | None, in_parts: int, run_id: str) -> None:
    """Keep tonight's normalised values for the next night: the values new since the cache
    (`cached`: its content hashes, `in_parts` of them in its parts) as a part of it, or every
    value of tonight's as the whole cache (CACHE_PART_SHARE). An earlier release's cache goes."""
    cache = normalise_cache()
    hashes = normalised["content_hash"]
    first = ~hashes.duplicated().to_numpy()
    new = first & ~hashes.isin(cached).to_numpy() if cached is not None else first
    parts = _cache_parts(cache)
    if cached is not None and in_parts + new.sum() <= CACHE_PART_SHARE * first.sum():
        if new.any():
            write_frame(NORMALISE_CACHE_FILE.conform(normalised.loc[new, NORMALISE_CACHE], "writing a cache part"),
                        cache.with_name(f"{cache.stem}+{run_id}.parquet"))
        parts = []
    else:
        known = normalised[NORMALISE_CACHE]
        write_frame(NORMALISE_CACHE_FILE.conform(known if first.all() else known[first],  # a copy only for repeats
                                                 f"writing {cache.name}"), cache)
    for stale in cache.parent.glob("normalised-*.parquet"):  # earlier releases' values, parts written whole again
        if stale != cache and (stale in parts or not stale.name.startswith(f"{cache.stem}+")):
            stale.unlink(missing_ok=True)


# Columns of the normalised records that resolution and golden records never read: they pass
# through to resolved.parquet as stored (Arrow-backed), not as a Python object per row.
PASSED_THROUGH = ("run_id", "url", "company_name", "country", "province", "city", "booth", "hall", "raw", "flags",
                  "email_domain")
# Text that only golden records read, by masks, fills and first-per-lead alone (no Python string
# method, no regular expression): it stays Arrow-backed too (at a million records ~0.5 GB of
# Python strings held through resolution and golden records). The golden records are the same.
GOLDEN_TEXT = ("name_norm", "website", "email", "address", "uscc", "products")


def read_for_resolution(files: RunFiles, columns: list[str] | None = None) -> pd.DataFrame:
    """Tonight's normalised records (`columns`: only those) as the dedupe step holds them: the
    record key as Python objects; the columns matching compares (MATCHED_COLUMNS: the resolution
    makes objects of the rows it compares, matching.text_as_objects), GOLDEN_TEXT and
    PASSED_THROUGH as stored (Arrow-backed); the other text columns (sources, kinds, fetch
    times, provinces, phone types, industries, member levels, columns with no value at all)
    categorical, and so are the passed-through ones that repeat (run id, page URL, country,
    province, city, flags: at most one distinct value in FEW rows): a 1-4 byte code per row
    instead of an 8-byte pointer or the text itself, at a million records ~10-35 MB a column.
    `uncategorised` turns them back before the records are written."""
    from leadrank.transform.incremental import MATCHED_COLUMNS

    objects = ["record_key"] if columns is None or "record_key" in columns else []
    frame = files.read_stage("normalised", columns, objects=objects)
    for column in frame.columns:
        if column in objects or column in MATCHED_COLUMNS or frame[column].dtype == bool:
            continue
        stored = frame[column].dtype != object and column in (*PASSED_THROUGH, *GOLDEN_TEXT)  # Arrow text
        if stored and (column in GOLDEN_TEXT or column in NEAR_UNIQUE):
            continue
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
        if stored and len(uniques) * FEW > len(frame):
            continue  # Arrow text that seldom repeats: as stored is smaller
        frame[column] = pd.Categorical.from_codes(codes, categories=uniques)
    return frame


# Passed-through columns that are (nearly) one value per record: never made categorical.
NEAR_UNIQUE = ("company_name", "raw")
# A passed-through Arrow text column is made categorical when it has at most one distinct value
# in FEW rows.
FEW = 4


def uncategorised(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the categorical columns of `read_for_resolution` as that read gives them to
    stage code otherwise: passed-through Arrow text as Arrow text (an Arrow `take` of the
    distinct values), the others as objects with None for missing (one Python object per
    distinct value, shared by the rows)."""
    out = frame
    for column in frame.columns:
        if not isinstance(frame[column].dtype, pd.CategoricalDtype):
            continue
        values = frame[column].array
        if column in PASSED_THROUGH and values.categories.dtype != object:
            back = pd.Series(values.categories.array.take(values.codes, allow_fill=True), index=frame.index)
        else:
            distinct = np.append(np.asarray(values.categories, dtype=object), None)  # code -1 takes the last
            back = pd.Series(distinct[values.codes], index=frame.index, dtype=object)
        if out is frame:
            out = frame.copy(deep=False)
        out[column] = back
    return out


def resolve_step(run_id: str, warehouse: str | None) -> dict[str, Any]:
    """Resolve tonight's records with the stored ones into leads. With the state the base run (the
    latest published one when this run began) left, made by the same resolution code and settings,
    only the neighbourhood of what changed is resolved again and only the golden records of leads
    whose records changed are rebuilt (leadrank.transform.incremental: the same files as a full
    resolution); otherwise, and with learned weights, everything is. The resolver (its graph
    clustering imports scipy.sparse: 0.15 CPU seconds) is imported here, not with the module, so
    that the normalise, score and load processes do not pay for it."""
    from leadrank.transform.resolve import RESOLUTION_READS, LeadHistory, resolve

    cfg = run_config(run_id)
    engine = make_engine(warehouse)
    files = RunFiles(run_id)
    # Resolution holds only the columns it compares; the others (names as listed, addresses,
    # websites, passed-through text: ~0.3 GB at 1.4M records) are read after it, not held
    # through its peak.
    tonight = read_for_resolution(files, RESOLUTION_READS)
    release_memory(len(tonight))  # the file's Arrow buffers, converted
    # Every stored record's lead, but whole rows only of the records tonight did not bring again:
    # reading a million stored rows back, night after night, cost minutes.
    prior = read.record_leads(engine)
    # (Arrow's lookup: `isin` of the Arrow-backed stored keys among tonight's Python strings took 6 s)
    stale = prior["record_key"][positions(prior["record_key"], tonight["record_key"]) < 0]
    trust = {s.name: s.trust for s in cfg.sources if s.trust}
    stamp = base_state.resolution_fingerprint(cfg, trust)
    base, why = base_state.dedupe_base(engine, run_id, stamp)
    previous = read.previous_records(engine, stale)
    # Handed over, no reference kept here: resolve lets the columns it has copied in record-key
    # order go while it resolves.
    handed = [tonight]
    del tonight
    result = resolve(handed.pop(), cfg.resolution, previous=previous[[*RESOLUTION_READS, "lead_id"]],
                     prior_leads=prior,
                     history=LeadHistory(partial(read.issued_lead_ids, engine), partial(read.lead_first_seen, engine)),
                     base=base.resolution if base else None, base_handed_over=True)
    # What resolution let go (Arrow's pool keeps it: the matched columns it put back in the
    # records' order are Arrow copies), returned before its state is written: night 2's peak,
    # ~50 MB lower at 1.4M records (bench/README.md, seventeenth round).
    release_memory(len(result.records))
    if why:
        result.stats["reason"] = why
    # What only resolution read is let go before the records are written and the golden records
    # built (the step's peak on a second night): the base run's resolution state, a million
    # records' keys and statistics; and tonight's state is saved and let go, before the columns
    # resolution did not compare are read back (night 1's peak at 1.4M records was the two together).
    if base is not None:
        base.resolution = None
    saved = result.state is not None
    base_state.save_resolution_state(files, result.state)
    result.state = None
    release_memory(len(result.records))  # tonight's state, written and let go, before the rest of the records is read
    result.records = with_unresolved_columns(result.records, files, previous, RESOLUTION_READS)
    del previous
    listed = listed_within(result.records, prior, cfg.lead_expiry_nights)
    del prior
    result.records = pd.DataFrame()  # (only `listed` holds the rows now)
    # The golden inputs complete the state before the categorical columns of the read are turned
    # back (~0.2 GB at 1.4M records) and resolved.parquet is written (its Arrow copy of every
    # record). The fingerprints of the golden inputs read categorical and plain text alike
    # (fingerprints.row_hash).
    inputs = golden_inputs(listed) if saved else None
    base_state.save_golden_state(files, inputs, stamp)
    updating = base is not None and result.stats["mode"] == "incremental"
    if not updating:  # only golden_update compares them (1.4M record keys as Python strings)
        inputs = None
    # Golden records are made from the records as written: conformed to RESOLVED (the stored
    # records among them come back from the warehouse with its types), the categorical columns
    # of the read as objects again (resolved.parquet keeps its schema).
    handed = [listed]
    del listed
    records = files.write_stage("resolved", RESOLVED_FILE.conform(uncategorised(handed.pop()), "writing resolved"))
    # Golden records read only GOLDEN_READS: the other columns (passed-through text, URLs,
    # normalised addresses, match evidence; ~0.3 GB at a million records) are let go here.
    records = records[[c for c in records.columns if c in GOLDEN_READS]]
    base_leads = base.read_leads() if updating else None
    # Which leads publishing must compare with the stored ones: those rebuilt tonight, when the
    # others are the base run's as it published them; no file (every lead) otherwise.
    files.stage("leads_rebuilt").unlink(missing_ok=True)  # (an earlier attempt's)
    leads = None
    if base_leads is not None:
        # Handed over: the golden inputs, tonight's and the base run's, go once the changed
        # records are known, before the leads are merged.
        handed = [base.golden, inputs]
        base.golden, inputs = pd.DataFrame(), None
        try:
            leads, rebuilt_ids = golden_update(records, trust, base_leads, handed.pop(0), handed.pop(0),
                                               handed_over=True)
        except UnreadableFile as exc:  # a column of the base run's leads: every golden record is rebuilt
            log.warning("ignoring the leads of run %s: %s", base.run_id, exc)
        else:
            files.write_stage("leads_rebuilt", pd.DataFrame({"lead_id": rebuilt_ids, "base_run_id": base.run_id}))
            rebuilt = len(rebuilt_ids)
        del base_leads, handed
    if leads is None:
        expired = records["expired"].to_numpy()
        written = rebuilt = files.write_stage_parts("leads", golden_parts(records[~expired] if expired.any() else records,
                                                                           trust))
    else:
        written = len(files.write_stage("leads", leads))
    files.write_stage("events", result.events)
    return {**result.stats, "leads": written, "golden_rebuilt": rebuilt}


CELLS_PER_READ = 1_000_000  # values per read of a stage file read in parts (with_unresolved_columns)


def with_unresolved_columns(records: pd.DataFrame, files: RunFiles, previous: pd.DataFrame, resolved: list[str]
                            ) -> pd.DataFrame:
    """Resolved `records` (tonight's normalised records, then the `previous` ones, as `resolve`
    returns them: only the `resolved` columns of either, plus resolution's own) with the other
    normalised columns read back, tonight's from the run file (as `read_for_resolution` gives
    them) and the stored ones' from `previous`, in the file's column order."""
    from leadrank.transform.resolve import stacked

    file = pq.ParquetFile(files.stage("normalised"))
    stored = file.schema_arrow.names
    others = [c for c in stored if c not in resolved]
    # At most CELLS_PER_READ cells a read: a read's Arrow copy of the whole rest was +0.4 GB on top
    # of resolution's outputs and the state (the step's peak at 1.4M records after resolution), so
    # a million records are read a column at a time; a small night's few rows in one read (each
    # read costs a few milliseconds whatever its size: a demo night's dedupe step spent ~0.15 s
    # reading thirty columns of a hundred rows one by one).
    per_read = max(1, CELLS_PER_READ // max(1, file.metadata.num_rows))
    rest = pd.concat([read_for_resolution(files, others[k:k + per_read]) for k in range(0, len(others), per_read)],
                     axis=1) if others else pd.DataFrame(index=pd.RangeIndex(file.metadata.num_rows))
    if len(previous):
        rest = stacked(rest, previous[[c for c in others if c in previous.columns]])
    if len(rest) != len(records):  # (the run file changed under the step)
        raise ContractError(f"reading normalised: {len(rest)} rows, resolution returned {len(records)}")
    out = records.copy(deep=False)
    for column in rest.columns:
        out[column] = rest[column].array
    return out[[*[c for c in stored if c in out.columns], *[c for c in out.columns if c not in stored]]]


def listed_within(records: pd.DataFrame, prior: pd.DataFrame, nights: int) -> pd.DataFrame:
    """Resolved records with `nights_unlisted` (0 for tonight's, else one more than at the last
    published run) and `expired`: no source listed the record in the last `nights` nights, so it
    no longer feeds its lead; a lead with no record left drops out (lead expiry)."""
    before = looked_up(records["record_key"], prior["record_key"], prior["nights_unlisted"].to_numpy(dtype=np.int64),
                       missing=0)
    tonight = records["seen_tonight"].to_numpy(dtype=bool)  # resolve's own flag, a bool column
    records = records.copy(deep=False)  # two new columns: the caller's frame stays as it was
    records["nights_unlisted"] = np.where(tonight, 0, before + 1)
    records["expired"] = records["nights_unlisted"] >= nights
    return records


# Lead columns scoring never reads (it copies the leads into its features frame: a million
# leads' websites and addresses cost memory for nothing).
UNSCORED = ("website", "address", "phone_type", "source_kinds", "first_fetched_at", "last_fetched_at")


def score_step(run_id: str, warehouse: str | None) -> dict[str, Any]:
    """Score tonight's leads: those whose inputs changed since the base run (the latest published
    run when this one began), reusing the others' scores from its state, or every lead when there
    is no usable state or something every lead depends on changed (leadrank.scoring.incremental);
    `mode`, `leads_scored` and `reason` say which. Writes this run's state for the next night.
    The model is a recent weekly retrain, else the latest night's own while the outcomes it was
    trained on are tonight's (warehouse.models.nightly_model), else trained tonight.
    The scoring model (scikit-learn, 2.5 CPU seconds to import) is imported here, not with the
    module, so that the other steps' processes do not pay for it."""
    from leadrank.scoring.priority import outcome_key as score_outcome_key
    from leadrank.scoring.priority import score_leads

    cfg = run_config(run_id)
    engine = make_engine(warehouse)
    files = RunFiles(run_id)
    # Only the key as objects (merges and maps on it): scoring reads names and places through
    # Arrow kernels (segment rules) or once per lead, and a Python string per value of every
    # column was most of the step's memory.
    def read_leads() -> tuple[pd.DataFrame, LeadIndex]:
        leads = files.read_stage("leads", [c for c in LEADS if c not in UNSCORED], objects=["lead_id"])
        release_memory(len(leads))  # the file's Arrow buffers, converted
        return leads, LeadIndex(leads)  # statements and outcomes reach leads through one index, built once

    leads, index = read_leads()
    statements, fin_rejects = load_financials(cfg.financials)
    new_outcomes, out_rejects = _outcome_files(cfg, leads, index)
    stored = read.stored_outcomes(engine, identity=True)
    stored = stored[~load.superseded(stored, new_outcomes)]  # (the same CRM rows matched again tonight)
    events = files.read_stage("events")
    absorbed = dict(zip(events.loc[events["kind"] == "merge", "other_lead_id"],
                        events.loc[events["kind"] == "merge", "lead_id"], strict=True)) if len(events) else {}
    stored["lead_id"] = stored["lead_id"].map(lambda lead: absorbed.get(lead, lead))
    kept = ["lead_id", "outcome", "outcome_date", "owner"]
    outcomes = pd.concat([stored[kept], new_outcomes[kept]], ignore_index=True).drop_duplicates()
    refused_stored = ""
    trained_on = {"outcome_key": score_outcome_key(leads, outcomes, cfg.scoring)}
    try:
        reuse = (models.latest_model(engine, cfg.scoring.model_max_age_days)
                 or models.nightly_model(engine, trained_on["outcome_key"], cfg.scoring.model_max_age_days))
    except ValueError as exc:  # a tampered, foreign or corrupt artifact: that model fails, the night goes on
        log.warning("%s", exc)
        reuse, refused_stored = None, f"stored model refused: {exc}; "
    base, no_base = base_state.scoring_base(engine, run_id, cfg.scoring)
    n_statements, n_leads = len(statements), len(leads)
    base_id = base.run_id if base is not None else None  # (what a fallback's reason names)
    # Handed over, no reference kept here: score_leads lets the base run's state (a million
    # leads' scores and model inputs) go once it has taken the rows it reuses, and the leads and
    # their index once it has made their features (arguments are evaluated in the order written).
    handed = [leads, index, base]
    del leads, index, base
    for attempt in range(2):  # (one call site: a wrapper's frame would hold the handed-over state through it)
        try:
            result = score_leads(handed.pop(0), statements, outcomes, cfg.scoring, stored=reuse.model if reuse else None,
                                 stored_key=f"{reuse.model_id}@{reuse.trained_at.isoformat()}" if reuse else None,
                                 trained=reuse.training if reuse else None, index=handed.pop(0), base=handed.pop(0),
                                 base_handed_over=True)
            break
        except UnreadableFile as exc:  # a column of the base run's state, read as it is used: every lead is scored
            if attempt:
                raise
            log.warning("ignoring the scoring state of run %s: %s", base_id, exc)
            no_base = f"the scoring state of run {base_id} cannot be read ({exc})"
            handed = [*read_leads(), None]
    result.stats["model_reason"] = (refused_stored + result.stats["model_reason"]).strip()
    if no_base:
        result.stats["reason"] = no_base
    del statements, outcomes  # not read again: the writes below make Arrow copies
    release_memory(n_leads)
    files.write_stage("scores", result.scores)
    result.scores = pd.DataFrame()
    files.write_stage("outcomes", new_outcomes)
    rejects = pd.concat([fin_rejects, out_rejects], ignore_index=True).assign(run_id=run_id)
    files.write_stage("score_rejects", rejects[REJECT_COLUMNS].astype(object))
    model = {"status": result.stats["model"], "metrics": result.model.metrics, "source": "nightly",
             "reason": result.stats["model_reason"],
             "used_model_id": reuse.model_id if reuse else None}
    if reuse is None:  # tonight's own model (or refusal, or cold start): what the next nights compare
        model["trained_on"] = {**trained_on, "training_hash": result.training}
    artifact_sha = None
    if result.stats["model"] == "trained":
        model["artifact_path"] = str(files.root / "model.skops")
        blob, artifact_sha = models.dump(result.model)
        (files.root / "model.skops").write_bytes(blob)
    write_json(model, files.root / "model.json")
    if result.state is not None:  # last: its presence says the model file beside it is tonight's
        write_frame(incremental.with_meta(result.state, artifact_sha256=artifact_sha), files.state(incremental.STATE_NAME))
    if result.model.reason:
        log.warning("%s", result.model.reason)
    return {**result.stats, "financial_rows": n_statements, "financials_rejected": len(fin_rejects),
            "outcomes_new": len(new_outcomes), "outcomes_rejected": len(out_rejects)}


def retrain_step(config_path: str, warehouse: str | None) -> dict[str, Any]:
    """Retrain the outcome model from every outcome stored in the warehouse, on the current
    leads' features, and store it as a model version (source 'retrain'). scikit-learn is imported
    here, as in score_step."""
    from leadrank.scoring.priority import features_of, train_model

    cfg = load_config(config_path)
    engine = make_engine(warehouse)
    upgrade(engine)
    leads = models.active_leads(engine)
    statements, _ = load_financials(cfg.financials)
    outcomes = read.stored_outcomes(engine)
    result = train_model(features_of(leads, statements, cfg.scoring), outcomes, cfg.scoring)
    model_id = "retrain-" + new_run_id()
    status = result.status
    models.save_model(engine, model_id=model_id, run_id=None, status=status, metrics=result.metrics,
                      reason=result.reason, source="retrain",
                      artifact=models.dump(result)[0] if result.pipeline is not None else None)
    if result.reason:
        log.warning("%s", result.reason)
    return {"model_id": model_id, "status": status, "metrics": result.metrics, "reason": result.reason,
            "leads": len(leads), "outcomes": len(outcomes)}


def _outcome_files(cfg: Config, leads: pd.DataFrame,
                   index: LeadIndex | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    matched, rejected = [], []
    for source in cfg.outcomes:
        try:
            table = load_outcomes(source)
        except (OSError, ValueError) as exc:
            rejected.append(pd.DataFrame([{"source": source.name, "stage": "outcomes", "row_ref": str(source.path),
                                           "reason": f"cannot read outcomes: {exc}", "raw": None}]))
            continue
        good, bad = match_outcomes(table, leads, index)
        matched.append(good)
        rejected.append(bad)
    good = pd.concat(matched, ignore_index=True) if matched else pd.DataFrame(columns=OUTCOME_COLUMNS)
    bad = pd.concat(rejected, ignore_index=True) if rejected else pd.DataFrame(columns=REJECT_COLUMNS)
    return good, bad


def _keys_as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Key columns as Python strings: isin() and map() on a million Arrow-backed keys fall back
    to per-element Python in pandas, the object path hashes them in C."""
    for column in ("lead_id", "record_key"):
        if column in frame.columns:
            frame[column] = frame[column].astype(object)
    return frame


def _stage_reader(files: RunFiles, name: str, default: list[str] | None = None) -> load.Table:
    """A reader of a stage file's columns as stored (Arrow-backed strings, keys as objects), for
    publish_run: it reads each table when it writes it and of the others only what it needs."""
    return lambda columns: _keys_as_objects(files.read_stage(name, columns or default, as_stored=True))


def publish_step(run_id: str, warehouse: str | None, summary: dict[str, Any], *, full: bool = False) -> dict[str, int]:
    """Publish the run (load.publish_run: only what changed is written, or everything with `full`)."""
    files = RunFiles(run_id)
    # The big frames as stored (Arrow-backed strings), read when they are written: the bulk
    # writers bind them column by column, and a million records as Python objects took gigabytes.
    model = read_json(files.root / "model.json")
    return load.publish_run(
        make_engine(warehouse),
        run_id,
        records=_stage_reader(files, "resolved", [*load.RECORD_COLUMNS_STAGED, "seen_tonight"]),
        leads=_stage_reader(files, "leads"),
        rebuilt=files.read_stage("leads_rebuilt") if files.stage("leads_rebuilt").exists() else None,
        events=files.read_stage("events"),
        scores=_stage_reader(files, "scores"),
        outcomes=files.read_stage("outcomes"),
        rejects=pd.concat([files.read_stage(name) for name in ("normalise_rejects", "score_rejects")
                           if files.stage(name).exists()], ignore_index=True),
        model=model,
        summary=summary,
        full=full,
    )


def fail(run_id: str, warehouse: str | None, reason: str) -> None:
    load.fail_run(make_engine(warehouse), run_id, reason)


def run_to_retry(warehouse: str | None, flow_run_id: str) -> str | None:
    """The unpublished run a retried flow run began, if its working files are still there."""
    if not flow_run_id:
        return None
    engine = make_engine(warehouse)
    upgrade(engine)
    run_id = read.unpublished_run_of_flow_run(engine, flow_run_id)
    return run_id if run_id and has_run_files(run_id) else None


class StageTimer:
    """Wall time per stage, for the run summary."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            self.record(name, time.perf_counter() - started)

    def record(self, name: str, seconds: float) -> None:
        """Add `seconds` to the stage's time (a step that ran beside others times itself)."""
        self.seconds[name] = round(self.seconds.get(name, 0.0) + seconds, 3)
