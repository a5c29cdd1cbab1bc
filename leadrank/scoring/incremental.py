"""Incremental scoring: tonight computes the scores of the leads whose inputs changed since the
base run (the latest published run when tonight's began) and takes the others' from its state.

A lead's per-lead scores (fit, model score, priority, segment, ratios, reasons) are a function of
  - its own inputs (`input_hashes`): its golden record (every column but the fetch times, which
    change every night and which scoring never reads) and the statement row the lead index gives
    it, with that row's peer percentiles; and
  - what is the same for every lead (`fingerprint`): the scoring code and the libraries it runs
    on, the `scoring:` settings, the model (a stored retrain by its id, tonight's by a hash of its
    training set; none when the priority is the fit score), the model's input columns, and the
    typical (median or most common) feature values the reasons compare each lead's with.
What is population-wide and cheap is recomputed every night over all leads, never reused: the
statements' peer percentiles and which lead each statement reaches (the lead index's tie rule
looks at every lead) feed the input hashes; the typical feature values are taken over the merged
model inputs; rank and tier are cut over the merged scores. A lead whose input hash is the base
run's keeps the base run's scores while the fingerprint is the base run's; any difference in the
fingerprint (or no usable state) re-scores every lead, and the stats say why. So an incremental
night's scores are the full computation's, row for row (tests/test_incremental_scoring.py).

The state (`state_frame`) is one frame per run: lead_id, input_hash, the per-lead score columns
and the model's inputs (columns `x.<feature>`), with the fingerprint, the training set's hash and
the model it gave in the frame's attrs, which parquet keeps with the rows (written in one file,
so a killed step never leaves rows of one night with the fingerprint of another).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from leadrank.config import ScoringConfig
from leadrank.fingerprints import is_missing, row_hash
from leadrank.key_lookup import positions

STATE_NAME = "scores"  # RunFiles.state(STATE_NAME)
ATTRS_KEY = "leadrank_scoring"
NOT_READ = ("first_fetched_at", "last_fetched_at")  # golden columns scoring never reads
X_PREFIX = "x."  # the model's inputs in the state
LIBRARIES = ("numpy", "pandas", "pyarrow", "polars", "scikit-learn", "scipy", "skops")
_PACKAGE = Path(__file__).resolve().parent


class StateRows(Protocol):
    """A state's rows by column: a frame, or the state file read a column at a time
    (base_state.StateColumns)."""

    columns: Any
    empty: bool

    def __getitem__(self, column: str) -> pd.Series: ...

    def pop(self, column: str) -> pd.Series: ...

    def __len__(self) -> int: ...


@dataclass
class Base:
    """The base run's state: its rows, what they were computed with, and its model on demand."""

    run_id: str
    rows: StateRows
    meta: dict[str, Any]
    model: Callable[[], Any] | None = None  # the base run's trained ModelResult (read when needed)


def input_hashes(leads: pd.DataFrame, ratios: pd.DataFrame) -> np.ndarray:
    """Each lead's input hash: its golden record and its matched statement row (`ratios`, in the
    leads' order, as lead_ratios gives it)."""
    golden = leads.drop(columns=[c for c in NOT_READ if c in leads.columns]).reset_index(drop=True)
    matched = ratios.drop(columns=["lead_id"]).reset_index(drop=True).add_prefix("ratio.")
    return row_hash(pd.concat([golden, matched], axis=1))


@cache
def code_fingerprint() -> str:
    """The scoring code (every module of this package, and the row fingerprints its inputs are
    compared by) and the versions of the libraries it computes with: a new release re-scores
    every lead."""
    digest = hashlib.sha256()
    for path in [*sorted(_PACKAGE.glob("*.py")), _PACKAGE.parent / "fingerprints.py"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for library in LIBRARIES:
        try:
            digest.update(f"{library}={metadata.version(library)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{library}=none".encode())
    return digest.hexdigest()[:16]


def config_fingerprint(cfg: ScoringConfig) -> str:
    return hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:16]


def training_hash(X: pd.DataFrame, y: pd.Series, dates: pd.Series | None, baseline: pd.Series | None,
                  cfg: ScoringConfig) -> str:
    """What the model trained tonight is a function of: its training rows as the model reads them
    (`X`, model.model_inputs), their labels and dates, the fit score it must beat (`baseline`,
    for the deployment guard) and the settings, whatever the rows' order. Training is
    deterministic (fixed seeds, rows put in an order of their content), so an equal hash is an
    equal model. A change to a training lead that the model does not read (an address, a phone
    written another way) leaves it equal."""
    frame = X.reset_index(drop=True).assign(
        __y=np.asarray(y), __date=None if dates is None else np.asarray(dates, dtype=object),
        __fit=None if baseline is None else np.asarray(baseline, dtype=float))
    hashes = np.sort(row_hash(frame))
    digest = hashlib.sha256(hashes.tobytes())
    digest.update(json.dumps([list(frame.columns), dates is None, config_fingerprint(cfg), code_fingerprint()]).encode())
    return digest.hexdigest()[:16]


def outcome_key(rows: pd.DataFrame, cfg: ScoringConfig) -> str:
    """What decides whether a night trains its model again: the training leads and their labels
    and dates (`rows`: training_rows' lead_id, outcome, outcome_date and extra CRM columns),
    the settings and the scoring code, whatever the rows' order. Unlike `training_hash` it leaves
    out the training leads' features: a training lead that gained a record (1 of 800 on a
    night with 1 % new records) leaves it equal, so the deployed model is used again."""
    hashes = np.sort(row_hash(rows.reset_index(drop=True).astype(object)))
    digest = hashlib.sha256(hashes.tobytes())
    digest.update(json.dumps([sorted(rows.columns), config_fingerprint(cfg), code_fingerprint()]).encode())
    return digest.hexdigest()[:16]


def typical_key(typical: dict[str, Any]) -> str:
    """The typical feature values as exact text (floats by repr, which round-trips)."""
    return json.dumps({k: (None if is_missing(v) else repr(float(v)) if isinstance(v, float) else str(v))
                       for k, v in sorted(typical.items())}, ensure_ascii=False)


def fingerprint(cfg: ScoringConfig, model: str, inputs: list[str]) -> dict[str, str]:
    """What every lead's scores depend on but the typical values (added once they are known)."""
    return {"code": code_fingerprint(), "settings": config_fingerprint(cfg), "model": model,
            "inputs": ",".join(inputs)}


WHAT_CHANGED = {"code": "the scoring code or its libraries changed", "settings": "the scoring settings changed",
                "model": "the model changed", "inputs": "the model's inputs changed",
                "typical": "the typical feature values the reasons compare with moved"}


def difference(before: dict[str, str], now: dict[str, str]) -> str:
    """Why the base run's scores cannot be reused ("" when they can)."""
    changed = [WHAT_CHANGED.get(k, k) for k in now if before.get(k) != now[k]]
    if "typical" in now and before.get("typical") != now["typical"] and before.get("typical"):
        was, tonight = json.loads(before["typical"]), json.loads(now["typical"])
        moved = ", ".join(f"{k} {was.get(k)} → {v}" for k, v in tonight.items() if was.get(k) != v)
        changed[-1] += f" ({moved})" if moved else ""
    return "; ".join(changed)


def base_rows(base: Base | None, lead_ids: np.ndarray) -> np.ndarray:
    """Each lead's row in the base run's state (-1: a lead it did not score, or no base)."""
    if base is None or base.rows.empty:
        return np.full(len(lead_ids), -1, dtype=np.int64)
    return positions(lead_ids, base.rows["lead_id"])


def unchanged(base: Base | None, at: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Which leads (at their `base_rows`) have the base run's input hash (none without a base)."""
    if base is None or base.rows.empty:
        return np.zeros(len(at), dtype=bool)
    before = base.rows["input_hash"].to_numpy(dtype=np.uint64)
    return (at >= 0) & (before[np.maximum(at, 0)] == hashes)


def state_frame(rows: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame:
    """Tonight's state, for the next night: `rows` with `meta` in its attrs."""
    rows = rows.reset_index(drop=True)
    rows.attrs = {ATTRS_KEY: json.dumps(meta, ensure_ascii=False, default=str)}
    return rows


def with_meta(state: pd.DataFrame, **more: Any) -> pd.DataFrame:
    """`state` with more in its meta (what the step that writes it adds: its model file's checksum)."""
    meta = {**json.loads(state.attrs[ATTRS_KEY]), **more}
    state.attrs = {ATTRS_KEY: json.dumps(meta, ensure_ascii=False, default=str)}
    return state


def check_state(rows: StateRows, meta: Any) -> None:
    """ValueError unless `rows` and `meta` are a leadrank scoring state: a fingerprint, an input
    hash and each lead once."""
    if not isinstance(meta, dict) or "fingerprint" not in meta or "input_hash" not in rows.columns:
        raise ValueError("the state is not a leadrank scoring state")
    if rows["lead_id"].duplicated().any():
        raise ValueError("the state holds a lead twice")
