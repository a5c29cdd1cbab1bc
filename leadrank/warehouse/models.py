"""Model versions in the warehouse: metrics, training summary and the fitted pipeline.

Every nightly run and every retrain stores a version (a cold start and a refused model too, with
the reason), so the history of what scored the leads is auditable. The fitted pipeline is stored
with skops, not pickle: loading a pickle runs whatever code it names, so a row written into
model_versions (the checksum beside it is no defence: whoever can write the blob can write its
checksum) would run code in the next night. skops rebuilds only the types listed in TRUSTED and
refuses any other; a blob that is not a skops file, names another type or fails its checksum
fails that model (the night trains its own, or ranks by the fit score), never the night.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, text

# Types a leadrank pipeline holds beyond those skops trusts by default (scikit-learn estimators,
# numpy and scipy containers). check_array is the function a ColumnTransformer keeps a
# functools.partial of; skops checks the partial's function against this list too.
TRUSTED = [
    "functools.partial",
    "leadrank.scoring.model.EmptyAsZero",
    "leadrank.scoring.model.FrequentValues",
    "leadrank.scoring.model.IncreasingPlatt",
    "leadrank.scoring.model.LogOddsVote",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils._bunch.Bunch",
    "sklearn.utils.validation.check_array",
]


@dataclass
class StoredModel:
    model_id: str
    trained_at: datetime
    metrics: dict[str, Any]
    model: Any  # leadrank.scoring.model.ModelResult
    training: str | None = None  # a nightly model's training-set hash (nightly_model)


def dump(model: Any) -> tuple[bytes, str]:
    """A ModelResult's pipeline and feature lists as a skops file (its metrics are stored in
    their own column), and the file's SHA-256. skops is imported here and in `load`, not with the
    module: importing it walks every scikit-learn module (4 CPU seconds), which each step process
    that never stores or loads a model (normalise, dedupe, the load) would otherwise pay."""
    import skops.io as sio

    blob = sio.dumps({"pipeline": model.pipeline, "numeric": list(model.numeric),
                      "categorical": list(model.categorical)}, compression=zipfile.ZIP_DEFLATED)
    return blob, hashlib.sha256(blob).hexdigest()


def load(blob: bytes, metrics: dict[str, Any]) -> Any:
    """The ModelResult stored by `dump`; ValueError for anything else (a pickle, another type)."""
    import skops.io as sio

    from leadrank.scoring.model import ModelResult

    try:
        stored = sio.loads(blob, trusted=TRUSTED)
        model = ModelResult(stored["pipeline"], metrics, list(stored["numeric"]), list(stored["categorical"]))
    except Exception as exc:  # noqa: BLE001 - not a zip, untrusted types, another scikit-learn version ...
        raise ValueError(f"not a leadrank model ({type(exc).__name__}: {str(exc)[:300]})") from None
    if not hasattr(model.pipeline, "predict_proba"):
        raise ValueError(f"not a leadrank model (a {type(model.pipeline).__name__})")
    return model


def insert_model(conn: Connection, *, model_id: str, run_id: str | None, status: str, metrics: dict[str, Any],
                 reason: str | None, source: str, artifact: bytes | None = None,
                 used_model_id: str | None = None, trained_at: str | None = None,
                 trained_on: dict[str, str] | None = None) -> None:
    """One row of model_versions, inside the caller's transaction. `trained_on`: the keys of what
    a nightly model was trained on (outcome_key, training_hash), kept in its training summary
    for the nights that reuse it (`nightly_model`)."""
    summary = {k: metrics.get(k) for k in ("n_rows", "n_positive", "n_negative", "date_range",
                                           "numeric_features", "categorical_features") if k in metrics}
    conn.execute(
        text("INSERT INTO model_versions (model_id, run_id, trained_at, status, metrics, reason, source, classifier, "
             "training_summary, artifact, artifact_sha256, used_model_id) "
             "VALUES (:m, :r, :t, :s, :x, :why, :src, :clf, :summary, :blob, :sha, :used)"),
        {"m": model_id, "r": run_id, "t": trained_at or datetime.now(UTC).isoformat(timespec="seconds"),
         "s": status, "x": json.dumps(metrics, ensure_ascii=False, default=str), "why": reason or None,
         "src": source, "clf": metrics.get("classifier"),
         "summary": json.dumps({**summary, **(trained_on or {})}, ensure_ascii=False, default=str),
         "blob": artifact, "sha": hashlib.sha256(artifact).hexdigest() if artifact else None, "used": used_model_id},
    )


def _newest(engine: Engine, where: str, max_age_days: float) -> tuple[Any, datetime] | None:
    """The newest model_versions row matching `where` and its training time, when it is younger
    than `max_age_days`."""
    if max_age_days <= 0:
        return None
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT model_id, trained_at, status, metrics, reason, training_summary, artifact, artifact_sha256 "
            f"FROM model_versions WHERE {where} ORDER BY trained_at DESC, model_id DESC LIMIT 1")).first()
    if row is None:
        return None
    trained_at = pd.Timestamp(row.trained_at)
    trained_at = (trained_at.tz_localize(UTC) if trained_at.tzinfo is None else trained_at).to_pydatetime()
    if (datetime.now(UTC) - trained_at).total_seconds() > max_age_days * 86400:
        return None
    return row, trained_at


def _pipeline(row: Any, metrics: dict[str, Any]) -> Any:
    """The ModelResult of a stored row's artifact, checked against its checksum first."""
    blob = bytes(row.artifact)
    if hashlib.sha256(blob).hexdigest() != row.artifact_sha256:
        raise ValueError(f"model {row.model_id}: stored artifact fails its checksum; refusing to load it")
    try:
        return load(blob, metrics)
    except ValueError as exc:
        raise ValueError(f"model {row.model_id}: cannot load the stored pipeline, {exc}") from None


def latest_model(engine: Engine, max_age_days: float) -> StoredModel | None:
    """The newest retrained version younger than `max_age_days`, else None (the night then
    trains its own model on every outcome it has, as without a retrain schedule)."""
    found = _newest(engine, "status = 'trained' AND source = 'retrain' AND artifact IS NOT NULL", max_age_days)
    if found is None:
        return None
    row, trained_at = found
    metrics = json.loads(row.metrics or "{}")
    return StoredModel(row.model_id, trained_at, metrics, _pipeline(row, metrics))


def nightly_model(engine: Engine, outcome_key: str, max_age_days: float) -> StoredModel | None:
    """The model (or the refusal, or the cold start) of the latest night that trained one, when
    it was trained on tonight's outcomes (`outcome_key`, leadrank.scoring.incremental) and is
    younger than `max_age_days`; else None (the night trains). A night whose outcomes did not
    change uses the deployed version again, as it uses a weekly retrain, instead of training
    a near-copy on features a few leads moved: the same model for the incremental and the full
    scoring of a night, which therefore agree. Its StoredModel's `training` is the hash of the
    training set it was trained on (its name in the scoring fingerprint)."""
    found = _newest(engine, "source = 'nightly' AND used_model_id IS NULL "
                            "AND status IN ('trained', 'refused', 'cold_start')", max_age_days)
    if found is None:
        return None
    row, trained_at = found
    summary = json.loads(row.training_summary or "{}")
    if summary.get("outcome_key") != outcome_key or not summary.get("training_hash"):
        return None
    metrics = json.loads(row.metrics or "{}")
    if row.status == "trained":
        if row.artifact is None:
            return None
        model = _pipeline(row, metrics)
    else:
        from leadrank.scoring.model import ModelResult

        model = ModelResult(None, metrics, list(summary.get("numeric_features") or []),
                            list(summary.get("categorical_features") or []), row.reason or "",
                            refused=row.status == "refused")
    return StoredModel(row.model_id, trained_at, metrics, model, training=summary["training_hash"])


def list_models(engine: Engine, limit: int = 10) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(text(
            "SELECT model_id, run_id, trained_at, status, source, metrics, reason, used_model_id FROM model_versions "
            "ORDER BY trained_at DESC, model_id DESC LIMIT :n"), conn, params={"n": int(limit)})


def save_model(engine: Engine, **kwargs: Any) -> None:
    """insert_model in its own transaction (the retrain flow, outside a nightly publish)."""
    from leadrank.warehouse.engine import writer

    with writer(engine).begin() as conn:
        insert_model(conn, **kwargs)


def active_leads(engine: Engine) -> pd.DataFrame:
    """The current golden records (LEAD_COLUMNS), for retraining on their features."""
    from leadrank.contracts import LEAD_COLUMNS, LEAD_TABLE

    with engine.connect() as conn:
        frame = pd.read_sql_query(text("SELECT * FROM leads WHERE status = 'active'"), conn, dtype=object)
    for column in LEAD_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame = frame[LEAD_COLUMNS].astype(object).where(frame[LEAD_COLUMNS].notna(), None)
    for column in ("n_sources", "n_records", "exhibitions"):  # nullable in the table: none is 0
        frame[column] = frame[column].fillna(0)
    return LEAD_TABLE.cast(frame, "reading leads")  # the database's 0/1, true/false or NULL as bools


def run_model(engine: Engine, run_id: str) -> dict[str, Any] | None:
    """The model version a run scored with: status, reason and metrics."""
    with engine.connect() as conn:
        row = conn.execute(text("SELECT status, reason, metrics FROM model_versions WHERE run_id = :r "
                                "ORDER BY trained_at DESC LIMIT 1"), {"r": run_id}).first()
    return {"status": row.status, "reason": row.reason, "metrics": json.loads(row.metrics or "{}")} if row else None
