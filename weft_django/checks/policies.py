"""System checks of the policy rules in the settings and the policy file (weft.E070-E074): a malformed
rule is refused before anything runs under it (the Policy rows are checked when they are saved)."""

from __future__ import annotations

from typing import Any

from django.core import checks

from ..conf import settings
from ..exceptions import InvalidInput
from ..policy.conflicts import conflicts
from ..policy.rules import check_unique, parse_rules
from ..policy.schema import Rule
from ..policy.yamlfile import parse_file

HINT = "See docs/governance.md; `manage.py weft_policy validate` shows every problem."


def check_policies(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    cache = settings.POLICY_CACHE_SECONDS
    if isinstance(cache, bool) or not isinstance(cache, int | float) or not 0 <= cache < float("inf"):
        errors.append(checks.Error(f"WEFT_POLICY_CACHE_SECONDS must be a number of seconds of 0 or more, got "
                                   f"{cache!r}.", hint="How long a process keeps the rules it read.", id="weft.E074"))
    rules: list[Rule] = []
    try:
        rules += parse_rules(settings.POLICIES or [], "WEFT_POLICIES")
    except InvalidInput as exc:
        errors.append(checks.Error(f"WEFT_POLICIES is invalid: {exc}", hint=HINT, id="weft.E070"))
    if settings.POLICY_FILE:
        try:
            rules += parse_file(settings.POLICY_FILE)
        except InvalidInput as exc:
            errors.append(checks.Error(f"WEFT_POLICY_FILE {settings.POLICY_FILE!r} is invalid: {exc}", hint=HINT,
                                       id="weft.E071"))
    try:
        check_unique(rules)
    except InvalidInput as exc:
        errors.append(checks.Error(str(exc.message), hint="Give each rule its own name.", id="weft.E072"))
    errors += [checks.Error(f"Conflicting policies: {c}", hint="Rules of one scope must not disagree on a "
                            "task both match; make one more specific.", id="weft.E072") for c in conflicts(rules)]
    queues = settings.QUEUES
    for rule in rules:
        queue = rule.effects.get("queue")
        if queue is not None and isinstance(queues, list | tuple) and queue not in queues:
            errors.append(checks.Error(
                f"Policy {rule.name!r} ({rule.where}) routes tasks to queue {queue!r}, which is not in "
                f"WEFT_QUEUES {list(queues)!r}.", hint="Add the queue to WEFT_QUEUES, or route elsewhere.",
                id="weft.E073"))
    return errors
