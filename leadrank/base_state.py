"""What a night reuses from its base run (the latest published run when it began): the state
the dedupe and score steps left in runs/<base>/state/, read only when the fingerprint of the code
and settings that made it matches tonight's. Missing, foreign or damaged state costs a full step,
never the night: each reader returns None and the reason, which the step's summary carries.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from leadrank.config import Config, ScoringConfig
from leadrank.contracts import LEADS, column_as_objects, is_arrow_text
from leadrank.memory import release_memory
from leadrank.paths import data_dir
from leadrank.run_files import RunFiles, StageColumns, UnreadableFile, checked_column, is_run_id, write_frame
from leadrank.scoring import incremental
from leadrank.transform.incremental import STATE_COLUMNS, State, fingerprint
from leadrank.transform.matching import KEY_COLUMNS
from leadrank.warehouse import models, read

log = logging.getLogger(__name__)


def resolution_fingerprint(cfg: Config, trust: dict[str, int]) -> str:
    """What the dedupe step's files depend on beyond its input: the resolution code and settings,
    the sources' trust (golden records) and the lead expiry."""
    return fingerprint(cfg.resolution, {"trust": trust, "lead_expiry_nights": cfg.lead_expiry_nights})


@dataclass
class BaseState:
    """The dedupe state a run left (incremental.State, plus its golden inputs; its leads are read
    by `read_leads` when golden records need them)."""

    resolution: State | None  # None once resolution has read it
    golden: pd.DataFrame
    run_id: str

    def read_leads(self) -> StageColumns | None:
        """The base run's leads, read a column at a time as golden records merge them, or None
        when the file cannot be read or lacks a column (then every golden record is rebuilt; a
        column that fails later raises UnreadableFile). Never read whole: at a million leads
        ~0.45 GB that resolution never reads, and that the merge needs a column at a time."""
        try:
            return StageColumns(RunFiles(self.run_id), "leads", LEADS)
        except UnreadableFile as exc:
            log.warning("ignoring the leads of run %s: %s", self.run_id, exc)
            return None


_STATE_FILES = ("resolution", "resolution_words", "resolution_golden", "resolution_meta")


def dedupe_base(engine: Any, run_id: str, stamp: str) -> tuple[BaseState | None, str]:
    """The base run's dedupe state, or None and why not (then the step resolves everything)."""
    base_run = read.base_run_id(engine, run_id)
    if base_run is None:
        return None, "no published run to build on"
    files = RunFiles(base_run)
    paths = [files.state(name) for name in _STATE_FILES] + [files.stage("leads")]
    if not all(path.exists() for path in paths):
        return None, f"the base run {base_run} left no dedupe state"
    try:
        meta = pd.read_parquet(files.state("resolution_meta"))
        if meta["fingerprint"].iloc[0] != stamp:
            return None, f"the base run {base_run} resolved with other code or settings"
        # Every column as stored (Arrow-backed text): the plan makes tonight's blocking keys and
        # name words from them as Arrow text (incremental.arrow_text), and takes the few rows it
        # needs of the others as objects where it reads them. As Python objects, the keys were
        # ~0.5 GB at a million records through the whole step, and the five columns carried
        # over (key, lead, component, evidence, golden lead) ~0.8 GB.
        records = pd.read_parquet(files.state("resolution"))
        words = pd.read_parquet(files.state("resolution_words"))
        golden = pd.read_parquet(files.state("resolution_golden"))
        pq.read_schema(files.stage("leads"))  # readable; its rows are read later (BaseState.read_leads)
    except (OSError, ValueError, KeyError, IndexError) as exc:  # a damaged state costs time, never correctness
        log.warning("ignoring the dedupe state of run %s: %s", base_run, exc)
        return None, f"the base run {base_run}'s dedupe state cannot be read"
    if not len(records) == len(golden) == int(meta["records"].iloc[0]):
        return None, f"the base run {base_run}'s dedupe state is incomplete"
    return BaseState(State(records[STATE_COLUMNS], words), golden, base_run), ""


def save_resolution_state(files: RunFiles, state: State | None) -> None:
    """The first part of the run's dedupe state, for the next night: every record's blocking keys,
    statistics and name words (`resolve`'s State). Written as soon as resolution is done, so that
    the caller lets it go before reading back the columns resolution did not compare: held with
    them, it made the dedupe step's peak (2,917 MB at 1.4M records; bench/README.md, issue 19's
    eleventh round). The marker (fingerprint and size) is removed first and written last, by
    `save_golden_state`, so a step killed in between leaves no state that looks whole."""
    files.state("resolution_meta").unlink(missing_ok=True)
    if state is None:  # learned weights: every night is a full one
        return
    frame = state.records
    for column in KEY_COLUMNS:  # a key no record has is stored as text in either mode (objects store nulls)
        if frame[column].dtype == object and frame[column].isna().all():
            frame = frame.assign(**{column: frame[column].astype("str")})
    write_frame(frame, files.state("resolution"))
    write_frame(state.words, files.state("resolution_words"))


def save_golden_state(files: RunFiles, inputs: pd.DataFrame | None, stamp: str) -> None:
    """The rest of the dedupe state: every record's golden inputs (`golden_inputs`: what the next
    night's golden records compare), then the marker. Nothing when the resolution state was not
    saved (`inputs` None)."""
    if inputs is None:
        return
    write_frame(inputs, files.state("resolution_golden"))
    write_frame(pd.DataFrame({"fingerprint": [stamp], "records": [len(inputs)]}), files.state("resolution_meta"))


class StateColumns:
    """The base run's scoring state (incremental.Base.rows) read a column at a time, when asked:
    `lead_id` at once (every lead is looked up in it, and a lead twice is a damaged state), any
    other column as score_leads takes it (`input_hash` to compare, the model inputs for the
    typical values, every column for the unchanged leads' rows once tonight's leads, index and
    ratios are let go). Read whole first, the state's million rows (~0.45 GB as Python objects)
    were held under the hashing of tonight's leads, the second night's peak in the night's one
    process (bench/README.md, seventeenth round). Text is made Python objects, one string per
    distinct value: the reasons, segments and tiers repeat, and the unchanged leads' rows are
    then taken as pointers. `pop` is a read too. A column that cannot be read raises
    UnreadableFile (the score step then scores every lead)."""

    def __init__(self, path: Path) -> None:
        file = pq.ParquetFile(path)
        self.columns: list[str] = file.schema_arrow.names
        self._path, self._rows = path, file.metadata.num_rows
        self._lead_ids = self._read("lead_id") if "lead_id" in self.columns else None

    @property
    def empty(self) -> bool:
        return self._rows == 0 or not self.columns

    def __len__(self) -> int:
        return self._rows

    def __getitem__(self, column: str) -> pd.Series:
        return self._lead_ids if column == "lead_id" and self._lead_ids is not None else self._read(column)

    def pop(self, column: str) -> pd.Series:
        values = self[column]
        if column == "lead_id":
            self._lead_ids = None
        return values

    def _read(self, column: str) -> pd.Series:
        values = checked_column(f"{self._path.name}.{column}", self._rows,
                                lambda: pd.read_parquet(self._path, columns=[column])[column])
        values = column_as_objects(values) if is_arrow_text(values) else values
        release_memory(len(values))  # (Arrow's pool keeps what the conversion freed)
        return values


def _state_meta(path: Path) -> dict[str, Any]:
    """A scoring state's meta, from its file's metadata (no row read; empty when it has none)."""
    raw = (pq.read_schema(path).metadata or {}).get(b"PANDAS_ATTRS")
    meta = json.loads(json.loads(raw).get(incremental.ATTRS_KEY) or "{}") if raw else {}
    return meta if isinstance(meta, dict) else {}


def scoring_base(engine: Any, run_id: str, cfg: ScoringConfig) -> tuple[incremental.Base | None, str]:
    """(the scoring state of the run `run_id` is based on, or None and why there is none). A state
    that cannot be read costs a full night, never the night. A state made by other scoring code or
    `cfg` settings (the first night after an upgrade) can reuse no lead's scores: its rows (a
    million leads' scores and model inputs, ~0.5 GB as read) are not read to be held through a
    full night's training and scoring."""
    base_id = read.base_run_id(engine, run_id)
    if base_id is None:
        return None, "no published run to build on"
    if not is_run_id(base_id) or not (data_dir() / "runs" / base_id).is_dir():
        return None, f"run {base_id}'s working files are gone"
    path = RunFiles(base_id).state(incremental.STATE_NAME)
    if not path.exists():
        return None, f"run {base_id} left no scoring state"
    try:
        meta = _state_meta(path)
        made_with = meta.get("fingerprint")
        tonight = {"code": incremental.code_fingerprint(), "settings": incremental.config_fingerprint(cfg)}
        if isinstance(made_with, dict) and (stale := incremental.difference(made_with, tonight)):
            return None, stale
        rows = StateColumns(path)
        incremental.check_state(rows, meta)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring the scoring state of run %s: %s", base_id, exc)
        return None, f"the scoring state of run {base_id} cannot be read ({exc})"

    def model() -> Any:
        blob = (RunFiles(base_id).root / "model.skops").read_bytes()
        if hashlib.sha256(blob).hexdigest() != meta.get("artifact_sha256"):
            raise ValueError(f"run {base_id}'s model.skops is not the one its scoring state names")
        return models.load(blob, meta["model"]["metrics"])

    return incremental.Base(base_id, rows, meta, model), ""
