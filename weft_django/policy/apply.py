"""What a verdict changes in a resolved task and in its job's budget (pure, no Django).

A cap lowers a value above it and sets one left unlimited (no limit is above every cap); a route or a
priority replaces the task's. Each change names the rule that made it, for the decision record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..capabilities import base_queue, routed_queue
from .engine import Effect, Verdict


@dataclass(frozen=True)
class Change:
    field: str
    before: Any
    after: Any
    effect: Effect

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "from": self.before, "to": self.after}


def _capped(before: Any, cap: Any) -> bool:
    return before is None or before > cap


def apply_task(verdict: Verdict, fields: Mapping[str, Any]) -> tuple[dict[str, Any], list[Change]]:
    """The task's resolved fields (``limits``, ``timeout``, ``queue``, ``priority``) with the verdict's
    caps, route and priority applied; and the changes, one per field that changed."""
    out = {**fields, "limits": dict(fields.get("limits") or {})}
    changes: list[Change] = []
    for key, effect in sorted(verdict.effects.items()):
        if key.startswith("limits."):
            name = key.removeprefix("limits.")
            before = out["limits"].get(name)
            if _capped(before, effect.value):
                out["limits"][name] = effect.value
                changes.append(Change(key, before, effect.value, effect))
        elif key == "timeout" and _capped(out.get("timeout"), effect.value):
            changes.append(Change(key, out.get("timeout"), effect.value, effect))
            out["timeout"] = effect.value
        elif key == "queue" and base_queue(out.get("queue") or "") != effect.value:
            # Routed again: a task that requires capabilities goes to the new queue's routed queue (capabilities.py).
            changes.append(Change(key, base_queue(out.get("queue") or ""), effect.value, effect))
            out["queue"] = routed_queue(effect.value, out.get("capabilities") or ())
        elif key == "priority" and out.get(key) != effect.value:
            changes.append(Change(key, out.get(key), effect.value, effect))
            out[key] = effect.value
    return out, changes


def apply_budget(verdicts: Iterable[Verdict], budget: Mapping[str, Any]) -> tuple[dict[str, Any], list[Change]]:
    """The job's budget (``max_cost``, ``max_attempts``, ``max_tokens``) under the lowest cap any of its tasks'
    verdicts set."""
    out = dict(budget)
    changes: dict[str, Change] = {}
    for verdict in verdicts:
        for key, effect in verdict.effects.items():
            if not key.startswith("budget."):
                continue
            name = key.removeprefix("budget.")
            if _capped(out.get(name), effect.value):
                first = changes[key].before if key in changes else out.get(name)
                out[name] = effect.value
                changes[key] = Change(key, first, effect.value, effect)
    return out, list(changes.values())
