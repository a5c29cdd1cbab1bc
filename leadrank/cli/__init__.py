"""The `leadrank` command line: one Typer app assembled from the command modules.

  leadrank run       one nightly refresh (a Prefect flow; ephemeral unless PREFECT_API_URL is set)
  leadrank check     validate a sources file and the files it names, without fetching
  leadrank top       the published ranked list
  leadrank export    the ranked list to CSV or XLSX
  leadrank report    a one-page HTML report with charts
  leadrank outcomes  import won / lost outcomes from a CRM export
  leadrank suppress  do-not-contact entries
  leadrank dedupe    entity resolution alone, on any CSV of prospects
  leadrank extract   run configured sources and write what they yield
  leadrank db        schema, sales access and retention
  leadrank serve     serve the nightly and weekly schedules of prefect.yaml from this machine
  leadrank model     the outcome model: evaluate on a CRM export, retrain, list versions
  leadrank --version the installed package's version

The warehouse is --warehouse, else LEADRANK_WAREHOUSE_URL, else data/leadrank.db (SQLite).
Commands import their heavy dependencies (Prefect, pandas) only when they run, so --help is quick.
The command line sits above leadrank.flows (it launches the flows); the flows never import it.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from leadrank.cli import check, data, model, outcomes, run, serve, suppress, warehouse
from leadrank.cli.common import command_group, err, fail
from leadrank.flows import secret_blocks

# `{secret: NAME}` in a sources file is looked up in Prefect Secret blocks by every command
# (`leadrank extract` and `check` run no flow, so nothing else would register the store).
secret_blocks.register()

app = command_group(
    "leadrank: nightly B2B lead sourcing, deduplication and priority scoring into a SQL warehouse.",
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.command()(run.run)
app.command()(check.check)
app.command()(run.top)
app.command()(warehouse.export)
app.command()(warehouse.report)
app.command()(data.dedupe)
app.command()(data.extract)
app.add_typer(warehouse.db_app, name="db")
app.command()(serve.serve)
app.add_typer(model.model_app, name="model")
app.add_typer(outcomes.outcomes_app, name="outcomes")
app.add_typer(suppress.suppress_app, name="suppress")


def _print_version(wanted: bool) -> None:
    """The installed distribution's version (its metadata, the one pip resolved), so a bug report
    names exactly what was installed."""
    if not wanted:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("leadrank")
    except PackageNotFoundError:
        fail("leadrank is not installed as a package (pip install .), so it has no version")
    print(f"leadrank {installed}")
    raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[bool, typer.Option("--version", help="Print the installed version and exit.",
                                               callback=_print_version, is_eager=True)] = False,
) -> None:
    pass


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
