"""Prefect Secret blocks as a secret store for sources: `api_key: {secret: brave-api-key}` in the
sources file reads the block `brave-api-key` when the source runs.

Stage code never imports Prefect; it asks `leadrank.config.resolve_secret`, and this module
registers the Prefect store there when `leadrank.flows` is imported (by the flows and the CLI).
Prefect itself is imported only when a secret is actually looked up, so `--help` stays quick.

Not named `secrets`: Prefect runs a deployment by loading its entrypoint's file
(leadrank/flows/nightly.py), which puts this folder first on the flow run's sys.path, where a
`secrets.py` hid the standard library's from every worker process the run started. Normalising's
and staging's workers then failed to import numpy and the night ran them in one process
(tests/test_layers.py checks that no module of an entrypoint's folder has a standard name).
"""

from __future__ import annotations

from leadrank.config import register_secret_resolver

STORE_NAME = "prefect-secret-block"


def prefect_secret(name: str) -> str | None:
    """The value of the Secret block `name`, as stored (not JSON-decoded: a key of digits stays
    a string); None when no such block exists."""
    from prefect.blocks.system import Secret

    try:
        block = Secret.load(name)
    except ValueError:  # Prefect: "Unable to find block document named …"
        return None
    value = block.value.get_secret_value()
    return value if isinstance(value, str) else str(value)


def register() -> None:
    register_secret_resolver(STORE_NAME, prefect_secret)
