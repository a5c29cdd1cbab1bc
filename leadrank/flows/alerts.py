"""Failure alerts: when a leadrank flow run fails or crashes, tell someone through a Prefect block.

Set LEADRANK_ALERT_BLOCK to `<block-type-slug>/<block-name>` on the worker (or wherever flows run):

- `webhook/<name>` (prefect.blocks.webhook.Webhook): receives the JSON payload below as is;
- any notification block, e.g. `custom-webhook/<name>` (DingTalk, WeCom, Feishu bots take a
  JSON template there), `slack-webhook/<name>`, `ms-teams-webhook/<name>`: receives a subject and a
  text body saying the same.

Payload: {"event": "leadrank.flow-run.failed", "flow", "flow_run" (its name), "flow_run_id",
"state", "failed_step", "reason", "run_id", "url"}. The flow records the step it is in as it
goes, so a crash (killed process, lost worker) still names the step it was in. A failing alert
is logged and never hides the run's own failure.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

ALERT_BLOCK_ENV = "LEADRANK_ALERT_BLOCK"
_STEP_IN_MESSAGE = re.compile(r"step '([\w-]+)' failed")

log = logging.getLogger("leadrank.alerts")
# flow run id -> (current step, leadrank run id), written by the flow as it goes.
_progress: dict[str, tuple[str, str | None]] = {}


class StepFailed(RuntimeError):
    """A step of a run failed; names the step so that the state message and the alert say it."""

    def __init__(self, message: str, step: str, run_id: str | None = None):
        super().__init__(message)
        self.step, self.run_id = step, run_id

    @classmethod
    def of(cls, step: str, cause: BaseException, run_id: str | None = None) -> StepFailed:
        return cls(f"step '{step}' failed: {type(cause).__name__}: {cause}", step, run_id)

    def __reduce__(self) -> tuple[Any, ...]:  # picklable, for Prefect's result and state handling
        return (type(self), (str(self), self.step, self.run_id))


def entering(flow_run_id: str, step: str, run_id: str | None = None) -> None:
    """Record the step a flow run is in (what an alert names if the run fails or crashes now)."""
    _progress[flow_run_id] = (step, run_id)


def failure_payload(flow: Any, flow_run: Any, state: Any) -> dict[str, Any]:
    message = state.message or ""
    recorded_step, run_id = _progress.get(str(flow_run.id), (None, None))
    match = _STEP_IN_MESSAGE.search(message)
    return {
        "event": "leadrank.flow-run.failed",
        "flow": flow.name,
        "flow_run": flow_run.name,
        "flow_run_id": str(flow_run.id),
        "state": state.name,
        "failed_step": match.group(1) if match else recorded_step or "unknown",
        "reason": message,
        "run_id": run_id,
        "url": _ui_url(flow_run),
    }


def _ui_url(flow_run: Any) -> str | None:
    from prefect.utilities.urls import url_for

    try:
        return url_for(flow_run)
    except Exception:  # noqa: BLE001 - no UI URL configured (ephemeral mode)
        return None


def send(block_name: str, payload: dict[str, Any]) -> None:
    """Deliver `payload` through the named block (see the module docstring for the kinds)."""
    from prefect.blocks.core import Block
    from prefect.blocks.notifications import NotificationBlock
    from prefect.blocks.webhook import Webhook
    from prefect.utilities.asyncutils import run_coro_as_sync

    block = Block.load(block_name)
    if isinstance(block, Webhook):
        response = run_coro_as_sync(block.call(payload))
        response.raise_for_status()
    elif isinstance(block, NotificationBlock):
        subject = f"leadrank {payload['flow']} failed at step {payload['failed_step']}: {payload['flow_run']}"
        body = "\n".join(f"{key}: {value}" for key, value in payload.items() if value is not None)
        block.notify(body=body, subject=subject)
    else:
        raise TypeError(f"block {block_name} is a {type(block).__name__}, not a webhook or notification block")


def notify_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow hook (on_failure, on_crashed): alert through LEADRANK_ALERT_BLOCK when it is set."""
    payload = failure_payload(flow, flow_run, state)
    _progress.pop(str(flow_run.id), None)
    block_name = os.environ.get(ALERT_BLOCK_ENV)
    if not block_name:
        log.info("flow run %s failed at step %s; no alert sent (%s is not set)", flow_run.name,
                 payload["failed_step"], ALERT_BLOCK_ENV)
        return
    try:
        send(block_name, payload)
    except Exception as exc:  # noqa: BLE001 - the alert must not mask the failure it reports
        log.error("could not send the failure alert through %s: %s: %s", block_name, type(exc).__name__, exc)
    else:
        log.info("failure alert for flow run %s sent through %s", flow_run.name, block_name)


def forget(flow_run_id: str) -> None:
    """Drop a finished flow run's progress record."""
    _progress.pop(flow_run_id, None)
