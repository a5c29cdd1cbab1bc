"""Shared pieces of the command line: consoles, common options, error exits."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from leadrank.paths import DEMO_CONFIG

console = Console()
err = Console(stderr=True)


def command_group(help_text: str, **settings: Any) -> typer.Typer:
    """A command group as all of leadrank's are: bare, it shows its help; help text is Markdown,
    so a docstring's wrapped lines join into one paragraph at any terminal width (Typer's "rich"
    mode keeps every source line break after the first paragraph) and `names` render as code."""
    return typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode="markdown", **settings)


ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Sources file (YAML). Default: the bundled offline demo.")]
def _usable_warehouse(value: str | None) -> str | None:
    """Refuse an unusable warehouse URL (--warehouse, else the environment's) before the command
    runs, with a message that never repeats the URL: it may hold a password."""
    from leadrank.warehouse.engine import WarehouseUrlError, warehouse_url

    try:
        warehouse_url(value)
    except WarehouseUrlError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


WarehouseOpt = Annotated[
    str | None,
    typer.Option("--warehouse", "-w", help="SQLAlchemy URL of the warehouse (else $LEADRANK_WAREHOUSE_URL, else "
                 "$LEADRANK_PG_HOST and the other LEADRANK_PG_* variables, else data/leadrank.db); the password "
                 "is best left out of it, in $LEADRANK_PG_PASSWORD.", show_default=False, callback=_usable_warehouse),
]
DEFAULT_CONFIG = DEMO_CONFIG


def parse_maps(maps: list[str], left: str) -> list[tuple[str, str]]:
    """`--map LEFT=FIELD` options as (left, field) pairs: the column or header named at the left
    of the last '=' (a header may hold one), the leadrank field at the right."""
    pairs = []
    for item in maps:
        column, sep, field = item.rpartition("=")
        if not sep or not column or not field:
            raise typer.BadParameter(f"--map takes {left}=FIELD, got {item!r}")
        pairs.append((column, field.strip()))
    return pairs


def auc_in_words(auc: object, validation: object) -> str:
    """A validated AUC with what it was measured on: "0.8 (3 later blocks)", "0.87 (5-fold CV)"
    (leadrank.scoring.model's validation names; "later 25 %" for versions stored before
    7 December 2026); the AUC alone for any other name."""
    how = re.fullmatch(r"time_(\d+)_later_blocks|stratified_(\d+)fold_cv|(time_split_75_25)", str(validation or ""))
    if auc is None or how is None:
        return str(auc)
    return f"{auc} ({f'{how[1]} later blocks' if how[1] else f'{how[2]}-fold CV' if how[2] else 'later 25 %'})"


def plain(value: object) -> str:
    """A value shown as it is: company names, reasons and URLs come from the web, and a name such
    as `[/]` or `[link=…]` must print as text, not be read as Rich markup (or crash the print)."""
    return "" if value is None else escape(str(value))


def warehouse_for_flow(warehouse: str | None) -> None:
    """Give a flow that runs in this process the --warehouse URL through LEADRANK_WAREHOUSE_URL,
    never as a flow parameter: Prefect stores parameters and shows them in its UI, and the URL
    may hold a password."""
    from leadrank.warehouse.engine import ENV_VAR

    if warehouse:
        os.environ[ENV_VAR] = warehouse


# Prefect's ephemeral server gets 20 s to start by default; the first start in a new
# PREFECT_HOME also creates its database, which on a busy two-core machine took longer, and the
# first `leadrank run` of a fresh clone failed with "Timed out while attempting to connect to
# ephemeral Prefect API server".
EPHEMERAL_STARTUP_SECONDS = 180


def prefect_defaults() -> None:
    """Settings for a command that runs a flow in this process, unless the user set them: must run
    before Prefect is imported (it reads its settings then). leadrank's own loggers go to Prefect's
    log; the ephemeral server sends no telemetry (offline it would log an error) and has time to
    start."""
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "leadrank")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(EPHEMERAL_STARTUP_SECONDS))


def fail(message: str, code: int = 1) -> None:
    """Print a clear error and exit; never a traceback for a user mistake."""
    err.print(f"[bold red]error:[/] {plain(message)}")
    raise typer.Exit(code)
