"""Deployment steps used by prefect.yaml.

`use_checkout` is the pull step of every leadrank deployment: a worker runs the flow from its
own clone of this repository, so nothing of the deploying machine (no path, no URL) is stored
in the deployment. Each worker machine clones the repository and installs it (`make test` or
`pip install -e .` in the clone); the step then finds that clone through the installed package.
"""

from __future__ import annotations

import os
from pathlib import Path

from leadrank.paths import PACKAGE_DIR

HOME_ENV = "LEADRANK_HOME"


def checkout_dir() -> Path:
    """This machine's clone: LEADRANK_HOME if set, else the one the leadrank package is installed from."""
    return Path(os.environ.get(HOME_ENV) or PACKAGE_DIR.parent).resolve()


def use_checkout() -> dict[str, str]:
    """Pull step: change into this machine's clone of the repository (where the entrypoints are)."""
    directory = checkout_dir()
    if not (directory / "prefect.yaml").is_file():
        raise FileNotFoundError(
            f"{directory} is not a clone of the leadrank repository (no prefect.yaml): install leadrank from a "
            f"clone (pip install -e .) or set {HOME_ENV} to the clone's directory on this worker")
    os.chdir(directory)
    return {"directory": str(directory)}
