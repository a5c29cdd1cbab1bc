"""Reading the warehouse: what resolution needs from earlier nights, and what sales read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, text

from leadrank.contracts import NORMALISED, NORMALISED_FILE, OUTCOME_IDENTITY
from leadrank.key_lookup import text_series
from leadrank.warehouse.bulk import fetch_arrow, temp_table


def record_leads(engine: Engine) -> pd.DataFrame:
    """record_key and lead_id of every stored source record (which lead each record had) and
    `nights_unlisted`: how many published runs, newest first, went by since one listed it (0: the
    latest published run did: `listed`), which is what expires records no source lists any more.
    A million records' rows come as Arrow (`bulk.fetch_arrow`: COPY on PostgreSQL, the cursor in
    batches on SQLite; no million Python strings left resident), their nights from a map of the
    runs (4.6 -> 2.3 s at 1.4M records on SQLite). Keys and leads stay Arrow-backed text."""
    with engine.connect() as conn:
        runs = conn.exec_driver_sql("SELECT run_id FROM pipeline_runs WHERE status = 'published' "
                                    "ORDER BY published_at DESC, run_id DESC").fetchall()
        keys, leads, since = fetch_arrow(
            conn, "SELECT record_key, lead_id, CASE WHEN listed THEN NULL ELSE COALESCE(last_seen_run, '') END "
                  "FROM lead_records", [pa.large_string()] * 3)
    age = pa.array([run_id for (run_id,) in runs], type=pa.large_string())
    nights = pc.index_in(since, value_set=age).to_numpy(zero_copy_only=False)  # NaN: not a published run
    nights = np.where(np.isnan(nights), len(runs), nights)
    listed = since.is_null().to_numpy(zero_copy_only=False)
    return pd.DataFrame({"record_key": text_series(keys), "lead_id": text_series(leads),
                         "nights_unlisted": np.where(listed, 0, nights).astype(np.int64)})


def previous_records(engine: Engine, keys: pd.Series | None = None) -> pd.DataFrame:
    """Stored source records (NORMALISED plus lead_id), for matching tonight's against: all of
    them, or only those with the given record keys (the ones tonight did not bring again)."""
    stored = [c for c in NORMALISED if c not in ("run_id", "raw")]
    select = f"SELECT {', '.join('r.' + c for c in stored)}, r.lead_id FROM lead_records r"
    with engine.begin() as conn:
        if keys is None:
            frame = pd.read_sql_query(text(select), conn, dtype=object)
        else:
            temp_table(conn, "_wanted_records", pd.DataFrame({"record_key": pd.Series(keys, dtype=object)}),
                       {"record_key": "TEXT"})
            frame = pd.read_sql_query(text(select + " JOIN _wanted_records w ON w.record_key = r.record_key"), conn,
                                      dtype=object)
            conn.exec_driver_sql("DROP TABLE _wanted_records")
    frame["run_id"] = None
    frame["raw"] = None
    frame["fetched_at"] = frame["fetched_at"].map(lambda v: v.isoformat() if hasattr(v, "isoformat") else v)
    return NORMALISED_FILE.cast(frame[[*NORMALISED, "lead_id"]], "reading stored records")


def issued_lead_ids(engine: Engine, ids: list[str]) -> set[str]:
    """Which of `ids` the warehouse ever issued (any status: merged and expired IDs stay taken)."""
    return set(_first_seen_among(engine, ids))


def lead_first_seen(engine: Engine, ids: list[str]) -> dict[str, str]:
    """First-seen timestamp of each of `ids` the warehouse holds."""
    return _first_seen_among(engine, ids)


def _first_seen_among(engine: Engine, ids: list[str]) -> dict[str, str]:
    """lead_id: first_seen_at of the stored leads among `ids`. One query through a temporary
    table, whatever the number of IDs; none on an empty table."""
    if not ids:
        return {}
    with engine.begin() as conn:
        if conn.exec_driver_sql("SELECT 1 FROM leads LIMIT 1").first() is None:  # a first night
            return {}
        temp_table(conn, "_asked_leads", pd.DataFrame({"lead_id": pd.Series(ids, dtype=object)}), {"lead_id": "TEXT"})
        rows = conn.exec_driver_sql("SELECT l.lead_id, l.first_seen_at FROM leads l "
                                    "JOIN _asked_leads a ON a.lead_id = l.lead_id").fetchall()
        conn.exec_driver_sql("DROP TABLE _asked_leads")
    return {lead: str(seen) for lead, seen in rows}


def resolve_lead_ids(engine: Engine, ids: pd.Series) -> pd.Series:
    """Map lead IDs through recorded merges to the surviving lead."""
    with engine.connect() as conn:
        merged = dict(conn.execute(text("SELECT lead_id, merged_into FROM leads WHERE status = 'merged'")).all())
    return ids.map(lambda lead: merged.get(lead, lead))


def stored_outcomes(engine: Engine, *, identity: bool = False) -> pd.DataFrame:
    """The stored outcomes (lead_id, outcome, outcome_date, owner), their lead IDs through the
    recorded merges; with `identity` also what says which CRM row each came from (OUTCOME_IDENTITY)."""
    columns = dict.fromkeys(["lead_id", "outcome", "outcome_date", "owner", *(OUTCOME_IDENTITY if identity else [])])
    with engine.connect() as conn:
        frame = pd.read_sql_query(text(f"SELECT {', '.join(columns)} FROM outcomes"), conn, dtype=object)
    frame["lead_id"] = resolve_lead_ids(engine, frame["lead_id"])
    return frame


def mart(engine: Engine, sql: str, params: dict[str, object] | None = None) -> pd.DataFrame:
    """A query over the marts as a frame of plain values (None for NULL). Timestamps are ISO
    text on both dialects (SQLite stores them so; PostgreSQL's are formatted the same way)."""
    with engine.connect() as conn:
        frame = pd.read_sql_query(text(sql), conn, params=params or {})
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].map(lambda v: v.isoformat(timespec="seconds") if pd.notna(v) else None)
    return frame.astype(object).where(frame.notna(), None)


def ranked_leads(engine: Engine, limit: int | None = None) -> pd.DataFrame:
    if limit is None:
        return mart(engine, "SELECT * FROM ranked_leads ORDER BY rank")
    return mart(engine, "SELECT * FROM ranked_leads ORDER BY rank LIMIT :n", {"n": int(limit)})


def segment_leads(engine: Engine) -> pd.DataFrame:
    """The ranked list with each lead's rank within its segment (mart_segment_leads), plus the
    lead's country (ISO 3166 alpha-2, leads.country), which the marts do not carry."""
    return mart(engine, "SELECT k.*, l.country FROM mart_segment_leads k LEFT JOIN leads l ON l.lead_id = k.lead_id "
                        "ORDER BY k.rank")


def dropped_leads(engine: Engine) -> pd.DataFrame:
    """Leads of the previous published run that the latest one no longer ranks."""
    return mart(engine, "SELECT * FROM mart_dropped_leads ORDER BY prev_rank")


def latest_run(engine: Engine) -> dict[str, object] | None:
    """The published run sales see, with its run_number: how many runs have published up to and
    including it (1 for the first list), which people quote more easily than a run id."""
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT r.run_id, r.status, r.started_at, r.published_at, r.summary, "
            "(SELECT COUNT(*) FROM pipeline_runs p WHERE p.status = 'published' AND (p.published_at < r.published_at "
            " OR (p.published_at = r.published_at AND p.run_id <= r.run_id))) AS run_number "
            "FROM pipeline_runs r WHERE r.status = 'published' "
            "ORDER BY r.published_at DESC, r.run_id DESC LIMIT 1")).mappings().first()
    return dict(row) if row else None


def top_leads(engine: Engine, n: int, *, segment: str | None = None, tiers: list[str] | None = None,
              city: str | None = None, province: str | None = None) -> pd.DataFrame:
    """The first `n` published leads that match every filter given, in rank order, each with
    segment_rank (its rank within its segment: a key-account team's own list)."""
    where, params = [], {"n": int(n)}
    if segment is not None:
        where.append("segment = :segment")
        params["segment"] = segment
    if tiers:
        where.append(f"tier IN ({', '.join(f':tier{i}' for i in range(len(tiers)))})")
        params.update({f"tier{i}": t for i, t in enumerate(tiers)})
    for name, value in (("city", city), ("province", province)):
        if value is not None:
            where.append(f"{name} = :{name}")
            params[name] = value
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return mart(engine, f"SELECT * FROM mart_segment_leads{clause} ORDER BY rank LIMIT :n", params)


def published_values(engine: Engine, column: str) -> list[str]:
    """The distinct values of a ranked_leads column (segment, city, province) in the published list."""
    if column not in {"segment", "city", "province"}:
        raise ValueError(f"not a filterable column: {column}")
    frame = mart(engine, f"SELECT DISTINCT {column} AS v FROM ranked_leads WHERE {column} IS NOT NULL")
    return sorted(str(v) for v in frame["v"])


def run_status(engine: Engine, run_id: str) -> str | None:
    """running | published | failed, or None for a run this warehouse does not know."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT status FROM pipeline_runs WHERE run_id = :r"), {"r": run_id}).scalar()


def base_run_id(engine: Engine, run_id: str) -> str | None:
    """The latest published run when `run_id` began (None: none yet, or a run this warehouse does
    not know): what an incremental step of the run builds on."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT base_run_id FROM pipeline_runs WHERE run_id = :r"), {"r": run_id}).scalar()


def unpublished_run_of_flow_run(engine: Engine, flow_run_id: str) -> str | None:
    """The latest run a Prefect flow run began and did not publish: what a retry of it resumes."""
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT run_id FROM pipeline_runs WHERE flow_run_id = :f AND status <> 'published' "
            "ORDER BY started_at DESC, run_id DESC LIMIT 1"), {"f": flow_run_id}).scalar()
