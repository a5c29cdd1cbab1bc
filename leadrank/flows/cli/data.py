"""`leadrank dedupe` and `leadrank extract`: stages run on their own, for trying things out."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from leadrank.config import ConfigError
from leadrank.flows.cli.common import DEFAULT_CONFIG, ConfigOpt, console, fail


def _parse_maps(maps: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in maps:
        column, sep, field = item.rpartition("=")
        if not sep or not column or not field:
            raise typer.BadParameter(f"--map takes COLUMN=FIELD, got {item!r}")
        mapping[column] = field.strip()
    return mapping


def dedupe(
    input_csv: Annotated[Path, typer.Argument(help="CSV of prospect rows (needs a company name column).", exists=True, dir_okay=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the rows with lead_id.")],
    map_: Annotated[list[str], typer.Option("--map", help="COLUMN=FIELD, e.g. --map 'Site name=company_name'. Fields: company_name, website, phone, email, address, city, province, country, uscc, source.")] = [],  # noqa: B006
    explain: Annotated[bool, typer.Option(help="Also write match_evidence (why each row joined its lead).")] = False,
) -> None:
    """Deduplicate a CSV on its own: writes the same rows, in the same order, plus `lead_id`
    (rows of one company share it). Runs exactly the nightly entity-resolution stage."""
    import pandas as pd

    from leadrank.config import ResolutionConfig
    from leadrank.scoring.financials import read_text_table
    from leadrank.transform.normalise import normalise_records
    from leadrank.transform.resolve import dedupe_frame
    from leadrank.transform.table_input import read_csv_strings, records_from_table, write_csv

    started = time.perf_counter()
    try:
        table = read_csv_strings(input_csv)
        if table is None:
            table = read_text_table(input_csv, None, ",")
        records = records_from_table(table, _parse_maps(map_), source=input_csv.stem)
    except (ValueError, pd.errors.ParserError) as exc:
        fail(str(exc))
    with console.status(f"normalising {len(records)} rows"):
        normalised = normalise_records(records)
    del records  # normalised holds every input field too; at a million rows the copy matters
    with console.status("matching and clustering"):
        resolved = dedupe_frame(normalised, ResolutionConfig())
    out = table.copy()
    out["lead_id"] = resolved["lead_id"].to_numpy()
    if explain:
        out["match_evidence"] = resolved["match_evidence"].to_numpy()
    output.parent.mkdir(parents=True, exist_ok=True)
    write_csv(out, output)
    console.print(f"{len(out)} rows → {out['lead_id'].nunique()} leads, written to {output} "
                  f"in {time.perf_counter() - started:.1f}s")


def extract(
    config: ConfigOpt = DEFAULT_CONFIG,
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV to write the extracted records to.")] = Path("extracted.csv"),
    source: Annotated[str | None, typer.Option("--source", "-s", help="Run only this source.")] = None,
) -> None:
    """Run the configured sources (or one) and write what they yield, with provenance, values
    as found. For trying a new source config before it goes into the nightly run."""
    import pandas as pd

    from leadrank.config import load_config
    from leadrank.extractors.runner import extract_source
    from leadrank.pipeline import RunFiles, new_run_id

    try:
        cfg = load_config(config)
        chosen = [cfg.source(source)] if source else [s for s in cfg.sources if s.enabled]
    except ConfigError as exc:
        fail(str(exc))
    run_id = "extract-" + new_run_id()
    frames = []
    failed = 0
    for src in chosen:
        with console.status(f"extracting {src.name}") as status:
            def progress(pages: int, rows: int, _status: Any = status, _name: str = src.name) -> None:
                _status.update(f"extracting {_name}: {pages} pages, {rows} rows")

            records, rejects, report = extract_source(src, cfg.fetch, run_id=run_id, raw_dir=RunFiles(run_id).raw,
                                                      on_page=progress)
        frames.append(records)
        colour = {"ok": "green", "partial": "yellow", "failed": "red"}.get(report.status, "white")
        console.print(f"[{colour}]{report.status:>8}[/] {src.name}: {report.records} records, {report.rejected} rejected,"
                      f" {report.pages} pages, {report.seconds:.2f}s" + (f" — {report.reason}" if report.reason else ""))
        failed += report.status == "failed"
    result = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    output.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(output, index=False, encoding="utf-8-sig")
    console.print(f"wrote {len(result)} records to {output}")
    if failed and failed == len(chosen):
        raise typer.Exit(1)


