"""`leadrank model ...`: check the outcome model on your own CRM history, retrain it, list versions."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from leadrank.cli.common import (
    DEFAULT_CONFIG,
    ConfigOpt,
    WarehouseOpt,
    auc_in_words,
    command_group,
    console,
    err,
    fail,
    plain,
    prefect_defaults,
    warehouse_for_flow,
)

model_app = command_group("The outcome model: evaluate it on a CRM export, retrain it, list stored versions.")


@model_app.command("evaluate")
def evaluate(
    data: Annotated[Path, typer.Option("--data", help="CSV (or XLSX) export with one row per lead and its outcome.",
                                       exists=True, dir_okay=False)],
    target: Annotated[str, typer.Option("--target", help="The outcome column, e.g. Converted.")],
    positive: Annotated[list[str], typer.Option("--positive", help="Target value that means won, in any case (yes finds Yes; 1 finds 1.0); repeat for several (--positive won --positive 成交). Default: every value among 1, yes, true, won, 成交, 赢单, 签约 ...")] = [],  # noqa: B006
    drop: Annotated[list[str], typer.Option("--drop", help="Column to leave out; repeat. Drop identifiers and anything filled in after the outcome was known (it leaks).")] = [],  # noqa: B006
    time_column: Annotated[str | None, typer.Option("--time-column", help="Date column: validate on later rows instead of cross-validation (the later half of the dated rows in three blocks, each predicted by a model trained on every row before it; auc_by_block). An error if a filled value is not a date.")] = None,
    sep: Annotated[str, typer.Option("--sep", help="CSV field separator.")] = ",",
    compare_default: Annotated[bool, typer.Option("--compare-default", help="Also validate scikit-learn's gradient-boosted trees at their default settings on the same columns and the same folds (or later blocks): default_model_auc, the plain baseline the model should beat.")] = False,
) -> None:
    """Train the production model pipeline on any tabular outcome export and print its validated
    metrics as one JSON object (auc, n_rows, n_positive, validation, precision at top k,
    calibration, ...), so you can check the model on your own CRM history before trusting it.
    Under cross-validation `auc` is the mean of the folds' AUCs (each fold's AUC is
    in `auc_by_fold`); with --time-column the AUC within three later blocks, each weighed by its
    won x lost pairs (`auc_by_block`); `auc_pooled` ranks all validation scores together.

    Numbers, dates (as days), categories, placeholders ("Select") and blanks are recognised per
    column; what was ignored or coerced is listed under `columns`. Progress goes to stderr, the
    JSON to stdout. The result does not depend on the order of the rows in the file. A target with more than two
    values gets a warning naming what was counted as won and as lost; a model whose AUC is below
    0.5 gets a warning that it would not be deployed.
    """
    import pandas as pd

    from leadrank.scoring.model import evaluate_and_fit, outcome_table, refusal
    from leadrank.tables import read_table

    started = time.perf_counter()
    try:
        with err.status(f"reading {data.name}"):
            raw = read_table(data, None, sep)
            raw.columns = [str(c).strip() for c in raw.columns]
            table = outcome_table(raw, target, positive=positive or None, drop=drop, time_column=time_column)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        fail(str(exc))
    with err.status(f"validating the model on {len(table.y)} rows"):
        result = evaluate_and_fit(table.frame, table.y, table.numeric, table.categorical, dates=table.dates,
                                  fit_final=False, compare_default=compare_default)
    metrics = dict(result.metrics)
    out = {
        "auc": metrics.pop("auc"),
        "n_rows": metrics.pop("n_rows"),
        "n_positive": metrics.pop("n_positive"),
        "validation": metrics.pop("validation"),
        "status": "cold_start" if result.reason else "evaluated",
        **({"reason": result.reason} if result.reason else {}),
        **metrics,
        "columns": table.notes,
        "seconds": round(time.perf_counter() - started, 2),
    }
    guard = refusal(result.metrics)
    if guard:
        out["guard"] = guard
    sys.stdout.write(json.dumps(out, ensure_ascii=False, default=str) + "\n")
    for warning in filter(None, [table.notes.get("target_warning"), guard]):
        err.print(f"[yellow]warning:[/] {plain(warning)}")
    for column in table.notes.get("date_columns", []):
        err.print(f"[yellow]note:[/] {plain(repr(column))} holds dates: the AUC above is on shuffled folds; to measure "
                  f"it on later outcomes, as the nightly run does with outcome dates, give --time-column {plain(repr(column))}")
    if out.get("default_model_auc") is not None:
        ahead = out["auc"] - out["default_model_auc"]
        kind = "fold" if "auc_fold_mean_sd" in out else "block"
        spread = out.get(f"auc_{kind}_mean_sd")
        err.print(f"{'[yellow]note:[/] ' if ahead < 0 else ''}default gradient-boosted trees on the same {kind}s: AUC "
                  f"{out['default_model_auc']}, this model {out['auc']} ({ahead:+.4f}"
                  + (f"; this model's AUC varies by {spread[1]} (sd) from {kind} to {kind})" if spread else ")"))
    for column, auc in table.notes["possible_leaks"].items():
        err.print(f"[yellow]warning:[/] {plain(repr(column))} alone separates the outcome with AUC {auc}: was it filled in "
                  "after the outcome was known? If so, --drop it.")
    if result.reason:
        err.print(f"[yellow]{plain(result.reason)}[/]")
        raise typer.Exit(1)


@model_app.command("retrain")
def retrain(config: ConfigOpt = DEFAULT_CONFIG, warehouse: WarehouseOpt = None) -> None:
    """Retrain the outcome model from the outcomes stored in the warehouse and store it as a new
    model version (the Prefect flow `weekly-retrain`). Nightly runs use the newest version while
    it is younger than scoring.model_max_age_days."""
    prefect_defaults()
    from leadrank.config import ConfigError, load_config

    try:
        load_config(config)
    except ConfigError as exc:
        fail(str(exc))
    from leadrank.flows.retrain import weekly_retrain

    try:
        warehouse_for_flow(warehouse)
        summary = weekly_retrain(config=str(config))
    except Exception as exc:  # noqa: BLE001 - the flow logged it; say it plainly
        fail(f"retraining failed: {exc}")
    if summary["status"] == "trained":
        console.print(f"model {summary['model_id']} trained on {summary['metrics']['n_rows']} outcomes: "
                      f"AUC {auc_in_words(summary['metrics']['auc'], summary['metrics']['validation'])}")
    else:
        console.print(f"[yellow]no model[/]: {plain(summary['reason'])}")


@model_app.command("versions")
def versions(
    n: Annotated[int, typer.Option("-n", "--limit", help="How many versions to show.", min=1)] = 10,
    warehouse: WarehouseOpt = None,
) -> None:
    """List stored model versions, newest first, with their validation metrics (the AUC with
    what it was measured on: later blocks of dated outcomes, or cross-validation folds)."""
    from rich.table import Table

    from leadrank.warehouse.engine import make_engine
    from leadrank.warehouse.models import list_models

    try:
        frame = list_models(make_engine(warehouse), limit=n)
    except Exception as exc:  # noqa: BLE001 - e.g. no tables yet
        fail(f"cannot read model versions ({type(exc).__name__}); run `leadrank db upgrade` and a run first")
    if frame.empty:
        fail("no model versions stored yet: `leadrank run` or `leadrank model retrain` stores one")
    table = Table(title="Model versions")
    for column in ("model_id", "trained_at", "source", "status", "auc", "precision@k", "rows", "why"):
        table.add_column(column, overflow="fold")
    for row in frame.itertuples():
        metrics = json.loads(row.metrics or "{}")
        top = metrics.get("precision_at_top_k") or {}
        def text(value: object) -> str:
            return value if isinstance(value, str) else ""

        table.add_row(row.model_id, str(row.trained_at)[:19], text(row.source), row.status,
                      auc_in_words(metrics.get("auc"), metrics.get("validation")), str(top.get("precision", "")),
                      str(metrics.get("n_rows", "")),
                      text(row.reason) + (f" (uses {row.used_model_id})" if text(row.used_model_id) else ""))
    console.print(table)
