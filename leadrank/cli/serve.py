"""`leadrank serve`: serve the nightly and weekly schedules from this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leadrank.cli.common import console, fail, prefect_defaults


def serve(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="prefect.yaml to serve (default: the clone's).",
                                              show_default=False)] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA timezone for every schedule, instead of prefect.yaml's "
                                                      "(Asia/Shanghai).", show_default=False)] = None,
) -> None:
    """Serve the deployments of prefect.yaml (nightly-refresh, weekly-retrain and retention-purge,
    with their cron schedules) from this machine until Ctrl-C: the one-command alternative to a
    work pool and a worker. Needs a Prefect server (PREFECT_API_URL); runs appear in its UI like
    any other. Schedules are paused when serving stops."""
    prefect_defaults()
    from leadrank.flows.serve import ServeError, has_api_server, project_file
    from leadrank.flows.serve import serve as serve_deployments

    if timezone:
        from zoneinfo import available_timezones

        if timezone not in available_timezones():
            fail(f"unknown timezone {timezone!r} (use an IANA name such as Asia/Shanghai)")
    if not has_api_server():
        console.print("[yellow]PREFECT_API_URL is not set:[/] serving against a temporary local server whose runs no "
                      "UI shows; start `prefect server start` and export PREFECT_API_URL first (see README)")
    try:
        path = project_file(file)
        console.print(f"serving the deployments of {path}" + (f" in {timezone}" if timezone else ""))
        serve_deployments(path, timezone)
    except ServeError as exc:
        fail(str(exc))
