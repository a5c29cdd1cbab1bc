"""`leadrank export`, `leadrank report` and `leadrank db ...`: the warehouse for sales and operators."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leadrank.cli.common import WarehouseOpt, command_group, console, err, fail, plain

db_app = command_group("Warehouse schema, access and retention.")

LangOpt = Annotated[str, typer.Option("--lang", help="Headers and labels: en (English) or zh (中文).")]
TimezoneOpt = Annotated[str | None, typer.Option(
    "--timezone", metavar="TZ", show_default=False,
    help="Show times on this clock (IANA name, e.g. Europe/Berlin); default $LEADRANK_TIMEZONE, else Asia/Shanghai.")]


def export(
    output: Annotated[Path, typer.Option("-o", "--output", help="FILE.csv or FILE.xlsx")],
    warehouse: WarehouseOpt = None,
    lang: LangOpt = "en",
    timezone: TimezoneOpt = None,
) -> None:
    """Export the ranked list to CSV (UTF-8 with BOM, opens in Excel) or XLSX.

    The XLSX has every lead on its first sheet, then one sheet per segment (key-account team)
    in the team's rank order, then the leads that dropped out since the previous run; each
    sheet has a frozen header and filters, number and date formats, tier colours, clickable
    websites and wrapped reasons. Phones are shown as dialled in China, first_seen in the
    --timezone. Suppressed leads are never exported. The file is written to a temporary name
    and moved into place, so a failed export leaves nothing.
    """
    from leadrank.warehouse.engine import make_engine
    from leadrank.warehouse.export import ExportError, export_ranked

    try:
        with console.status(f"exporting to {output}"):
            count = export_ranked(make_engine(warehouse), output, lang=lang, timezone=timezone)
    except ExportError as exc:
        fail(str(exc))
    console.print(f"wrote {count} leads to {output}")


def report(
    output: Annotated[Path, typer.Option("-o", "--output", help="FILE.html")] = Path("report.html"),
    warehouse: WarehouseOpt = None,
    lang: LangOpt = "en",
    timezone: TimezoneOpt = None,
) -> None:
    """Write a one-page HTML report of the published list: the first 50 leads to call, tier
    counts by segment, the score distribution, movement and this run's new leads, each
    source's yield, the best cities; its header says when the list was published (in the
    --timezone) and which run it is.

    The page is self-contained (inline SVG charts and styles, no scripts, nothing fetched), so
    it opens offline and can be mailed as it is. Suppressed leads are not in it. Chinese text
    needs a CJK font where the page is opened (Debian: fonts-noto-cjk or fonts-wqy-microhei).
    """
    from leadrank.warehouse.engine import make_engine
    from leadrank.warehouse.export import ExportError
    from leadrank.warehouse.report import write_report

    try:
        with console.status("building the report"):
            write_report(make_engine(warehouse), output, lang=lang, timezone=timezone)
    except ExportError as exc:
        fail(str(exc))
    console.print(f"wrote the report to {output}")


@db_app.command("upgrade")
def db_upgrade(warehouse: WarehouseOpt = None) -> None:
    """Apply pending schema migrations (leadrank/sql/migrations)."""
    from leadrank.warehouse.engine import display_url, make_engine, warehouse_url
    from leadrank.warehouse.migrate import upgrade

    applied = upgrade(make_engine(warehouse))
    console.print(f"{display_url(warehouse_url(warehouse))}: applied {applied or 'nothing (up to date)'}")


@db_app.command("grant-sales")
def db_grant_sales(
    role: Annotated[str, typer.Argument(help="An existing PostgreSQL role (CREATE ROLE sales LOGIN PASSWORD ...).")],
    warehouse: WarehouseOpt = None,
) -> None:
    """Let a PostgreSQL role read the marts (ranked_leads and the mart_* views) and nothing else:
    no staging or core tables, no writes. Run it again after an upgrade adds a mart.

    The mart views are security barriers (a function in the role's query sees only their rows);
    a role that is a member of pg_read_all_data or pg_write_all_data is refused; the
    advisory-lock functions are revoked from PUBLIC in the warehouse database (kept for the role
    running this, the warehouse owner), so no sales session can hold the nightly's locks; that
    revoke needs a superuser, else a warning says so."""
    from sqlalchemy.exc import SQLAlchemyError

    from leadrank.warehouse.access import AccessError, grant_sales
    from leadrank.warehouse.engine import make_engine
    from leadrank.warehouse.migrate import upgrade

    try:
        engine = make_engine(warehouse)
        upgrade(engine)
        granted = grant_sales(engine, role)
    except AccessError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"cannot grant: {exc.orig if getattr(exc, 'orig', None) else type(exc).__name__}")
    for warning in granted.warnings:
        err.print(f"[yellow]warning:[/] {plain(warning)}")
    console.print(f"role {role} may now read: {', '.join(granted.views)}")


@db_app.command("purge")
def db_purge(
    days: Annotated[int | None, typer.Option("--days", min=1, help="Keep this many days (default $LEADRANK_RETENTION_DAYS, else 30).", show_default=False)] = None,
    rank_days: Annotated[int | None, typer.Option("--rank-days", min=1, help="Keep each published run's full ranking this many days (default $LEADRANK_RANK_RETENTION_DAYS, else 90). The latest published run's and the one before it always stay, and so does every score a lead was given (score_versions).", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be purged.")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Purge raw responses (run directories under the data directory) and staging rows of runs
    older than the retention period, and the full rankings of published runs older than the
    ranking retention (a row per lead per night). The leads, their records, every score version,
    the outcomes and the marts are never touched; the Prefect flow `retention-purge` does the
    same on a schedule."""
    from leadrank.warehouse.engine import make_engine
    from leadrank.warehouse.retention import purge, rank_retention_days, retention_days

    try:
        keep, keep_ranks = retention_days(days), rank_retention_days(rank_days)
    except ValueError as exc:
        fail(str(exc))
    result = purge(make_engine(warehouse), keep, rank_days=keep_ranks, dry_run=dry_run)
    verb = "would purge" if dry_run else "purged"
    rows = sum(result.staging_rows.values())
    console.print(f"{verb} {len(result.run_dirs)} run directories, {result.http_cache_files} HTTP cache entries "
                  f"({result.bytes_freed / 1e6:.1f} MB) and {rows} staging rows of runs started before {result.cutoff}")
    for table, count in result.staging_rows.items():
        if count:
            console.print(f"  {table}: {count}")
    console.print(f"{verb} the rankings of {len(result.rankings)} published runs ({result.ranking_rows} rows) "
                  f"started before {result.rank_cutoff}")


@db_app.command("vacuum")
def db_vacuum(
    full: Annotated[bool, typer.Option("--full", help="PostgreSQL: rewrite each table (VACUUM FULL) to give the space back to the operating system; each table is locked against reads while it is rewritten, and skipped if its lock does not come within --lock-wait.")] = False,
    lock_wait: Annotated[float, typer.Option("--lock-wait", min=0.1, help="PostgreSQL --full: seconds each table waits for its lock.")] = 5.0,
    warehouse: WarehouseOpt = None,
) -> None:
    """Give back the space that `db purge` freed (purged rows leave free pages behind).

    SQLite: rewrites the file without its free pages (needs free disk for two copies of the
    warehouse's live pages, checked before it starts; an older warehouse also gets leadrank's
    larger pages when nothing else has it open). PostgreSQL: VACUUM (ANALYZE) of the
    warehouse's tables, which makes the space reusable without locking anyone out; --full
    returns it to the operating system."""
    from leadrank.warehouse.engine import make_engine
    from leadrank.warehouse.vacuum import VacuumError, vacuum

    try:
        with console.status("vacuuming the warehouse"):
            result = vacuum(make_engine(warehouse), full=full, lock_wait=lock_wait)
    except VacuumError as exc:
        fail(str(exc))
    console.print(f"warehouse {result.bytes_before / 1e6:.1f} MB -> {result.bytes_after / 1e6:.1f} MB")
    if result.page_size_before is not None and result.page_size_after != result.page_size_before:
        console.print(f"page size {result.page_size_before} -> {result.page_size_after} bytes")
    if result.note:
        err.print(f"[yellow]note:[/] {plain(result.note)}")
    if result.skipped:
        err.print(f"[yellow]skipped (busy, lock not taken within {lock_wait:g} s):[/] {', '.join(result.skipped)}")
