"""A policy rule, parsed and checked (pure, no Django): what it matches and what it does.

Every error is an InvalidInput naming the field at fault (``policies[2].effects.timeout``), so the admin,
``weft_policy validate`` and the system checks all say where. Rules come as plain data::

    {"name": "gpu-office-hours", "reason": "...", "enabled": True,
     "match": {"skill": "gpu.*", "queue": "gpu", "owner": "ann", "group": "ml", "labels": {"team": "ml"},
               "params": {"size": {"gt": 100}}, "window": {"days": "mon-fri", "from": "09:00", "to": "17:00"}},
     "effects": {"deny": True, "require_approval": True, "limits": {"memory_mb": 2048}, "timeout": 600,
                 "budget": {"max_cost": 10}, "queue": "slow", "priority": 9,
                 "concurrency": 2, "rate": "10/m"}}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..exceptions import InvalidInput

NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}\Z")
BUILTIN_PREFIX = "builtin."
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OPS = ("eq", "ne", "gt", "ge", "lt", "le", "in", "not_in", "exists")
RATE_RE = re.compile(r"^\d+(\.\d+)?/(s|m|h|d)\Z")
MATCH_KEYS = ("skill", "queue", "owner", "group", "labels", "params", "window")
EFFECT_KEYS = ("deny", "require_approval", "limits", "timeout", "budget", "queue", "priority", "concurrency", "rate")
BUDGET_KEYS = ("max_cost", "max_attempts", "max_tokens")

# Scopes, least to most specific: a rule naming a skill is about that skill; one naming a queue or
# labels is about a class of work; one naming neither is global. Owner, group, params and a window
# narrow a rule without changing its scope.
SCOPES = {"global": 0, "queue": 1, "label": 1, "skill": 2}


@dataclass(frozen=True)
class Window:
    """Days of the week and a time of day (``start`` <= t < ``end``; past midnight when end <= start)."""

    days: frozenset[int]
    start: time
    end: time
    tz: str = "UTC"


@dataclass(frozen=True)
class Match:
    skill: tuple[str, ...] = ()
    queue: tuple[str, ...] = ()
    owner: tuple[str, ...] = ()
    group: tuple[str, ...] = ()
    labels: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    params: tuple[tuple[str, str, Any], ...] = ()  # (name, op, operand)
    window: Window | None = None


@dataclass(frozen=True)
class Rule:
    """One rule: ``effects`` flattened (``limits.memory_mb``, ``budget.max_cost``) so each resolves alone."""

    name: str
    match: Match
    effects: Mapping[str, Any]
    reason: str = ""
    source: str = "settings"  # builtin | settings | file | admin
    line: int | None = None  # in the policy file
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def scope(self) -> str:
        m = self.match
        return "skill" if m.skill else "queue" if m.queue else "label" if m.labels else "global"

    @property
    def rank(self) -> int:
        return SCOPES[self.scope]

    @property
    def where(self) -> str:
        """Where it was declared, for a message: ``file line 12``, ``settings``, ``admin``."""
        return f"{self.source} line {self.line}" if self.line else self.source


def _names(path: str, value: Any) -> tuple[str, ...]:
    """A string or a non-empty list of strings."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items or not all(isinstance(v, str) and v for v in items):
        raise InvalidInput(path, f"must be a name or a list of names, got {value!r}")
    return tuple(items)


def _mapping(path: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(path, f"must be an object, got {type(value).__name__}")
    return value


def _known(path: str, data: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in data:
        if key not in known:
            raise InvalidInput(f"{path}.{key}", f"unknown key; known: {', '.join(known)}")


def _days(path: str, value: Any) -> frozenset[int]:
    """``"mon-fri"``, ``"sat,sun"`` or a list of day names."""
    parts = value.split(",") if isinstance(value, str) else value
    if not isinstance(parts, list | tuple) or not parts:
        raise InvalidInput(path, f"must be days such as 'mon-fri' or ['sat', 'sun'], got {value!r}")
    days: set[int] = set()
    for part in parts:
        ends = str(part).strip().lower().split("-")
        if len(ends) > 2 or not all(e in DAYS for e in ends):
            raise InvalidInput(path, f"{part!r} is not a day ({', '.join(DAYS)}) or a range of days")
        a, b = DAYS.index(ends[0]), DAYS.index(ends[-1])
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(days)


def _clock(path: str, value: Any) -> time:
    if isinstance(value, str) and re.fullmatch(r"\d\d:\d\d", value):
        try:
            return time.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInput(path, f"must be a time of day as 'HH:MM', got {value!r}")


def parse_window(path: str, value: Any) -> Window:
    data = _mapping(path, value)
    _known(path, data, ("days", "from", "to", "tz"))
    tz = data.get("tz", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidInput(f"{path}.tz", f"unknown time zone {tz!r}") from None
    start = _clock(f"{path}.from", data.get("from", "00:00"))
    end = _clock(f"{path}.to", data.get("to", "00:00"))
    days = _days(f"{path}.days", data["days"]) if "days" in data else frozenset(range(7))
    return Window(days=days, start=start, end=end, tz=tz)


def _params(path: str, value: Any) -> tuple[tuple[str, str, Any], ...]:
    """``{name: value}`` (equal), or ``{name: {op: operand}}`` with op one of OPS."""
    out = []
    for name, test in _mapping(path, value).items():
        if not isinstance(test, Mapping):
            out.append((name, "eq", test))
            continue
        if len(test) != 1 or next(iter(test)) not in OPS:
            raise InvalidInput(f"{path}.{name}", f"must be a value or one comparison {{op: value}}, op one of "
                                                 f"{', '.join(OPS)}; got {dict(test)!r}")
        op, operand = next(iter(test.items()))
        if op in ("in", "not_in") and not isinstance(operand, list | tuple):
            raise InvalidInput(f"{path}.{name}.{op}", f"must be a list, got {operand!r}")
        if op in ("gt", "ge", "lt", "le") and (isinstance(operand, bool) or not isinstance(operand, int | float | str)):
            raise InvalidInput(f"{path}.{name}.{op}", f"must be a number or a string, got {operand!r}")
        out.append((name, op, tuple(operand) if op in ("in", "not_in") else operand))
    return tuple(out)


def parse_match(path: str, value: Any) -> Match:
    data = _mapping(path, value)
    _known(path, data, MATCH_KEYS)
    got: dict[str, Any] = {k: _names(f"{path}.{k}", data[k]) for k in ("skill", "queue", "owner", "group")
                           if k in data}
    if "labels" in data:
        got["labels"] = tuple((k, tuple(v) if isinstance(v, list | tuple) else (v,))
                              for k, v in _mapping(f"{path}.labels", data["labels"]).items())
    if "params" in data:
        got["params"] = _params(f"{path}.params", data["params"])
    if "window" in data:
        got["window"] = parse_window(f"{path}.window", data["window"])
    return Match(**got)
