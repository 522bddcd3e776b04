"""System checks of the limits in the settings: WEFT_SKILL_LIMITS and WEFT_QUEUE_CONCURRENCY (weft.E060-W064).

A skill's own limits and locks are refused when it registers (registry.py); the Skill rows' are checked
when saved in the admin (service.check_skill_limits).
"""

from __future__ import annotations

from typing import Any

from django.core import checks

from .. import gates, registry
from ..conf import settings
from ..exceptions import WeftError

HINT = ('e.g. WEFT_SKILL_LIMITS = {"app.skill": {"concurrency": 5, "rate": "10/m"}}; '
        'a keyed one: {"key": "{tenant_id}", "limit": 2}. See docs/governance.md.')


def check_limits(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """WEFT_SKILL_LIMITS (E060-E062, W064) and WEFT_QUEUE_CONCURRENCY (E063)."""
    errors: list[checks.CheckMessage] = []
    limits = settings.SKILL_LIMITS
    if not isinstance(limits, dict):
        return [checks.Error(f"WEFT_SKILL_LIMITS must be a dict by skill name, got {type(limits).__name__}.",
                             hint=HINT, id="weft.E060")]
    for name, entry in limits.items():
        where = f"WEFT_SKILL_LIMITS[{name!r}]"
        if not isinstance(entry, dict) or set(entry) - {"concurrency", "rate"}:
            errors.append(checks.Error(f"{where} must be a dict with 'concurrency' and/or 'rate', got {entry!r}.",
                                       hint=HINT, id="weft.E060"))
            continue
        for field, parse, code in (("concurrency", gates.parse_concurrency, "weft.E061"),
                                   ("rate", gates.parse_rate, "weft.E062")):
            try:
                parse(entry.get(field), f"{where}.{field}")
            except WeftError as exc:
                errors.append(checks.Error(f"{exc}", hint=HINT, id=code))
    known = {d.name for d in registry.all_skills()}
    for name in sorted(set(limits) - known):
        errors.append(checks.Warning(f"WEFT_SKILL_LIMITS names {name!r}, which no registered skill is called.",
                                     hint="Check the spelling: the limits of an unknown name apply to nothing.",
                                     id="weft.W064"))
    queues = settings.QUEUE_CONCURRENCY
    if not isinstance(queues, dict) or any(
            not isinstance(q, str) or isinstance(n, bool) or not isinstance(n, int) or n < 1
            for q, n in queues.items()):
        errors.append(checks.Error(f"WEFT_QUEUE_CONCURRENCY must map queue names to whole numbers of at least 1, "
                                   f"got {queues!r}.", hint='e.g. {"slow": 4}', id="weft.E063"))
    return errors
