"""Loading a run: staging first, then one transaction that publishes everything or nothing.

`stage_run` writes what the sources yielded (stg_*); it may run while later stages still work,
and a rerun of the same run replaces it. `publish_run` writes leads, record links, merge and
split history, scores with their movement against the previously published run (and the leads
that dropped out of it), outcomes and model metadata, refreshes which leads are suppressed,
and marks the run published, all in one transaction holding the publisher lock: a run that
fails or is killed before its commit leaves the previous night's marts exactly as they were,
and two runs can never publish at once. A run publishes only if no other run published since
it began (`base_run_id`): of two overlapping runs, one publishes and the other fails with
PublishConflict instead of publishing leads resolved against stale data.

A million leads is an ordinary night, so nothing here works row by row: frames go to the
database in bulk (`bulk`), bookkeeping that depends on stored rows (first seen, updated) is done
by the upsert itself, and changes to existing rows are set-based UPDATEs from a temporary table.
And most of a night is what the night before published, so only what changed is written
(migration 0080): a lead or record whose stored fingerprint of its values (content_hash) equals
tonight's is left alone; "listed by the latest published run" is a flag written when it turns on
or off, not a last-seen run rewritten on every row each night; scores are stored as versions,
one when a lead's scored values change, and each run adds only its narrow ranking (lead_ranks),
from which the views compute movement. `full=True` writes everything as if nothing were stored
(the same marts; tests compare the two).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, Engine, bindparam, text

from leadrank.contracts import (
    EVENT_COLUMNS,
    EXTRACTED,
    LEAD_COLUMNS,
    OUTCOME_COLUMNS,
    OUTCOME_IDENTITY,
    REJECT_COLUMNS,
    RESOLVED,
    SCORE_COLUMNS,
    column_as_objects,
)
from leadrank.fingerprints import row_hash, stable_row_hash
from leadrank.key_lookup import positions, text_series
from leadrank.sorted_sets import distinct
from leadrank.warehouse.bulk import fetch_arrow, insert_batches, insert_frame, temp_table
from leadrank.warehouse.engine import advisory_xact_lock, large_write, now, writer
from leadrank.warehouse.models import insert_model
from leadrank.warehouse.suppress import refresh_matches

PUBLISH_LOCK = 724312  # PostgreSQL advisory lock key of the publisher
# The tables' columns, derived from the hand-offs' contracts (leadrank.contracts) where they are theirs.
STG_PROSPECT_COLUMNS = ["run_id", "record_key", *[c for c in EXTRACTED if c not in ("run_id", "record_key")]]
# What publishing reads of the resolved records (RESOLVED but what is the run's alone: its id, the
# raw values kept in staging, tonight's flag and the count of nights unlisted, which the table's
# last_seen_run gives); it adds the run bookkeeping itself.
RECORD_COLUMNS_STAGED = [c for c in RESOLVED if c not in ("run_id", "raw", "seen_tonight", "nights_unlisted")]
RECORD_COLUMNS = [*RECORD_COLUMNS_STAGED, "first_seen_run", "last_seen_run"]
# A record's stored values but its fetch time, which moves at every fetch of an unchanged record.
RECORD_HASHED = [c for c in RECORD_COLUMNS_STAGED if c != "fetched_at"]
GOLDEN_HASHED = [c for c in LEAD_COLUMNS if c not in ("lead_id", "first_fetched_at", "last_fetched_at")]
LEAD_TABLE_COLUMNS = [c for c in LEAD_COLUMNS if c not in ("first_fetched_at", "last_fetched_at")] + [
    "other_phones", "other_emails", "status", "merged_into", "record_hash", "first_seen_run", "last_seen_run",
    "first_seen_at", "last_seen_at", "updated_run", "content_hash", "listed"]
# What a publish writes to a lead but the run bookkeeping (status and merged_into are 'active'
# and NULL on every row it writes; merges and expiry reset content_hash when they change them).
LEAD_HASHED = [*GOLDEN_HASHED, "other_phones", "other_emails"]
# A lead's scored values: a new score version when one of them changes (score_versions).
# (lead_id, rank and tier are the run's ranking, not the lead's values).
VERSION_COLUMNS = [c for c in SCORE_COLUMNS if c not in ("lead_id", "rank", "tier")]
OUTCOME_TABLE_COLUMNS = ["outcome_id", *[c for c in OUTCOME_COLUMNS if c != "row_no"], "imported_at"]
LATEST_PUBLISHED = "SELECT run_id FROM latest_published_run"  # leadrank/sql/views/latest_published_run.sql


class PublishConflict(RuntimeError):
    """Another run published while this one was running: this one must not publish."""


def start_run(engine: Engine, run_id: str, *, config_hash: str | None = None, flow_run_id: str | None = None) -> None:
    with writer(engine).begin() as conn:
        conn.execute(text("DELETE FROM pipeline_runs WHERE run_id = :r AND status <> 'published'"), {"r": run_id})
        base = conn.execute(text(LATEST_PUBLISHED)).scalar()
        conn.execute(
            text("INSERT INTO pipeline_runs (run_id, started_at, status, config_hash, flow_run_id, base_run_id) "
                 "VALUES (:r, :t, 'running', :c, :f, :b)"),
            {"r": run_id, "t": now(), "c": config_hash, "f": flow_run_id, "b": base},
        )


def fail_run(engine: Engine, run_id: str, reason: str) -> None:
    with writer(engine).begin() as conn:
        conn.execute(
            text("UPDATE pipeline_runs SET status = 'failed', finished_at = :t, summary = :s "
                 "WHERE run_id = :r AND status = 'running'"),
            {"r": run_id, "t": now(), "s": json.dumps({"error": reason[:2000]}, ensure_ascii=False)},
        )


def stage_run(engine: Engine, run_id: str, records: pd.DataFrame | Iterable[pd.DataFrame], rejects: pd.DataFrame,
              reports: list[dict[str, Any]]) -> int:
    """Staging tables for one run (replacing any earlier attempt of the same run); `records`
    whole or in batches (the step streams them from the extraction files). Returns how many
    records were staged."""
    with writer(engine).begin() as conn:  # (staging appends: the usual small page cache)
        for table in ("stg_prospects", "stg_rejects", "stg_source_runs"):
            conn.execute(text(f"DELETE FROM {table} WHERE run_id = :r"), {"r": run_id})
        staged = insert_batches(conn, "stg_prospects", (
            batch[STG_PROSPECT_COLUMNS] for batch in ([records] if isinstance(records, pd.DataFrame) else records)))
        add_rejects(conn, run_id, rejects)
        source_runs = pd.DataFrame(reports)
        if not source_runs.empty:
            source_runs = source_runs.rename(columns={"kind": "source_kind"}).assign(run_id=run_id)
            insert_frame(conn, "stg_source_runs", source_runs[
                ["run_id", "source", "source_kind", "status", "pages", "records", "rejected", "reason", "seconds"]])
    return staged


def add_rejects(conn: Connection, run_id: str, rejects: pd.DataFrame) -> None:
    if rejects is None or rejects.empty:
        return
    frame = rejects.assign(run_id=run_id)
    frame["raw"] = frame["raw"].map(lambda v: None if v is None else str(v)[:2000])
    insert_frame(conn, "stg_rejects", frame[REJECT_COLUMNS])


def golden_hash(leads: pd.DataFrame) -> pd.Series:
    """A fingerprint of each lead's golden fields (joined and hashed in C++ and numpy, not per
    row in Python): a changed fingerprint is an updated lead, so it is the same whatever the
    library versions (fingerprints.stable_row_hash). Its 16 hex digits are one Arrow text
    column cut from a single buffer: a Python string per lead cost 75 MB a million."""
    digits = stable_row_hash(leads, GOLDEN_HASHED, missing="").astype(">u8").tobytes().hex().encode("ascii")
    offsets = np.arange(0, len(digits) + 1, 16, dtype=np.int32)
    hexed = pa.StringArray.from_buffers(len(leads), pa.py_buffer(offsets), pa.py_buffer(digits))
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([hexed])), index=leads.index)


NO_HASH = -(2**63)


def _hashes(values: pa.Array) -> np.ndarray:
    """Stored fingerprints as int64, NULL (never matching: written again) as a value row_hash
    gives with probability 2**-64."""
    return values.fill_null(NO_HASH).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _unchanged(at: np.ndarray, stored: np.ndarray, tonight: np.ndarray) -> np.ndarray:
    """Rows stored (`at`: their position among the stored, -1 when new) with tonight's fingerprint."""
    found = at >= 0
    same = np.zeros(len(at), dtype=bool)
    same[found] = stored[at[found]] == tonight[found]
    return same


def _stored_rows(conn: Connection, table: str, key: str, keys: pd.Series
                 ) -> tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray]:
    """Of `table`'s stored rows: their keys, fingerprints (_hashes) and listed flags, and the
    position among them of each of `keys` (-1: new), which the write and the listing compare
    tonight's rows with. Read as Arrow (`fetch_arrow`: a million narrow rows)."""
    ids, hashes, flags = fetch_arrow(conn, f"SELECT {key}, content_hash, CASE WHEN listed THEN 1 ELSE 0 END FROM {table}",
                                     [pa.large_string(), pa.int64(), pa.int64()])
    return pd.Index(text_series(ids)), _hashes(hashes), flags.to_numpy() != 0, positions(keys, ids)


def _keys_table(conn: Connection, name: str, keys: pd.Series, column: str) -> None:
    temp_table(conn, name, pd.DataFrame({column: pd.Series(keys, dtype=object)}), {column: "TEXT"})


# One of the big frames publish_run takes (records, leads, scores): the frame, or a reader of
# the columns it is given (None: all of them). With readers a publish holds one table at a time
# and of the others only the columns it needs, not a million records, leads and scores at once;
# each column is still read once.
Table = pd.DataFrame | Callable[[list[str] | None], pd.DataFrame]
# What writing the leads and expiring them read of the records.
RECORDS_FOR_LEADS = ["lead_id", "seen_tonight", "expired", "phone_e164", "email_norm"]


def _table(table: Table, columns: list[str] | None = None) -> pd.DataFrame:
    if isinstance(table, pd.DataFrame):
        return table if columns is None else table[columns]
    return table(columns)


def publish_run(
    engine: Engine,
    run_id: str,
    *,
    records: Table,
    leads: Table,
    rebuilt: pd.DataFrame | None = None,
    events: pd.DataFrame,
    scores: Table,
    outcomes: pd.DataFrame,
    rejects: pd.DataFrame,
    model: dict[str, Any],
    summary: dict[str, Any],
    full: bool = False,
) -> dict[str, int]:
    """Publish a run atomically. Returns lead counts: new, updated, unchanged, merged, and how
    many leads of the previous list dropped out. Only rows that changed are written, unless
    `full` (every lead, record and score written again: the same marts). The frames are the
    run's stage files as their contracts hand them on (leadrank.run_files.RunFiles.read_stage):
    bool columns are bool; the big ones may be readers (`Table`). `rebuilt` (REBUILT): the leads
    the dedupe step rebuilt, every other lead being its base run's as that run published it; only
    those, the new ones and those whose stored fingerprint was reset are compared and written."""
    stamp = now()
    merges = events[events["kind"] == "merge"] if len(events) else pd.DataFrame(columns=["lead_id", "other_lead_id"])
    absorbed = dict(zip(merges["other_lead_id"], merges["lead_id"], strict=True))
    with large_write(engine) as conn:
        if conn.dialect.name == "postgresql":
            advisory_xact_lock(conn, PUBLISH_LOCK, "publish")
        row = conn.execute(text("SELECT status, base_run_id FROM pipeline_runs WHERE run_id = :r"), {"r": run_id}).first()
        if row is None or row.status != "running":
            raise RuntimeError(f"run {run_id} is {row.status if row else 'unknown'}, not running: it cannot publish")
        previous = conn.execute(text(LATEST_PUBLISHED)).scalar()
        if previous != row.base_run_id:
            raise PublishConflict(
                f"run {run_id} cannot publish: run {previous} published while it was running, so its leads were "
                f"resolved against older data; resume it (leadrank run --resume {run_id}) to redo them")
        linked = _table(records, RECORDS_FOR_LEADS)
        golden = _table(leads)
        # The records' and the leads' lead IDs coded once (one hash table), for which leads a
        # source listed tonight, the records of the leads compared and the expired leads: three
        # isin() of a million keys among a million and a half cost ~1 s more a night.
        coded = lead_codes(linked, golden)
        counts = _write_leads(conn, run_id, golden, linked, coded, stamp, previous, full=full, rebuilt=rebuilt)
        del golden
        rest = [c for c in [*RECORD_COLUMNS_STAGED, "seen_tonight"] if c not in RECORDS_FOR_LEADS]
        _write_records(conn, run_id, pd.concat([linked, _table(records, rest)], axis=1), previous, full=full)
        _write_events(conn, run_id, events, stamp)
        _apply_merges(conn, absorbed)
        expired = _expire_leads(conn, linked, coded)
        del linked, coded
        counts["merged"] = len(absorbed)
        counts["dropped"] = _write_scores(conn, run_id, _table(scores), previous, absorbed, expired, full=full)
        write_outcomes(conn, outcomes, stamp)
        add_rejects(conn, run_id, rejects)
        refresh_matches(conn)
        artifact = Path(model["artifact_path"]).read_bytes() if model.get("artifact_path") else None
        insert_model(conn, model_id=f"{run_id}-model", run_id=run_id, status=model["status"], metrics=model["metrics"],
                     reason=model.get("reason"), source=model.get("source", "nightly"), artifact=artifact,
                     used_model_id=model.get("used_model_id"), trained_at=stamp,
                     trained_on=model.get("trained_on"))
        conn.execute(
            text("UPDATE pipeline_runs SET status = 'published', finished_at = :t, published_at = :t, summary = :s, "
                 "seen_at = :seen WHERE run_id = :r"),
            {"r": run_id, "t": now(precise=True), "seen": stamp,
             "s": json.dumps({**summary, "leads": counts}, ensure_ascii=False, default=str)},
        )
    return counts


def lead_codes(records: pd.DataFrame, leads: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """The records' and the leads' lead IDs coded together (one hash table): (each record's
    code, each lead's code, how many codes). A publish codes once for tonight's listing, the
    expired leads and the compared leads' other contacts (phones and emails): each of these
    coding the IDs again cost 0.5-0.75 s a night at a million leads."""
    codes, lead_ids = pd.factorize(np.concatenate([records["lead_id"].to_numpy(dtype=object),
                                                   leads["lead_id"].to_numpy(dtype=object)]), use_na_sentinel=True)
    return codes[: len(records)], codes[len(records):], len(lead_ids)


def other_contacts(records: pd.DataFrame, leads: pd.DataFrame, column: str, best: str,
                   coded: tuple[np.ndarray, np.ndarray, int] | None = None) -> pd.Series:
    """Per lead, the values of `column` its records hold other than the lead's best one,
    ';'-joined, most frequent first, then in text order (None when there are none). Counted on
    integer codes of leads and values (pandas' value_counts and sort over a million records'
    text pairs took ~3.5 s for the phones alone); only the few values kept become text.
    `coded`: lead_codes(records, leads), when the caller has them."""
    leads_of, lead_rows, n_leads = coded if coded is not None else lead_codes(records, leads)
    codes, values = pd.factorize(pd.concat([records[column], leads[best]], ignore_index=True), use_na_sentinel=True)
    values_of, best_of = codes[: len(records)], codes[len(records):]
    present = (leads_of >= 0) & (values_of >= 0)
    size = max(len(values), 1)
    pair, n = np.unique(leads_of[present].astype(np.int64) * size + values_of[present], return_counts=True)
    lead, value = pair // size, pair % size
    # Each lead's best value as a value code (-1: it has none, or is not among `leads`).
    best_code = np.full(n_leads, -1, dtype=np.int64)
    best_code[lead_rows[lead_rows >= 0]] = best_of[lead_rows >= 0]
    other = value != best_code[lead]
    if not other.any():
        return pd.Series(np.full(len(leads), None, dtype=object), index=leads.index, dtype=object)
    lead, value, n = lead[other], value[other], n[other]
    kept = distinct(value)
    text = np.asarray(values.take(kept), dtype=object)
    rank = np.empty(len(kept), dtype=np.int64)
    rank[np.argsort(text, kind="stable")] = np.arange(len(kept))
    at_kept = np.searchsorted(kept, value)
    order = np.lexsort((rank[at_kept], -n, lead))
    lead, strings = lead[order], text[at_kept[order]].tolist()
    starts = np.flatnonzero(np.r_[True, lead[1:] != lead[:-1]])  # each lead's values are consecutive
    ends = np.r_[starts[1:], len(lead)]
    by_lead = np.full(n_leads + 1, None, dtype=object)  # (the last: leads without an ID)
    by_lead[lead[starts]] = [";".join(strings[a:b]) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
    return pd.Series(by_lead[lead_rows], index=leads.index, dtype=object)


def _listing(conn: Connection, table: str, key: str, keys: pd.Series, listed: np.ndarray, run_id: str,
             previous: str | None, stamp: str, stored_keys: pd.Index, stored_listed: np.ndarray,
             at: np.ndarray) -> None:
    """Move the `listed` flag of `table` where it turns: on for stored rows listed tonight that
    the previous run did not list (last seen: tonight), off for rows it listed that tonight
    does not (last seen: the previous run, stored now). Rows listed night after night are not
    written; the views read their last-seen run as the latest published run's. `at`: each of
    tonight's keys' position among the stored ones (-1: new), which the caller looked up
    already: three isin() over a million keys each cost ~1 s a night."""
    stored = at >= 0
    listed_before = np.zeros(len(at), dtype=bool)
    listed_before[stored] = stored_listed[at[stored]]
    turning_on = pd.Index(keys[listed & stored & ~listed_before])
    listed_tonight = np.zeros(len(stored_keys), dtype=bool)
    listed_tonight[at[listed & stored]] = True
    turning_off = stored_keys[stored_listed & ~listed_tonight]
    seen_at = table == "leads"
    if len(turning_on):
        _keys_table(conn, "_listed_on", turning_on.to_series(), key)
        conn.execute(text(f"UPDATE {table} SET listed = TRUE, last_seen_run = :r"
                          + (", last_seen_at = :t" if seen_at else "")
                          + f" WHERE {key} IN (SELECT {key} FROM _listed_on)"), {"r": run_id, "t": stamp})
        conn.exec_driver_sql("DROP TABLE _listed_on")
    if len(turning_off):
        before = conn.execute(text("SELECT seen_at FROM pipeline_runs WHERE run_id = :r"), {"r": previous}).scalar()
        _keys_table(conn, "_listed_off", turning_off.to_series(), key)
        conn.execute(text(f"UPDATE {table} SET listed = FALSE, last_seen_run = :r"
                          + (", last_seen_at = :t" if seen_at else "")
                          + f" WHERE {key} IN (SELECT {key} FROM _listed_off)"), {"r": previous, "t": before})
        conn.exec_driver_sql("DROP TABLE _listed_off")


def _among(codes: np.ndarray, members: np.ndarray, n_codes: int) -> np.ndarray:
    """Whether each of `codes` is among `members` (codes of lead_codes: -1 is a record without a
    lead, kept apart in the last slot)."""
    flags = np.zeros(n_codes + 1, dtype=bool)
    flags[members] = True
    return flags[codes]


def _write_leads(conn: Connection, run_id: str, leads: pd.DataFrame, records: pd.DataFrame,
                 coded: tuple[np.ndarray, np.ndarray, int], stamp: str, previous: str | None, *, full: bool = False,
                 rebuilt: pd.DataFrame | None = None) -> dict[str, int]:
    """Upsert the golden records that are new or changed (their content_hash differs). The
    upsert keeps first-seen bookkeeping and marks a lead updated only when its golden
    fingerprint changed; the listed flag moves for the leads whose listing turned (_listing);
    counting afterwards needs no read of the stored leads. Fingerprints (and the other contacts
    they cover) are computed only for the leads `_to_compare` names. `coded`: lead_codes(records,
    leads)."""
    record_code, lead_code, n_codes = coded
    tonight = _among(lead_code, record_code[records["seen_tonight"].to_numpy()], n_codes)
    stored_ids, hashes, flags, at = _stored_rows(conn, "leads", "lead_id", leads["lead_id"])
    todo = _to_compare(leads["lead_id"], rebuilt, previous, at, hashes, full)
    every = bool(todo.all())
    frame = leads.copy(deep=False) if every else leads[todo]  # new columns only: no copy of a million leads' values
    chosen = ~records["expired"].to_numpy()
    if not every:  # the records of the leads compared: their other contacts are theirs alone
        chosen &= _among(record_code, lead_code[todo], n_codes)
    listed = records[chosen]
    listed_coded = (record_code[chosen], lead_code[todo], n_codes)  # (the same codes: no second hash table)
    frame["other_phones"] = other_contacts(listed, frame, "phone_e164", "phone", listed_coded)
    frame["other_emails"] = other_contacts(listed, frame, "email_norm", "email", listed_coded)
    frame["status"] = "active"
    frame["merged_into"] = None
    frame["first_seen_run"] = run_id
    frame["first_seen_at"] = stamp
    frame["last_seen_run"] = np.where(tonight[todo], run_id, None)
    frame["last_seen_at"] = np.where(tonight[todo], stamp, None)
    frame["updated_run"] = run_id
    frame["n_sources"] = frame["n_sources"].astype(int)
    frame["n_records"] = frame["n_records"].astype(int)
    frame["content_hash"] = row_hash(frame, LEAD_HASHED).view(np.int64)
    frame["listed"] = tonight[todo]
    same = _unchanged(at[todo], hashes, frame["content_hash"].to_numpy())
    write = frame if full or not same.any() else frame[~same]  # a first night: no copy of every lead
    write = write.assign(record_hash=golden_hash(write))  # of the rows written only: the others keep theirs
    sets = {c: f"excluded.{c}" for c in LEAD_TABLE_COLUMNS
            if c not in ("lead_id", "first_seen_run", "first_seen_at", "last_seen_run", "last_seen_at", "listed")}
    sets["updated_run"] = ("CASE WHEN leads.record_hash = excluded.record_hash THEN leads.updated_run "
                           "ELSE excluded.updated_run END")
    insert_frame(conn, "leads", write[LEAD_TABLE_COLUMNS], conflict=["lead_id"], sets=sets)
    _listing(conn, "leads", "lead_id", leads["lead_id"], tonight, run_id, previous, stamp, stored_ids, flags, at)
    new, updated = conn.execute(text(
        "SELECT SUM(CASE WHEN first_seen_run = :r THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN updated_run = :r AND first_seen_run <> :r THEN 1 ELSE 0 END) FROM leads"), {"r": run_id}).one()
    new, updated = int(new or 0), int(updated or 0)
    return {"new": new, "updated": updated, "unchanged": len(leads) - new - updated}


def _to_compare(lead_ids: pd.Series, rebuilt: pd.DataFrame | None, previous: str | None, at: np.ndarray,
                hashes: np.ndarray, full: bool) -> np.ndarray:
    """Which leads publishing fingerprints and compares with the stored ones (a mask): every
    one, unless the dedupe step says which it rebuilt against the run published last (`rebuilt`,
    REBUILT). A lead it did not rebuild is that run's row, its records' phones, emails and expiry
    are too, so its fingerprint is the one that run left stored: it is compared only when it is
    new to the warehouse or its stored fingerprint was reset (NULL: a merge or an expiry reset it).
    At a million leads, their other contacts and fingerprints took ~3 s a night."""
    if full or rebuilt is None or previous is None or not set(rebuilt["base_run_id"]) <= {previous}:
        return np.ones(len(lead_ids), dtype=bool)
    todo = at < 0
    todo[~todo] = hashes[at[~todo]] == NO_HASH
    return todo | lead_ids.isin(rebuilt["lead_id"]).to_numpy()


def _write_records(conn: Connection, run_id: str, records: pd.DataFrame, previous: str | None, *,
                   full: bool = False) -> None:
    """Records listed tonight that are new or changed (content_hash) are upserted; the listed
    flag moves where a listing turned (_listing)."""
    tonight = records["seen_tonight"].to_numpy()
    content = row_hash(records, RECORD_HASHED).view(np.int64)  # tonight's rows' are used
    stored_keys, hashes, flags, at = _stored_rows(conn, "lead_records", "record_key", records["record_key"])
    chosen = tonight if full else tonight & ~_unchanged(at, hashes, content)
    # Only the rows written are taken out of the frame: on a first night that is all of them, and
    # a copy of a million records cost as much memory as the records.
    write = (records if chosen.all() else records[chosen]).assign(
        first_seen_run=run_id, last_seen_run=run_id, listed=True, content_hash=content[chosen])
    columns = [*RECORD_COLUMNS, "content_hash", "listed"]
    update = [c for c in columns if c not in ("record_key", "first_seen_run")]
    insert_frame(conn, "lead_records", write[columns], conflict=["record_key"], update=update)
    _listing(conn, "lead_records", "record_key", records["record_key"], tonight, run_id, previous, "", stored_keys,
             flags, at)
    # Records not seen tonight keep their values; only their lead and expiry may have changed
    # (then their fingerprint no longer describes them: the next listing writes them again).
    stale = records.loc[~tonight, ["record_key", "lead_id", "match_evidence", "expired"]]
    if stale.empty:
        return
    temp_table(conn, "_stale_records", stale, {"record_key": "TEXT", "lead_id": "TEXT", "match_evidence": "TEXT",
                                               "expired": "BOOLEAN"})
    conn.exec_driver_sql(
        "UPDATE lead_records SET lead_id = s.lead_id, match_evidence = s.match_evidence, expired = s.expired, "
        "content_hash = NULL FROM _stale_records s WHERE lead_records.record_key = s.record_key AND "
        "(lead_records.lead_id <> s.lead_id OR COALESCE(lead_records.match_evidence, '') <> "
        "COALESCE(s.match_evidence, '') OR lead_records.expired <> s.expired)")
    conn.exec_driver_sql("DROP TABLE _stale_records")


def _write_events(conn: Connection, run_id: str, events: pd.DataFrame, stamp: str) -> None:
    if events.empty:
        return
    frame = events.copy()
    frame["run_id"] = run_id
    frame["at"] = stamp
    frame["event_id"] = [
        hashlib.sha1(f"{run_id}|{k}|{a}|{b}".encode()).hexdigest()[:20]
        for k, a, b in zip(frame["kind"], frame["lead_id"], frame["other_lead_id"], strict=True)
    ]
    insert_frame(conn, "lead_events", frame[["event_id", "run_id", *EVENT_COLUMNS, "at"]], conflict=["event_id"])


def _apply_merges(conn: Connection, absorbed: dict[str, str]) -> None:
    """Absorbed leads become 'merged' into their survivor, and leads merged into an absorbed one
    earlier now point at the survivor too (an old ID always resolves in one step)."""
    if not absorbed:
        return
    merges = pd.DataFrame({"absorbed": list(absorbed), "survivor": list(absorbed.values())})
    temp_table(conn, "_merges", merges, {"absorbed": "TEXT", "survivor": "TEXT"})
    conn.exec_driver_sql("UPDATE leads SET status = 'merged', merged_into = m.survivor, content_hash = NULL "
                         "FROM _merges m WHERE leads.lead_id = m.absorbed")
    conn.exec_driver_sql("UPDATE leads SET merged_into = m.survivor, content_hash = NULL FROM _merges m "
                         "WHERE leads.merged_into = m.absorbed")
    conn.exec_driver_sql("DROP TABLE _merges")


def _expire_leads(conn: Connection, records: pd.DataFrame, coded: tuple[np.ndarray, np.ndarray, int]) -> set[str]:
    """Leads none of whose records a source listed within the expiry window (every record
    `expired`, so no golden record was made): status 'expired' until a source lists them again
    (the lead upsert makes them 'active'). `coded`: lead_codes(records, the run's leads).
    Returns their IDs."""
    record_code, lead_code, n_codes = coded
    without = np.flatnonzero((record_code >= 0) & ~_among(record_code, lead_code, n_codes))
    _, first = np.unique(record_code[without], return_index=True)
    expired = pd.Series(records["lead_id"].to_numpy(dtype=object)[without[first]], dtype=object)
    if expired.empty:
        return set()
    temp_table(conn, "_expired_leads", pd.DataFrame({"lead_id": expired}), {"lead_id": "TEXT"})
    conn.exec_driver_sql("UPDATE leads SET status = 'expired', content_hash = NULL FROM _expired_leads e "
                         "WHERE leads.lead_id = e.lead_id AND leads.status = 'active'")
    conn.exec_driver_sql("DROP TABLE _expired_leads")
    return set(expired)


def _previous_scores(conn: Connection, previous: str | None) -> pd.DataFrame:
    """lead_id, rank, tier, score version and its fingerprint of every lead in the previously
    published run."""
    kinds = [pa.large_string(), pa.int64(), pa.large_string(), pa.int64(), pa.int64()]
    ids, ranks, tiers, versions, hashes = [pa.array([], type=kind) for kind in kinds] if previous is None else fetch_arrow(
        conn, "SELECT k.lead_id, k.rank, k.tier, k.version_id, v.score_hash FROM lead_ranks k "
              "JOIN score_versions v ON v.version_id = k.version_id WHERE k.run_id = ?", kinds, (previous,))
    # The text stays Arrow's: tonight's leads are looked up among these by Arrow (`positions`),
    # and only the few that dropped out are made Python strings (_write_scores). Object columns
    # of a million leads' IDs and tiers cost 0.4-0.5 s a night.
    return pd.DataFrame({"lead_id": text_series(ids),
                         "rank": pd.Series(ranks.to_numpy(zero_copy_only=False), dtype="int64"),
                         "tier": text_series(tiers),
                         "version_id": pd.Series(versions.to_numpy(zero_copy_only=False), dtype="int64"),
                         "score_hash": _hashes(hashes)})


def _write_scores(conn: Connection, run_id: str, scores: pd.DataFrame, previous: str | None,
                  absorbed: dict[str, str], expired: set[str], *, full: bool = False) -> int:
    """This run's ranking (lead_ranks: rank, tier and the score version of every lead), with a
    new score version for each lead whose scored values differ from its version in the
    previously published run (or that was not in it); the leads of that run missing from this
    one are recorded as dropped out (merged, expired or not_ranked) with a tombstone version.
    Movement is computed by the views. Returns how many dropped out."""
    prev = _previous_scores(conn, previous)
    frame = scores.copy(deep=False)  # new columns only
    frame["fin_year"] = pd.to_numeric(frame["fin_year"], errors="coerce").astype("Int64")
    frame["score_hash"] = row_hash(frame, VERSION_COLUMNS).view(np.int64)
    at = positions(frame["lead_id"], prev["lead_id"])
    same = _unchanged(at, prev["score_hash"].to_numpy(), frame["score_hash"].to_numpy()) & (not full)
    ranked = np.zeros(len(prev), dtype=bool)  # the previous run's leads that one of tonight's found
    ranked[at[at >= 0]] = True
    gone = prev[~ranked]
    gone = gone.assign(lead_id=column_as_objects(gone["lead_id"]), tier=column_as_objects(gone["tier"]))
    first_id = int(conn.execute(text("SELECT COALESCE(MAX(version_id), 0) FROM score_versions")).scalar()) + 1
    versions = frame.loc[~same, ["lead_id", *VERSION_COLUMNS, "score_hash"]].assign(since_run=run_id, dropped=False)
    versions.insert(0, "version_id", np.arange(first_id, first_id + len(versions), dtype=np.int64))
    insert_frame(conn, "score_versions", versions)
    version = np.zeros(len(frame), dtype=np.int64)
    version[same] = prev["version_id"].to_numpy()[at[same]]
    version[~same] = versions["version_id"].to_numpy()
    frame["version_id"] = version
    frame["run_id"] = run_id
    insert_frame(conn, "lead_ranks", frame[["run_id", "lead_id", "rank", "tier", "version_id"]])
    if gone.empty:
        return 0
    first_id += len(versions)
    insert_frame(conn, "score_versions", pd.DataFrame({
        "version_id": np.arange(first_id, first_id + len(gone), dtype=np.int64), "lead_id": gone["lead_id"].to_numpy(),
        "since_run": run_id, "dropped": True}))
    dropped = pd.DataFrame({
        "run_id": run_id, "lead_id": gone["lead_id"], "prev_run_id": previous, "prev_rank": gone["rank"],
        "prev_tier": gone["tier"], "merged_into": gone["lead_id"].map(absorbed).astype(object),
    })
    dropped["reason"] = np.where(dropped["merged_into"].notna(), "merged",
                                 np.where(dropped["lead_id"].isin(expired), "expired", "not_ranked"))
    insert_frame(conn, "lead_dropouts", dropped, conflict=["run_id", "lead_id"])
    return len(dropped)


def outcome_ids(frame: pd.DataFrame) -> list[str]:
    """Stable IDs of outcomes: the same lead, outcome and date are one outcome whichever file
    reported it, so importing a file twice, a later CRM export that repeats earlier rows, or a
    file the nightly run also reads adds nothing."""
    return [hashlib.sha1(f"{lead}|{o}|{d}".encode()).hexdigest()[:20]
            for lead, o, d in zip(frame["lead_id"], frame["outcome"], frame["outcome_date"], strict=True)]


def identity_keys(frame: pd.DataFrame) -> np.ndarray:
    """One hash per outcome row of its OUTCOME_IDENTITY (missing values alike whatever their kind)."""
    values = frame[OUTCOME_IDENTITY].astype(object)
    return pd.util.hash_pandas_object(values.where(values.notna(), None), index=False).to_numpy()


def superseded(stored: pd.DataFrame, new: pd.DataFrame) -> np.ndarray:
    """Which `stored` outcomes (with OUTCOME_IDENTITY) the CRM rows of `new` are: storing `new`
    moves them to the leads the rows match now (`write_outcomes`), so a night's training set
    leaves them out beside `new`. Without this a row matched to another lead than before counted
    twice, once for each lead (and the old one kept a deal that is not its own)."""
    if not len(stored) or not len(new):
        return np.zeros(len(stored), dtype=bool)
    return np.isin(identity_keys(stored), identity_keys(new))


def _move_stored(conn: Connection, frame: pd.DataFrame) -> int:
    """Stored outcomes of the CRM rows in `frame` (with outcome_id) under another outcome ID (another
    lead) move to the row's: their ID and lead change, what imported them stays (so `leadrank
    outcomes remove` still undoes that import); where the row's outcome is stored already, the old
    copy goes. Returns how many moved or went."""
    files = [f for f in dict.fromkeys(frame["source_file"]) if isinstance(f, str)]
    if not files:
        return 0
    stored = pd.read_sql_query(
        text(f"SELECT outcome_id, {', '.join(OUTCOME_IDENTITY)} FROM outcomes WHERE source_file IN :files")
        .bindparams(bindparam("files", expanding=True)), conn, params={"files": files}, dtype=object)
    if stored.empty:
        return 0
    keys = identity_keys(frame)
    # A CRM row is one of these rows only when no other row has its identity (two rows that
    # differ by the lead they name alone are two deals: neither moves the other's copy).
    once = ~pd.Series(keys).duplicated(keep=False).to_numpy()
    target = dict(zip(keys[once], zip(frame["outcome_id"].to_numpy()[once], frame["lead_id"].to_numpy()[once],
                                      strict=True), strict=True))
    moves = [(old, *target[key]) for old, key in zip(stored["outcome_id"], identity_keys(stored), strict=True)
             if key in target and target[key][0] != old]
    held = {r[0] for k in range(0, len(moves), 500) for r in conn.execute(
        text("SELECT outcome_id FROM outcomes WHERE outcome_id IN :ids").bindparams(bindparam("ids", expanding=True)),
        {"ids": [new for _, new, _ in moves[k:k + 500]]})}
    for old, new, lead in moves:
        if new in held:  # (a copy moved already, or the deal stored under that lead from another file)
            conn.execute(text("DELETE FROM outcomes WHERE outcome_id = :o"), {"o": old})
        else:
            conn.execute(text("UPDATE outcomes SET outcome_id = :n, lead_id = :l WHERE outcome_id = :o"),
                         {"n": new, "l": lead, "o": old})
            held.add(new)
    return len(moves)


def write_outcomes(conn: Connection, outcomes: pd.DataFrame, stamp: str, import_id: str | None = None) -> tuple[int, int]:
    """Store matched outcomes; rows already stored are left alone, and stored copies of the same
    CRM rows under other leads move to tonight's (`_move_stored`). `import_id` marks the rows this
    call stores (an `outcomes import`; a nightly run's rows have none). Returns (how many were new,
    how many stored outcomes moved)."""
    if outcomes.empty:
        return 0, 0
    frame = outcomes.copy()
    frame["outcome_id"] = outcome_ids(frame)
    frame = frame.drop_duplicates("outcome_id")
    moved = _move_stored(conn, frame)
    frame["imported_at"] = stamp
    frame["import_id"] = import_id
    before = conn.execute(text("SELECT COUNT(*) FROM outcomes")).scalar() or 0
    insert_frame(conn, "outcomes", frame[[*OUTCOME_TABLE_COLUMNS, "import_id"]], conflict=["outcome_id"], update=[])
    return int((conn.execute(text("SELECT COUNT(*) FROM outcomes")).scalar() or 0) - before), moved
