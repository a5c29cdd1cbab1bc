"""The `leadrank` command line.

  leadrank run       one nightly refresh (a Prefect flow; ephemeral unless PREFECT_API_URL is set)
  leadrank top       the published ranked list
  leadrank export    the ranked list to CSV or XLSX
  leadrank dedupe    entity resolution alone, on any CSV of prospects
  leadrank extract   run configured sources and write what they yield
  leadrank db        schema management

The warehouse is --warehouse, else LEADRANK_WAREHOUSE_URL, else data/leadrank.db (SQLite).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from leadrank.config import ConfigError
from leadrank.paths import DEMO_CONFIG

app = typer.Typer(
    help="leadrank: nightly B2B lead sourcing, deduplication and priority scoring into a SQL warehouse.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Warehouse schema management.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Sources file (YAML). Default: the bundled offline demo.")]
WarehouseOpt = Annotated[
    str | None,
    typer.Option("--warehouse", "-w", help="SQLAlchemy URL of the warehouse (else $LEADRANK_WAREHOUSE_URL, else data/leadrank.db).",
                 show_default=False),
]


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@app.command()
def run(config: ConfigOpt = DEMO_CONFIG, warehouse: WarehouseOpt = None) -> None:
    """Run one nightly refresh: extract every source, normalise, deduplicate, score, publish.

    Runs as the Prefect flow `nightly-refresh`: against the server at PREFECT_API_URL when set,
    else in Prefect's ephemeral mode (no server needed). Ends with a summary of the run.
    """
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "leadrank")
    from leadrank.config import load_config

    try:
        load_config(config)
    except ConfigError as exc:
        _fail(str(exc))
    from leadrank.flows.nightly import nightly_refresh

    started = time.perf_counter()
    try:
        summary = nightly_refresh(config=str(config), warehouse=warehouse)
    except Exception as exc:  # the flow has already marked the run failed
        _fail(f"the run failed: {exc}")
    print_summary(summary, time.perf_counter() - started)


def print_summary(summary: dict[str, Any], seconds: float) -> None:
    sources = Table(title="Sources", show_lines=False)
    for column in ("source", "kind", "status", "pages", "records", "rejected", "seconds", "reason"):
        sources.add_column(column, overflow="fold")
    for r in summary["sources"]:
        style = {"ok": "green", "partial": "yellow", "failed": "red"}.get(r["status"], "")
        sources.add_row(r["source"], r["kind"], f"[{style}]{r['status']}[/]", str(r["pages"]), str(r["records"]),
                        str(r["rejected"]), f"{r['seconds']:.2f}", r["reason"] or "")
    console.print(sources)
    leads = summary["leads"]
    res = summary["resolution"]
    scoring = summary["scoring"]
    console.print(
        f"[bold]Leads[/]: {leads['new']} new, {leads['updated']} updated, {leads['unchanged']} unchanged, "
        f"{leads['merged']} merged  ({res['records']} records → {res['leads']} leads)"
    )
    tiers = ", ".join(f"{t}: {scoring.get(f'tier_{t}', 0)}" for t in "ABCD")
    model = scoring["model"]
    model_note = (f"trained, AUC {scoring.get('model_auc')} ({scoring.get('model_validation')})" if model == "trained"
                  else scoring.get("model_reason"))
    console.print(f"[bold]Scoring[/]: tiers {tiers}; {scoring['with_financials']} with financials; model: {model_note}")
    times = ", ".join(f"{k} {v:.2f}s" for k, v in summary["seconds"].items())
    console.print(f"[bold]Run[/] {summary['run_id']} (flow run {summary.get('flow_run_id') or '-'}) in {seconds:.1f}s: {times}")


@app.command()
def top(
    n: Annotated[int, typer.Option("-n", "--limit", help="How many leads to show.", min=1)] = 20,
    warehouse: WarehouseOpt = None,
) -> None:
    """Show the current ranked list (the latest published run)."""
    from leadrank.warehouse.engine import make_engine
    from leadrank.warehouse.read import latest_run, ranked_leads

    engine = make_engine(warehouse)
    try:
        frame = ranked_leads(engine, limit=n)
        run_info = latest_run(engine)
    except Exception as exc:  # noqa: BLE001 - e.g. no tables yet
        _fail(f"cannot read the ranked list ({type(exc).__name__}); has `leadrank run` published a run yet?")
    if run_info is None or frame.empty:
        _fail("no published run yet: run `leadrank run` first")
    table = Table(title=f"Top {len(frame)} leads — run {run_info['run_id']}")
    for column in ("#", "tier", "company", "segment", "city", "priority", "phone", "why"):
        table.add_column(column, overflow="fold")
    for row in frame.itertuples():
        table.add_row(str(row.rank), row.tier, row.company_name or "", row.segment or "", row.city or "",
                      f"{row.priority:.3f}", row.phone or "", row.top_reasons or "")
    console.print(table)


@app.command()
def export(
    output: Annotated[Path, typer.Option("-o", "--output", help="FILE.csv or FILE.xlsx")],
    warehouse: WarehouseOpt = None,
) -> None:
    """Export the ranked list to CSV (UTF-8 with BOM, opens in Excel) or XLSX."""
    from leadrank.warehouse.engine import make_engine
    from leadrank.warehouse.export import ExportError, export_ranked

    try:
        count = export_ranked(make_engine(warehouse), output)
    except ExportError as exc:
        _fail(str(exc))
    console.print(f"wrote {count} leads to {output}")


def _parse_maps(maps: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in maps:
        column, sep, field = item.rpartition("=")
        if not sep or not column or not field:
            raise typer.BadParameter(f"--map takes COLUMN=FIELD, got {item!r}")
        mapping[column] = field.strip()
    return mapping


@app.command()
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
    from leadrank.transform.table_input import records_from_table

    started = time.perf_counter()
    try:
        table = read_text_table(input_csv, None, ",")
        records = records_from_table(table, _parse_maps(map_), source=input_csv.stem)
    except (ValueError, pd.errors.ParserError) as exc:
        _fail(str(exc))
    with console.status(f"normalising {len(records)} rows"):
        normalised = normalise_records(records)
    with console.status("matching and clustering"):
        resolved = dedupe_frame(normalised, ResolutionConfig())
    out = table.copy()
    out["lead_id"] = resolved["lead_id"].to_numpy()
    if explain:
        out["match_evidence"] = resolved["match_evidence"].to_numpy()
    output.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(output, index=False)
    console.print(f"{len(out)} rows → {out['lead_id'].nunique()} leads, written to {output} "
                  f"in {time.perf_counter() - started:.1f}s")


@app.command()
def extract(
    config: ConfigOpt = DEMO_CONFIG,
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
        _fail(str(exc))
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


@db_app.command("upgrade")
def db_upgrade(warehouse: WarehouseOpt = None) -> None:
    """Apply pending schema migrations (leadrank/sql/migrations)."""
    from leadrank.warehouse.engine import display_url, make_engine, warehouse_url
    from leadrank.warehouse.migrate import upgrade

    applied = upgrade(make_engine(warehouse))
    console.print(f"{display_url(warehouse_url(warehouse))}: applied {applied or 'nothing (up to date)'}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
