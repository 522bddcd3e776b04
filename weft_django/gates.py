"""Concurrency limits, rate limits and locks as declared, parsed and rendered for a task (pure, no Django).

A skill declares ``concurrency`` (``5``; ``{"key": "{tenant_id}", "limit": 2}``; or a list of both), ``rate``
(``"10/m"``; ``{"key": "{api}", "rate": "100/h"}``; or a list) and ``locks`` (``["db:orders",
"repo:{path}/**"]``). Keys and locks are templates filled from the task's params at submission. What a
task must pass at claim is its *gates*: ``{"concurrency": {key: limit}, "rate": {key: "10/m"}}``, stored
on the Task row. A per-skill limit's key is ``skill:<name>``; a keyed one's is ``key:<rendered>``, shared by
every skill whose key renders the same (one API's rate, one tenant's slots); a queue's is ``queue:<name>``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .exceptions import InvalidInput
from .globs import LOCK_RE
from .validators import check_text, text_list

__all__ = ["ConcurrencyLimit", "RateLimit", "check_locks", "gates", "parse_concurrency", "parse_locks", "parse_rate",
           "per_second", "render", "render_locks"]

RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$")
UNIT_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
                "d": 86400, "day": 86400}
MAX_LIMIT = 100_000
MAX_LOCKS = 50
_FORMATTER = string.Formatter()
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class ConcurrencyLimit:
    """At most ``limit`` tasks running at once: of the skill (``key`` None), or per rendered ``key``."""

    limit: int
    key: str | None = None


@dataclass(frozen=True)
class RateLimit:
    """At most ``rate`` ("10/m") claims: of the skill (``key`` None), or per rendered ``key``."""

    rate: str
    key: str | None = None


def placeholders(template: str, path: str) -> list[str]:
    """The ``{name}`` placeholders of a key or lock template; InvalidInput for anything but plain names."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise InvalidInput(path, f"is not a valid template ({exc}): {template!r}") from None
    names = []
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if not _NAME.match(name) or spec or conv:
            raise InvalidInput(path, f"placeholders are plain param names like {{tenant_id}}, got {{{name}}} "
                                     f"in {template!r}")
        names.append(name)
    return names


def render(template: str, params: Mapping[str, Any], prefix: str, what: str) -> str:
    """``template`` with each ``{name}`` replaced by ``params[name]`` (text, a number or a bool); an error
    names ``<prefix>params.<name>`` (``prefix``: "tasks[0]." or "")."""
    values = {}
    for name in placeholders(template, f"{prefix}{what}"):
        if name not in params:
            raise InvalidInput(f"{prefix}params.{name}", f"is required: {what} {template!r} is made from it")
        value = params[name]
        if isinstance(value, dict | list) or value is None:
            raise InvalidInput(f"{prefix}params.{name}", f"must be text or a number: {what} {template!r} is made "
                                                         f"from it, got {type(value).__name__}")
        values[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return template.format_map(values)


def per_second(rate: str) -> float:
    """Claims per second of a rate such as "10/m"; ValueError if it is not one."""
    found = RATE_RE.match(rate) if isinstance(rate, str) else None
    if found is None:
        raise ValueError(rate)
    value = float(found.group(1)) / UNIT_SECONDS[found.group(2)]
    if value <= 0:
        raise ValueError(rate)
    return value


def _listed(value: Any) -> list[Any]:
    if value is None or value == ():
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _key(item: Mapping[str, Any], allowed: set[str], path: str) -> str:
    extra = set(item) - allowed
    if extra:
        raise InvalidInput(f"{path}.{sorted(extra)[0]}", f"is not a field; expected {', '.join(sorted(allowed))}")
    key = item.get("key")
    if not isinstance(key, str) or not key or len(key) > 200:
        raise InvalidInput(f"{path}.key", f"must be a non-empty template of at most 200 characters, got {key!r}")
    placeholders(key, f"{path}.key")
    return key


def parse_concurrency(value: Any, path: str) -> tuple[ConcurrencyLimit, ...]:
    """``5``, ``{"key": "{tenant_id}", "limit": 2}`` or a list of those; InvalidInput naming the field."""
    out = []
    items = _listed(value)
    for i, item in enumerate(items):
        if isinstance(item, ConcurrencyLimit):  # parsed already
            out.append(item)
            continue
        p = f"{path}[{i}]" if isinstance(value, list | tuple) else path
        key, limit = None, item
        if isinstance(item, Mapping):
            key, limit = _key(item, {"key", "limit"}, p), item.get("limit")
            p = f"{p}.limit"
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(p, f"must be a whole number from 1 to {MAX_LIMIT}, got {limit!r}")
        out.append(ConcurrencyLimit(limit, key))
    if len({c.key for c in out}) < len(out):
        raise InvalidInput(path, "names the same limit twice")
    return tuple(out)


def parse_rate(value: Any, path: str) -> tuple[RateLimit, ...]:
    """``"10/m"``, ``{"key": "{api}", "rate": "100/h"}`` or a list of those; InvalidInput naming the field."""
    out = []
    for i, item in enumerate(_listed(value)):
        if isinstance(item, RateLimit):  # parsed already
            out.append(item)
            continue
        p = f"{path}[{i}]" if isinstance(value, list | tuple) else path
        key, rate = None, item
        if isinstance(item, Mapping):
            key, rate = _key(item, {"key", "rate"}, p), item.get("rate")
            p = f"{p}.rate"
        try:
            per_second(rate)
        except ValueError:
            raise InvalidInput(p, f"must be a number of claims per s, m, h or d, like '10/m', got {rate!r}") from None
        out.append(RateLimit(rate, key))
    if len({r.key for r in out}) < len(out):
        raise InvalidInput(path, "names the same limit twice")
    return tuple(out)


def parse_locks(value: Any, path: str) -> tuple[str, ...]:
    """A list of lock names or templates (``"db:orders"``, ``"repo:{path}/**"``); InvalidInput naming the field."""
    if value is None:
        return ()
    for i, lock in enumerate(text_list(value, path, MAX_LOCKS, "locks")):
        check_text(lock, f"{path}[{i}]")  # a NUL is no space, and would pass the pattern
        sample = lock.format_map(dict.fromkeys(placeholders(lock, f"{path}[{i}]"), "x"))
        if not LOCK_RE.match(sample):
            raise InvalidInput(f"{path}[{i}]", f"must be 'namespace:name' or a name (a path glob may use * ** ?), "
                                               f"without spaces, got {lock!r}")
    return tuple(value)


def check_locks(value: Any, path: str) -> None:
    parse_locks(value, path)


def render_locks(locks: Sequence[str], params: Mapping[str, Any], prefix: str) -> list[str]:
    """Each lock template filled from params, checked again once filled, without repeats, in order."""
    out: list[str] = []
    for i, lock in enumerate(locks):
        name = render(lock, params, prefix, "lock")
        if not LOCK_RE.match(name):
            raise InvalidInput(f"{prefix}locks[{i}]", f"{lock!r} filled from params gives {name!r}, not a lock name")
        if name not in out:
            out.append(name)
    return out


def gates(skill: str, concurrency: Sequence[ConcurrencyLimit], rate: Sequence[RateLimit], queue: str,
          queue_limit: int | None, params: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The limits a task of ``skill`` with ``params`` must pass at claim, by key (empty: none)."""
    out: dict[str, Any] = {}
    slots = {(f"key:{render(c.key, params, prefix, 'the concurrency key')}" if c.key is not None
              else f"skill:{skill}"): c.limit for c in concurrency}
    if queue_limit is not None:
        slots[f"queue:{queue}"] = queue_limit
    if slots:
        out["concurrency"] = slots
    rates = {(f"key:{render(r.key, params, prefix, 'the rate key')}" if r.key is not None
              else f"skill:{skill}"): r.rate for r in rate}
    if rates:
        out["rate"] = rates
    return out


def check_skill_limit(field: str, value: Any) -> None:
    """An operator's ``concurrency`` or ``rate`` for a Skill row (None: the code's); InvalidInput naming it."""
    (parse_concurrency if field == "concurrency" else parse_rate)(value, field)
