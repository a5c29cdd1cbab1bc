"""`leadrank dedupe` and `leadrank extract`: stages run on their own, for trying things out."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from leadrank.cli.common import DEFAULT_CONFIG, ConfigOpt, console, fail, parse_maps, plain
from leadrank.config import ConfigError


def dedupe(
    input_csv: Annotated[Path, typer.Argument(help="CSV (comma, semicolon, tab or | separated; UTF-8 or GB18030) or XLSX (first sheet) of prospect rows, with a company name column.", exists=True, dir_okay=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the rows with lead_id.")],
    map_: Annotated[list[str], typer.Option("--map", help="COLUMN=FIELD, e.g. --map 'Site name=company_name'. Fields: company_name, website, phone, email, address, city, province, country, uscc, source.")] = [],  # noqa: B006
    explain: Annotated[bool, typer.Option(help="Also write match_evidence (why each row joined its lead) and print the match weights used (learned: m, u and weight per comparison level).")] = False,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="A leadrank config file whose `resolution:` settings to use (weights, thresholds, learned: true …).", exists=True, dir_okay=False)] = None,
) -> None:
    """Deduplicate a CSV or XLSX on its own: writes the same rows as CSV, in the same order, plus `lead_id`
    (rows of one company share it). Runs exactly the nightly entity-resolution stage."""
    import numpy as np
    import pandas as pd

    from leadrank.config import ResolutionConfig, load_config
    from leadrank.memory import release_memory
    from leadrank.run_files import as_objects
    from leadrank.tables import TableError, read_table, read_text_table, separator
    from leadrank.transform.normalise import normalise_in_parts
    from leadrank.transform.resolve import RESOLUTION_READS, dedupe_result
    from leadrank.transform.table_input import evidence_by_row, read_csv_strings, records_from_table, write_csv

    started = time.perf_counter()
    try:
        settings = load_config(config).resolution if config else ResolutionConfig()
    except ConfigError as exc:
        fail(str(exc))
    try:
        sep = None
        if input_csv.suffix.lower() in {".xlsx", ".xlsm"}:
            table = read_table(input_csv)  # the first sheet, as strings
        else:
            with input_csv.open("rb") as handle:
                sep = separator(handle.readline().decode("utf-8", errors="replace"))
            table = read_csv_strings(input_csv, sep)
            if table is None:
                table, sep = read_text_table(input_csv, None, sep), None
        records = records_from_table(table, dict(parse_maps(map_, "COLUMN")), source=input_csv.stem,
                                     in_content_order=True)
    except (ValueError, TableError, pd.errors.ParserError) as exc:
        fail(str(exc))
    n_rows = len(table)
    if sep is not None:  # read by Arrow in a second: read again for the output, not held through matching
        del table
    with console.status(f"normalising {len(records)} rows"):
        normalised = normalise_in_parts(records)  # text kept Arrow-backed, as the nightly step does
    rows = records.index.to_numpy()  # each record's row in the table
    del records
    # Only what resolution reads, and as Python objects only there (one string per distinct value
    # where values repeat): at 1.4M rows the other normalised columns were ~0.3 GB through matching.
    normalised = as_objects(normalised[RESOLUTION_READS], only=RESOLUTION_READS)
    release_memory(len(normalised))
    with console.status("matching and clustering"):
        resolved, model = dedupe_result(normalised, settings)
    del normalised
    if explain:
        _print_weights(model, settings)
    results = {"lead_id": resolved["lead_id"].to_numpy()}
    if explain:
        results["match_evidence"] = evidence_by_row(resolved["match_evidence"].to_numpy(), rows)
    del resolved
    for column, values in results.items():  # back in the table's order
        results[column] = np.empty(len(values), dtype=values.dtype)
        results[column][rows] = values
    if sep is not None:
        table = read_csv_strings(input_csv, sep)
        if table is None or len(table) != n_rows:
            fail(f"{input_csv} changed while it was being deduplicated: run again")
    out = table  # the rows as read, plus the results
    for column, values in results.items():
        out[column] = values
    output.parent.mkdir(parents=True, exist_ok=True)
    write_csv(out, output)
    console.print(f"{len(out)} rows → {out['lead_id'].nunique()} leads, written to {output} "
                  f"in {time.perf_counter() - started:.1f}s")


def _print_weights(model: Any, settings: Any) -> None:
    """The match weights the run used: the learned table (m, u, weight per level), else the
    hand-set points."""
    if model is None:
        console.print(f"hand-set weights (resolution.learned: false), match at ≥ {settings.match_threshold} points:")
        for name, points in settings.weights.items():
            typer.echo(f"  {name:<22} {points:+.1f}")
        return
    console.print(f"learned weights (Fellegi–Sunter: u from {model.random_pairs} random pairs, m by EM over "
                  f"{model.candidate_pairs} candidate pairs, {model.iterations} iterations), "
                  f"match at ≥ {settings.match_threshold} bits:")
    typer.echo(f"  {'comparison':<10} {'level':<10} {'m':>10} {'u':>10} {'weight':>8}")
    for row in model.table().itertuples(index=False):
        typer.echo(f"  {row.comparison:<10} {row.level:<10} {row.m:>10.4g} {row.u:>10.4g} {row.match_weight:>+8.2f}")


def extract(
    config: ConfigOpt = DEFAULT_CONFIG,
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV to write the extracted records to.")] = Path("extracted.csv"),
    source: Annotated[str | None, typer.Option("--source", "-s", help="Run only this source.")] = None,
    replay: Annotated[str | None, typer.Option(
        "--replay", help="Re-parse the raw responses kept by an earlier extract run (its run id, printed at the end) "
                         "instead of fetching again: for trying new selectors on the same pages.")] = None,
) -> None:
    """Run the configured sources (or one) and write what they yield, with provenance, values
    as found. For trying a new source config before it goes into the nightly run.

    Columns: source, source_kind, url, fetched_at, run_id, record_key, the prospect fields
    (company_name, company_name_alt, website, phone, email, address, country, province, city,
    uscc, booth, hall, products, member_level, industry) and raw (every value the source held for
    the row, as JSON). A failed source is reported with its reason; the others are still written.
    Values that a spreadsheet would run as a formula (`=…`, `+…`, `@…`) get a leading apostrophe,
    as in `leadrank export`.
    Every response is kept under `data/runs/<run id>/raw/<source>/` (index.jsonl lists them).
    """
    import pandas as pd
    from rich.table import Table

    from leadrank.config import load_config
    from leadrank.contracts import EXTRACTED
    from leadrank.extractors.runner import extract_source
    from leadrank.pipeline import RunFiles, new_run_id
    from leadrank.run_files import is_run_id
    from leadrank.warehouse.export import neutralise_formulas

    try:
        cfg = load_config(config)
        chosen = [cfg.source(source)] if source else [s for s in cfg.sources if s.enabled]
    except ConfigError as exc:
        fail(str(exc))
    if replay and not is_run_id(replay):
        fail(f"{replay!r} is not a run id (as printed by an earlier extract: letters, digits, '_', '.', '-')")
    if replay and not RunFiles(replay).raw.is_dir():
        fail(f"no raw responses kept for run {replay!r} (looked in {RunFiles(replay).raw})")
    run_id = replay or "extract-" + new_run_id()
    frames = []
    summary = Table(title=f"extract {run_id}" + (" (replayed)" if replay else ""))
    summary.add_column("source", no_wrap=True)
    for column in ("kind", "status", "pages", "records", "rejected", "seconds", "reason"):
        summary.add_column(column, overflow="fold")
    failed = 0
    for src in chosen:
        with console.status(f"extracting {src.name}") as status:
            def progress(pages: int, rows: int, _status: Any = status, _name: str = src.name) -> None:
                _status.update(f"extracting {_name}: {pages} pages, {rows} rows")

            records, rejects, report = extract_source(src, cfg.fetch, run_id=run_id, raw_dir=RunFiles(run_id).raw,
                                                      replay=bool(replay), on_page=progress)
        frames.append(records)
        colour = {"ok": "green", "partial": "yellow", "failed": "red"}.get(report.status, "white")
        note = report.reason or ""
        if report.warnings:
            note = f"{note} ({len(report.warnings)} warnings, first: {report.warnings[0]})".strip()
        summary.add_row(src.name, src.kind, f"[{colour}]{report.status}[/]", str(report.pages), str(report.records),
                        str(report.rejected), f"{report.seconds:.2f}", plain(note))
        failed += report.status == "failed"
    result = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=EXTRACTED)
    console.print(summary)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        neutralise_formulas(result).to_csv(output, index=False, encoding="utf-8-sig")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    console.print(f"wrote {len(result)} records to {output}; raw responses in {RunFiles(run_id).raw}"
                  + ("" if replay else f" (re-parse with --replay {run_id})"))
    if failed and failed == len(chosen):
        raise typer.Exit(1)
