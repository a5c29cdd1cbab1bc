"""Loading a run: staging first, then one transaction that publishes everything or nothing.

`stage_run` writes what the sources yielded (stg_*); it may run while later stages still work,
and a rerun of the same run replaces it. `publish_run` writes leads, record links, merge and
split history, scores and model metadata and marks the run published, all in one transaction
holding the publisher lock: a run that fails or is killed before its commit leaves the previous
night's marts exactly as they were, and two runs can never publish at once. A run publishes only
if no other run published since it began (`base_run_id`): of two overlapping runs, one publishes
and the other fails with PublishConflict instead of publishing leads resolved against stale data.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, text

from leadrank.contracts import EXTRACTED, NORMALISED
from leadrank.transform.golden import LEAD_COLUMNS
from leadrank.warehouse.bulk import insert_frame
from leadrank.warehouse.engine import writer
from leadrank.warehouse.models import insert_model

PUBLISH_LOCK = 724312  # PostgreSQL advisory lock key of the publisher
STG_PROSPECT_COLUMNS = ["run_id", "record_key", *[c for c in EXTRACTED if c not in ("run_id", "record_key")]]
RECORD_COLUMNS = [
    "record_key", "lead_id", "source", "source_kind", "url", "fetched_at", "first_seen_run", "last_seen_run",
    "match_evidence", *[c for c in NORMALISED if c not in ("run_id", "record_key", "source", "source_kind", "url",
                                                           "fetched_at", "raw")],
]
GOLDEN_HASHED = [c for c in LEAD_COLUMNS if c not in ("lead_id", "first_fetched_at", "last_fetched_at")]
LATEST_PUBLISHED_RUN = ("SELECT run_id FROM pipeline_runs WHERE status = 'published' "
                        "ORDER BY published_at DESC, run_id DESC LIMIT 1")


class PublishConflict(RuntimeError):
    """Another run published while this one was running: this one must not publish."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def start_run(engine: Engine, run_id: str, *, config_hash: str | None = None, flow_run_id: str | None = None) -> None:
    with writer(engine).begin() as conn:
        conn.execute(text("DELETE FROM pipeline_runs WHERE run_id = :r AND status <> 'published'"), {"r": run_id})
        base = conn.execute(text(LATEST_PUBLISHED_RUN)).scalar()
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


def stage_run(engine: Engine, run_id: str, records: pd.DataFrame, rejects: pd.DataFrame, reports: list[dict[str, Any]]) -> None:
    """Staging tables for one run (replacing any earlier attempt of the same run)."""
    with writer(engine).begin() as conn:
        for table in ("stg_prospects", "stg_rejects", "stg_source_runs"):
            conn.execute(text(f"DELETE FROM {table} WHERE run_id = :r"), {"r": run_id})
        insert_frame(conn, "stg_prospects", records[STG_PROSPECT_COLUMNS])
        add_rejects(conn, run_id, rejects)
        source_runs = pd.DataFrame(reports)
        if not source_runs.empty:
            source_runs = source_runs.rename(columns={"kind": "source_kind"}).assign(run_id=run_id)
            insert_frame(conn, "stg_source_runs", source_runs[
                ["run_id", "source", "source_kind", "status", "pages", "records", "rejected", "reason", "seconds"]])


def add_rejects(conn: Connection, run_id: str, rejects: pd.DataFrame) -> None:
    if rejects is None or rejects.empty:
        return
    frame = rejects.assign(run_id=run_id)
    frame["raw"] = frame["raw"].map(lambda v: None if v is None else str(v)[:2000])
    insert_frame(conn, "stg_rejects", frame[["run_id", "source", "stage", "row_ref", "reason", "raw"]])


def _golden_hash(leads: pd.DataFrame) -> pd.Series:
    """A fingerprint of each lead's golden fields: a changed fingerprint is an updated lead."""
    values = leads[GOLDEN_HASHED].astype(object)
    values = values.where(values.notna(), "").map(str)
    return pd.util.hash_pandas_object(values, index=False).map(lambda h: f"{h:016x}")


def publish_run(
    engine: Engine,
    run_id: str,
    *,
    records: pd.DataFrame,
    leads: pd.DataFrame,
    events: pd.DataFrame,
    scores: pd.DataFrame,
    outcomes: pd.DataFrame,
    rejects: pd.DataFrame,
    model: dict[str, Any],
    summary: dict[str, Any],
) -> dict[str, int]:
    """Publish a run atomically. Returns lead counts: new, updated, unchanged, merged."""
    stamp = now()
    with writer(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PUBLISH_LOCK})
        row = conn.execute(text("SELECT status, base_run_id FROM pipeline_runs WHERE run_id = :r"), {"r": run_id}).first()
        if row is None or row.status != "running":
            raise RuntimeError(f"run {run_id} is {row.status if row else 'unknown'}, not running: it cannot publish")
        latest = conn.execute(text(LATEST_PUBLISHED_RUN)).scalar()
        if latest != row.base_run_id:
            raise PublishConflict(
                f"run {run_id} cannot publish: run {latest} published while it was running, so its leads were "
                f"resolved against older data; resume it (leadrank run --resume {run_id}) to redo them")
        counts = _write_leads(conn, run_id, leads, records, events, stamp)
        _write_records(conn, run_id, records)
        _write_events(conn, run_id, events, stamp)
        _write_scores(conn, run_id, scores)
        _write_outcomes(conn, outcomes, stamp)
        add_rejects(conn, run_id, rejects)
        artifact = Path(model["artifact_path"]).read_bytes() if model.get("artifact_path") else None
        insert_model(conn, model_id=f"{run_id}-model", run_id=run_id, status=model["status"], metrics=model["metrics"],
                     reason=model.get("reason"), source=model.get("source", "nightly"), artifact=artifact,
                     used_model_id=model.get("used_model_id"), trained_at=stamp)
        conn.execute(
            text("UPDATE pipeline_runs SET status = 'published', finished_at = :t, published_at = :t, summary = :s "
                 "WHERE run_id = :r"),
            {"r": run_id, "t": stamp, "s": json.dumps({**summary, "leads": counts}, ensure_ascii=False, default=str)},
        )
    return counts


def _write_leads(conn: Connection, run_id: str, leads: pd.DataFrame, records: pd.DataFrame, events: pd.DataFrame, stamp: str) -> dict[str, int]:
    existing = pd.DataFrame(
        conn.execute(text("SELECT lead_id, record_hash, first_seen_run, first_seen_at, last_seen_run, last_seen_at, "
                          "updated_run FROM leads")).all(),
        columns=["lead_id", "old_hash", "first_seen_run", "first_seen_at", "last_seen_run", "last_seen_at", "updated_run"],
    )
    frame = leads.copy()
    frame["record_hash"] = _golden_hash(frame)
    frame = frame.merge(existing, on="lead_id", how="left")
    seen_tonight = set(records.loc[records["seen_tonight"].astype(bool), "lead_id"])
    is_new = frame["old_hash"].isna()
    changed = ~is_new & (frame["old_hash"] != frame["record_hash"])
    tonight = frame["lead_id"].isin(seen_tonight)
    frame["status"] = "active"
    frame["merged_into"] = None
    frame["first_seen_run"] = frame["first_seen_run"].where(~is_new, run_id)
    frame["first_seen_at"] = frame["first_seen_at"].astype(object).where(~is_new, stamp)
    frame["last_seen_run"] = frame["last_seen_run"].where(~tonight, run_id)
    frame["last_seen_at"] = frame["last_seen_at"].astype(object).where(~tonight, stamp)
    frame["updated_run"] = frame["updated_run"].where(~(is_new | changed), run_id)
    frame["first_seen_at"] = frame["first_seen_at"].map(lambda v: v.isoformat() if hasattr(v, "isoformat") else v)
    frame["last_seen_at"] = frame["last_seen_at"].map(lambda v: v.isoformat() if hasattr(v, "isoformat") else v)
    columns = [c for c in LEAD_COLUMNS if c not in ("first_fetched_at", "last_fetched_at")] + [
        "status", "merged_into", "record_hash", "first_seen_run", "last_seen_run", "first_seen_at", "last_seen_at", "updated_run"]
    frame["n_sources"] = frame["n_sources"].astype(int)
    frame["n_records"] = frame["n_records"].astype(int)
    insert_frame(conn, "leads", frame[columns], conflict=["lead_id"])
    merges = events[events["kind"] == "merge"] if len(events) else events
    for survivor, absorbed in zip(merges.get("lead_id", []), merges.get("other_lead_id", []), strict=True):
        conn.execute(text("UPDATE leads SET status = 'merged', merged_into = :s WHERE lead_id = :a"),
                     {"s": survivor, "a": absorbed})
        conn.execute(text("UPDATE leads SET merged_into = :s WHERE merged_into = :a"), {"s": survivor, "a": absorbed})
    return {
        "new": int(is_new.sum()),
        "updated": int(changed.sum()),
        "unchanged": int((~is_new & ~changed).sum()),
        "merged": int(len(merges)),
    }


def _write_records(conn: Connection, run_id: str, records: pd.DataFrame) -> None:
    frame = records.copy()
    tonight = frame["seen_tonight"].astype(bool)
    frame["first_seen_run"] = run_id
    frame["last_seen_run"] = run_id
    # Records not seen tonight keep their run bookkeeping; only their lead may have changed.
    stale = frame[~tonight]
    if len(stale):
        for key, lead, evidence in zip(stale["record_key"], stale["lead_id"], stale["match_evidence"], strict=True):
            conn.execute(text("UPDATE lead_records SET lead_id = :l, match_evidence = :e WHERE record_key = :k"),
                         {"l": lead, "e": evidence, "k": key})
    fresh = frame.loc[tonight, RECORD_COLUMNS]
    update = [c for c in RECORD_COLUMNS if c not in ("record_key", "first_seen_run")]
    insert_frame(conn, "lead_records", fresh, conflict=["record_key"], update=update)


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
    insert_frame(conn, "lead_events", frame[["event_id", "run_id", "kind", "lead_id", "other_lead_id", "records",
                                              "evidence", "at"]], conflict=["event_id"])


def _write_scores(conn: Connection, run_id: str, scores: pd.DataFrame) -> None:
    previous = conn.execute(text(
        f"SELECT s.lead_id, s.rank FROM lead_scores s WHERE s.run_id = ({LATEST_PUBLISHED_RUN})")).all()
    prev_rank = pd.Series({lead: rank for lead, rank in previous}, dtype="Int64")
    frame = scores.copy()
    frame["run_id"] = run_id
    frame["prev_rank"] = frame["lead_id"].map(prev_rank).astype("Int64")
    frame["movement"] = "unchanged"
    frame.loc[frame["prev_rank"].isna(), "movement"] = "new"
    frame.loc[frame["prev_rank"].notna() & (frame["rank"] < frame["prev_rank"]), "movement"] = "up"
    frame.loc[frame["prev_rank"].notna() & (frame["rank"] > frame["prev_rank"]), "movement"] = "down"
    frame["fin_year"] = pd.to_numeric(frame["fin_year"], errors="coerce").astype("Int64")
    frame["key_account"] = frame["key_account"].astype(bool)
    conn.execute(text("DELETE FROM lead_scores WHERE run_id = :r"), {"r": run_id})
    insert_frame(conn, "lead_scores", frame)


def _write_outcomes(conn: Connection, outcomes: pd.DataFrame, stamp: str) -> None:
    if outcomes.empty:
        return
    frame = outcomes.copy()
    frame["outcome_id"] = [
        hashlib.sha1(f"{lead}|{o}|{d}|{f}".encode()).hexdigest()[:20]
        for lead, o, d, f in zip(frame["lead_id"], frame["outcome"], frame["outcome_date"], frame["source_file"],
                                 strict=True)
    ]
    frame = frame.drop_duplicates("outcome_id")
    frame["imported_at"] = stamp
    insert_frame(conn, "outcomes", frame[["outcome_id", "lead_id", "outcome", "outcome_date", "owner", "company_name",
                                          "uscc", "source_file", "imported_at"]], conflict=["outcome_id"], update=[])
