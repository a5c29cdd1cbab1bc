"""Stored models cannot execute code: a row planted in model_versions (with a correct checksum)
holding a pickle or a skops file of another type fails that model, never runs code and never
fails the night (issue 17, item 8)."""

import hashlib
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LinearRegression
from sqlalchemy import text

from leadrank import pipeline
from leadrank.scoring.model import evaluate_and_fit, predict
from leadrank.warehouse import models
from leadrank.warehouse.engine import make_engine
from tests.helpers import run_pipeline


class Planted:
    """Unpickling this touches a file: what a hostile blob would do with os.system instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def plant(url: str, model_id: str, blob: bytes) -> None:
    """A retrain row newer than every other, with the blob's true checksum."""
    with make_engine(url).begin() as conn:
        conn.execute(text(
            "INSERT INTO model_versions (model_id, run_id, trained_at, status, metrics, reason, source, artifact, "
            "artifact_sha256) VALUES (:m, NULL, :t, 'trained', '{}', NULL, 'retrain', :b, :s)"),
            {"m": model_id, "t": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"), "b": blob,
             "s": hashlib.sha256(blob).hexdigest()})


@pytest.mark.parametrize("n", [300, 900], ids=["logistic", "ensemble"])
def test_a_stored_model_round_trips_and_predicts_the_same(n):
    """Every type the pipelines hold is on the trusted list: missing numbers, blank and rare
    categories (an infrequent-category bucket) included."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=n), "cat": rng.choice(["a", "b", "c", None], size=n),
                          "rare": rng.choice([f"r{i}" for i in range(60)], size=n)})
    frame.loc[::9, "x"] = np.nan
    y = pd.Series(((frame["x"].fillna(0) + (frame["cat"] == "a")) > 0.3).astype(int))
    result = evaluate_and_fit(frame, y, ["x"], ["cat", "rare"])
    blob, sha = models.dump(result)
    assert blob[:2] == b"PK" and sha == hashlib.sha256(blob).hexdigest()  # a zip (skops), not a pickle
    loaded = models.load(blob, result.metrics)
    assert np.allclose(predict(loaded, frame), predict(result, frame))


@pytest.mark.parametrize("kind", ["pickle", "foreign skops type", "not a classifier"])
def test_a_blob_of_another_kind_is_refused_without_running_it(tmp_path, kind):
    marker = tmp_path / "ran"
    if kind == "pickle":
        blob = pickle.dumps(Planted(marker))
    elif kind == "foreign skops type":
        blob = sio.dumps({"pipeline": Planted(marker), "numeric": [], "categorical": []})
    else:
        fitted = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
        blob = sio.dumps({"pipeline": fitted, "numeric": [], "categorical": []}, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(ValueError, match="not a leadrank model"):
        models.load(blob, {})
    assert not marker.exists()


def test_a_planted_pickle_row_fails_that_model_not_the_night(warehouse_url, demo_config, tmp_path, demo_night):
    marker = tmp_path / "ran"
    demo_night(str(demo_config), warehouse_url)
    assert pipeline.retrain_step(str(demo_config), warehouse_url)["status"] == "trained"
    night = run_pipeline(str(demo_config), warehouse_url)
    assert night["scoring"]["model"] == "reused"  # a genuine stored model is used
    plant(warehouse_url, "retrain-planted", pickle.dumps(Planted(marker)))
    night = run_pipeline(str(demo_config), warehouse_url)
    assert not marker.exists()
    assert night["leads"] and night["scoring"]["model"] == "trained"  # published, with a model of its own
    assert "stored model refused: model retrain-planted: cannot load the stored pipeline" in night["scoring"]["model_reason"]
    with make_engine(warehouse_url).connect() as conn:
        reason = conn.execute(text("SELECT reason FROM model_versions WHERE run_id = :r"), {"r": night["run_id"]}).scalar()
    assert "retrain-planted" in reason
