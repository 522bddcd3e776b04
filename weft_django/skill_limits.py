"""A skill's limits in force, and what a new task must pass at claim (its gates and locks).

The limits of a skill are its code's (``@skill(concurrency=..., rate=...)``), over which WEFT_SKILL_LIMITS,
then the Skill row's ``concurrency``/``rate`` (edited in the admin) each replace what they set. The row's
are read once for all skills and kept ``ROW_TTL`` seconds (a submission must not cost a query more), so an
edit applies within a few seconds: to tasks submitted after it, and at claim (``live``) to the queued tasks
already under that skill's or queue's limit, which take the limit in force instead of the one they were
submitted with. A task submitted while its skill had no limit at all is not governed and keeps running free
(the fast claim does not look for limits: that is what keeps skills without limits as fast as before).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from django.core.signals import setting_changed

from . import gates, registry
from .conf import settings
from .exceptions import UnknownSkill
from .gates import ConcurrencyLimit, RateLimit
from .registry import SkillDef

ROW_TTL = 5.0
Overrides = Mapping[tuple[str, str], Mapping[str, Any]]
_rows: tuple[float, dict[tuple[str, str], dict[str, Any]]] = (0.0, {})
_lock = threading.Lock()


def forget(**kwargs: Any) -> None:
    """Read the Skill rows' overrides again at the next use (after an edit in this process, and in tests)."""
    global _rows
    _rows = (0.0, {})


setting_changed.connect(forget, dispatch_uid="weft_skill_limits_forget")


def row_overrides() -> dict[tuple[str, str], dict[str, Any]]:
    """(name, version) -> the Skill row's ``concurrency``/``rate`` where an operator set one."""
    global _rows
    at, rows = _rows
    if time.monotonic() - at < ROW_TTL:
        return rows
    from .models import Skill

    with _lock:
        fresh = {(n, v): {"concurrency": c, "rate": r} for n, v, c, r in Skill.objects.exclude(
            concurrency__isnull=True, rate__isnull=True).values_list("name", "version", "concurrency", "rate")}
        _rows = (time.monotonic(), fresh)
    return fresh


def effective(d: SkillDef, overrides: Overrides | None = None
              ) -> tuple[tuple[ConcurrencyLimit, ...], tuple[RateLimit, ...]]:
    """The concurrency and rate limits of skill ``d`` in force: row (of ``overrides``) over setting over code."""
    concurrency, rate = d.concurrency, d.rate
    for where, source in ((f"WEFT_SKILL_LIMITS[{d.name!r}]", settings.SKILL_LIMITS.get(d.name)),
                          (f"Skill row {d.name}@{d.version}", (overrides or {}).get((d.name, d.version)))):
        if not source:
            continue
        if source.get("concurrency") is not None:
            concurrency = gates.parse_concurrency(source["concurrency"], f"{where}.concurrency")
        if source.get("rate") is not None:
            rate = gates.parse_rate(source["rate"], f"{where}.rate")
    return concurrency, rate


def live(skill: str, queue: str, concurrency: Mapping[str, int]) -> dict[str, int]:
    """A governed task's concurrency keys with the skill's and the queue's limits in force now (an operator's
    edit applies to tasks already queued); a keyed limit (``key:...``) keeps the one it was submitted with."""
    out = dict(concurrency)
    own, by_queue = f"skill:{skill}", f"queue:{queue}"
    if own in out:
        try:
            current = next((c.limit for c in effective(registry.get(skill), row_overrides())[0] if c.key is None), None)
        except UnknownSkill:  # unregistered since: the claim fails it later; keep the limit it came with
            current = out[own]
        if current is None:
            del out[own]
        else:
            out[own] = current
    if by_queue in out:
        limit = settings.QUEUE_CONCURRENCY.get(queue)
        if limit is None:
            del out[by_queue]
        else:
            out[by_queue] = limit
    return out


def task_fields(d: SkillDef, queue: str, locks: list[str], params: Mapping[str, Any], prefix: str,
                overrides: Overrides | None) -> dict[str, Any]:
    """A new task's ``locks`` (filled from params), ``gates`` and ``governed``; InvalidInput naming the param
    a key or a lock needs. Cheap for a skill without any: no template is rendered."""
    concurrency, rate = effective(d, overrides)
    queue_limit = settings.QUEUE_CONCURRENCY.get(queue)
    if not (concurrency or rate or locks or queue_limit):
        return {"locks": [], "gates": {}, "governed": False}
    rendered = gates.render_locks(locks, params, prefix) if locks else []
    found = gates.gates(d.name, concurrency, rate, queue, queue_limit, params, prefix)
    return {"locks": rendered, "gates": found, "governed": True}
