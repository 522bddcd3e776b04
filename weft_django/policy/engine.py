"""Matching rules and resolving their effects (pure, no Django).

Each effect (``deny``, ``limits.memory_mb``, ``queue`` ...) is resolved on its own: of the matching rules
that set it, those of the most specific scope decide (skill over queue or label over global). Rules of one
scope that disagree are a conflict: ``conflicts`` reports them for validation; at run time the strictest
value is taken (deny and approval over none, the lowest cap) or, for a choice (queue, priority, concurrency,
rate), the rule first by name, and the verdict names the conflict so its record shows it.
"""

from __future__ import annotations

import fnmatch
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .schema import Match, Rule, Window

CAPS = ("timeout",)  # and every limits.* / budget.*: the lowest wins a conflict


@dataclass(frozen=True)
class Subject:
    """What a rule is matched against: a task about to be submitted (or claimed) and who submits it."""

    skill: str
    queue: str = ""
    owner: str = ""
    groups: frozenset[str] = frozenset()
    labels: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    now: datetime | None = None


@dataclass(frozen=True)
class Effect:
    key: str
    value: Any
    rule: Rule
    conflict: tuple[str, ...] = ()  # the other rules of its scope that disagreed


@dataclass(frozen=True)
class Verdict:
    matched: tuple[Rule, ...]
    effects: Mapping[str, Effect]

    def get(self, key: str) -> Effect | None:
        return self.effects.get(key)

    @property
    def denied(self) -> Effect | None:
        e = self.effects.get("deny")
        return e if e is not None and e.value else None

    @property
    def approval(self) -> Effect | None:
        e = self.effects.get("require_approval")
        return e if e is not None and e.value else None


# ---------------------------------------------------------------- matching


def in_window(w: Window, when: datetime) -> bool:
    local = when.astimezone(ZoneInfo(w.tz))
    t, day = local.time().replace(tzinfo=None), local.weekday()
    if w.start < w.end:
        return day in w.days and w.start <= t < w.end
    # Past midnight (or a whole day when start == end): from start on a listed day to end the next day.
    return (day in w.days and t >= w.start) or ((day - 1) % 7 in w.days and t < w.end)


def window_end(w: Window, when: datetime) -> datetime:
    """The first moment after ``when`` outside the window (at most eight days on: a window of every
    hour of every day never ends, and that is where its task is looked at again)."""
    tz = ZoneInfo(w.tz)
    local = when.astimezone(tz)
    for d in range(9):
        day = (local + timedelta(days=d)).date()
        boundary = datetime.combine(day, w.end, tzinfo=tz)
        if boundary > local and not in_window(w, boundary):
            return boundary
    return when + timedelta(days=8)


def _compare(op: str, value: Any, operand: Any) -> bool:
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge, "lt": operator.lt,
        "le": operator.le, "in": lambda v, o: v in o, "not_in": lambda v, o: v not in o}
    if isinstance(value, bool) != isinstance(operand, bool) and op in ("gt", "ge", "lt", "le"):
        return False
    try:
        return bool(ops[op](value, operand))
    except TypeError:  # "abc" > 3: a param of another type does not match
        return False


_MISSING = object()


def _param_matches(params: Mapping[str, Any], name: str, op: str, operand: Any) -> bool:
    value = params.get(name, _MISSING)
    if op == "exists":
        return (value is not _MISSING) == bool(operand)
    if value is _MISSING:
        return op in ("ne", "not_in")
    return _compare(op, value, operand)


def matches(m: Match, s: Subject, *, ignore_time: bool = False) -> bool:
    """Whether ``m`` matches ``s``; a window only when ``s.now`` lies in it (always with ``ignore_time``)."""
    if m.skill and not any(fnmatch.fnmatchcase(s.skill, g) for g in m.skill):
        return False
    if (m.queue and s.queue not in m.queue) or (m.owner and s.owner not in m.owner):
        return False
    if m.group and not s.groups.intersection(m.group):
        return False
    if any(s.labels.get(k, _MISSING) not in values for k, values in m.labels):
        return False
    if not all(_param_matches(s.params, name, op, operand) for name, op, operand in m.params):
        return False
    if m.window is not None and not ignore_time:
        return s.now is not None and in_window(m.window, s.now)
    return True


# ---------------------------------------------------------------- resolving


def _strictest(key: str, found: list[tuple[Rule, Any]]) -> tuple[Rule, Any]:
    if key in ("deny", "require_approval"):
        return next(((r, v) for r, v in found if v), found[0])
    if key in CAPS or key.startswith(("limits.", "budget.")):
        return min(found, key=lambda rv: rv[1])
    return found[0]


def resolve(matched: Sequence[Rule]) -> dict[str, Effect]:
    """Each effect key's value: from the most specific scope that sets it (see the module's docstring)."""
    by_key: dict[str, list[Rule]] = {}
    for rule in sorted(matched, key=lambda r: r.name):
        for key in rule.effects:
            by_key.setdefault(key, []).append(rule)
    effects = {}
    for key, rules in by_key.items():
        top = max(r.rank for r in rules)
        found = [(r, r.effects[key]) for r in rules if r.rank == top]
        rule, value = _strictest(key, found)
        others = tuple(r.name for r, v in found if v != value)
        effects[key] = Effect(key, value, rule, others)
    return effects


def evaluate(rules: Iterable[Rule], subject: Subject) -> Verdict:
    matched = tuple(r for r in rules if matches(r.match, subject))
    return Verdict(matched, resolve(matched) if matched else {})


@dataclass(frozen=True)
class ClaimVerdict:
    """At claim: ``run``, or not (``until``: when it may, at the end of the rule's window; None: not while
    the rule stands)."""

    run: bool
    rule: str = ""
    scope: str = ""
    reason: str = ""
    until: datetime | None = None


def at_claim(rules: Iterable[Rule], subject: Subject) -> ClaimVerdict:
    """Whether a task may start now (``subject.now``): a deny in force now (a window that has opened since
    it was submitted, or a rule added since) holds it."""
    denied = evaluate(rules, subject).denied
    if denied is None:
        return ClaimVerdict(run=True)
    w = denied.rule.match.window
    assert subject.now is not None
    return ClaimVerdict(run=False, rule=denied.rule.name, scope=denied.rule.scope,
                        reason=denied.rule.reason or f"denied by policy {denied.rule.name!r}",
                        until=None if w is None else window_end(w, subject.now))


def claim_time(rules: Iterable[Rule], subject: Subject) -> bool:
    """Whether a rule with a window and a deny could hold this task at claim (whatever the time): the
    submission-time flag that tells the claim whether to evaluate at all."""
    return any(r.match.window is not None and r.effects.get("deny") and matches(r.match, subject, ignore_time=True)
               for r in rules)
