"""`leadrank serve`: the deployments of prefect.yaml, served from this machine without a work pool.

prefect.yaml stays the one place where schedules, parameters and limits are written: this module
reads its deployments and serves the same flows on the same cron schedules (the flows run as
subprocesses of the serving process, in the clone's directory, as a worker's pull step would).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from leadrank.flows.steps import checkout_dir


class ServeError(ValueError):
    """prefect.yaml is missing or declares something `leadrank serve` cannot serve."""


def project_file(explicit: Path | None = None) -> Path:
    """prefect.yaml: the given one, else the working directory's, else this machine's clone's."""
    if explicit is not None:
        if not explicit.is_file():
            raise ServeError(f"{explicit} does not exist")
        return explicit.resolve()
    for candidate in (Path.cwd() / "prefect.yaml", checkout_dir() / "prefect.yaml"):
        if candidate.is_file():
            return candidate.resolve()
    raise ServeError("no prefect.yaml here or in the leadrank clone; run from a clone of the repository or pass --file")


def deployment_specs(path: Path) -> list[dict[str, Any]]:
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ServeError(f"cannot read {path}: {exc}") from None
    deployments = spec.get("deployments") or []
    if not deployments:
        raise ServeError(f"{path} declares no deployments")
    return deployments


def runner_deployments(path: Path, timezone: str | None = None) -> list[Any]:
    """One RunnerDeployment per deployment in prefect.yaml, with its schedules (their timezone
    replaced by `timezone` when given), parameters, description, tags and concurrency limit.
    Entrypoints are resolved against the file's directory, which must be the working directory."""
    from prefect.flows import load_flow_from_entrypoint
    from prefect.schedules import Cron

    root = path.parent
    if Path.cwd().resolve() != root:
        raise ServeError(f"serve from {root} (the directory of {path.name}), where the entrypoints are")
    served = []
    for spec in deployment_specs(path):
        name, entrypoint = spec.get("name"), spec.get("entrypoint")
        if not name or not entrypoint:
            raise ServeError(f"{path}: every deployment needs a name and an entrypoint")
        schedules = []
        for schedule in spec.get("schedules") or []:
            if "cron" not in schedule:
                raise ServeError(f"{path}: deployment {name}: only cron schedules are served")
            schedules.append(Cron(schedule["cron"], timezone=timezone or schedule.get("timezone"),
                                  active=schedule.get("active", True)))
        flow = load_flow_from_entrypoint(entrypoint)
        served.append(flow.to_deployment(
            name=name,
            schedules=schedules,
            parameters=spec.get("parameters") or {},
            description=spec.get("description"),
            tags=spec.get("tags"),
            concurrency_limit=spec.get("concurrency_limit"),
        ))
    return served


def has_api_server() -> bool:
    """Whether PREFECT_API_URL names a server (else serving runs against a temporary local one
    whose runs no UI shows); asked here so that the command line never imports Prefect."""
    from prefect.settings import get_current_settings

    return bool(get_current_settings().api.url)


def serve(path: Path, timezone: str | None = None) -> None:
    """Serve every deployment of `path` until interrupted (schedules are paused on shutdown)."""
    from prefect import serve as prefect_serve

    os.chdir(path.parent)
    prefect_serve(*runner_deployments(path, timezone))
