"""The rules in force: WEFT_POLICIES, WEFT_POLICY_FILE and the enabled Policy rows, read together.

A process keeps what it read for WEFT_POLICY_CACHE_SECONDS (a submission must not cost a query for the
rules), forgets it at once when this process saves a Policy row or the settings change; another process
sees a change within that time. A submission never runs under rules that fail to parse: they are refused
at ``check`` time and at save, and if a file is broken later, submissions are refused naming it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save

from .. import conf
from ..conf import settings
from ..exceptions import InvalidInput
from ..models import Policy
from .conflicts import Conflict, conflicts
from .rules import check_unique, parse_rule, parse_rules
from .schema import Rule
from .yamlfile import parse_file

_cache: tuple[object, float, list[Rule]] | None = None


def configured() -> list[Rule]:
    """The rules of the settings and of the file (no database)."""
    rules = parse_rules(settings.POLICIES or [], "WEFT_POLICIES", source="settings")
    if settings.POLICY_FILE:
        rules += parse_file(settings.POLICY_FILE)
    return rules


def row_rule(row: Policy | Mapping[str, Any], path: str = "") -> Rule:
    """A Policy row (or the fields of one) as a rule; InvalidInput names the field (``effects.timeout``)."""
    data = row if isinstance(row, Mapping) else {
        "name": row.name, "reason": row.reason, "match": row.match, "effects": row.effects}
    return parse_rule({k: data[k] for k in ("name", "reason", "match", "effects") if k in data}, path, source="admin")


def stored() -> list[Rule]:
    """The enabled Policy rows, as rules. A row that no longer parses (written round the admin's checks)
    raises its error: no submission runs under half the rules."""
    return [row_rule(p, f"policy {p.name!r}") for p in Policy.objects.filter(enabled=True).order_by("name")]


def rules() -> list[Rule]:
    """Every rule in force, cached (see the module's docstring)."""
    global _cache
    src, now = conf.source(), time.monotonic()
    if _cache is not None and _cache[0] is src and now - _cache[1] < float(settings.POLICY_CACHE_SECONDS):
        return _cache[2]
    found = configured() + stored()
    check_unique(found)
    _cache = (src, now, found)
    return found


def forget(**kwargs: Any) -> None:
    global _cache
    _cache = None


setting_changed.connect(forget, dispatch_uid="weft_policy_forget_settings")
post_save.connect(forget, sender=Policy, dispatch_uid="weft_policy_forget_save")
post_delete.connect(forget, sender=Policy, dispatch_uid="weft_policy_forget_delete")


def check_row(data: Mapping[str, Any], pk: int | None = None) -> Rule:
    """A Policy row's fields, checked before it is saved: the rule parses (InvalidInput names the field),
    its name is free, and it conflicts with no rule of its scope (InvalidInput on ``effects``)."""
    rule = row_rule(data)
    rows = Policy.objects.filter(enabled=True)
    others = configured() + [row_rule(p) for p in (rows if pk is None else rows.exclude(pk=pk))]
    for other in others:
        if other.name == rule.name:
            raise InvalidInput("name", f"{rule.name!r} is already the name of a policy ({other.where})")
    if data.get("enabled", True):
        for c in conflicts([rule, *others]):
            if rule in (c.first, c.second):
                raise InvalidInput("effects", str(c))
    return rule


def validate(rules_: Iterable[Rule]) -> list[Conflict]:
    """The conflicts among ``rules_`` (each a problem validation reports)."""
    return conflicts(list(rules_))
