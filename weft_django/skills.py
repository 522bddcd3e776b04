"""weft's own skills (found like any app's ``skills`` module): the delivery of notifications."""

from __future__ import annotations

from typing import Any

from .notifications import NOTIFY, deliver, target_of
from .registry import skill


@skill(name=NOTIFY, retry={"max_attempts": 8, "backoff": 2.0, "factor": 2.0, "max_delay": 300.0}, timeout=60,
       params={"type": "object", "properties": {"subscription": {"type": ["integer", "null"]},
                                                 "setting": {"type": ["integer", "null"]},
                                                 "payload": {"type": "object"}}, "required": ["payload"]})
def notify(payload: dict[str, Any], subscription: int | None = None, setting: int | None = None) -> dict[str, Any]:
    """Deliver one job or task event to a subscription: a signed webhook, or an e-mail."""
    target, secret = target_of(subscription, setting)
    return deliver(target, secret, payload)
