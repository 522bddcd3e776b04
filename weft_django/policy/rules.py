"""Parsing whole rules and lists of rules, and their effects (pure, no Django)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..exceptions import InvalidInput
from ..limits import Limits
from ..validators import MAX_TOKENS, PRIORITY_RANGE, QUEUE_RE, positive_number
from .schema import BUDGET_KEYS, BUILTIN_PREFIX, EFFECT_KEYS, NAME_RE, RATE_RE, Rule, _known, _mapping, parse_match

RULE_KEYS = ("name", "reason", "enabled", "match", "effects")


def _flag(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(path, f"must be true or false, got {value!r}")
    return value


def _keyed(path: str, value: Any, inner: str) -> Any:
    """concurrency / rate: a bare value, or ``{"key": "{tenant}", inner: value}`` (a limit per key)."""
    if not isinstance(value, Mapping):
        return value, None
    _known(path, value, ("key", inner))
    key = value.get("key")
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"{path}.key", f"must be a template such as '{{tenant_id}}', got {key!r}")
    if inner not in value:
        raise InvalidInput(f"{path}.{inner}", "is required with a key")
    return value[inner], key


def parse_effects(path: str, value: Any) -> dict[str, Any]:
    """The effects, flattened: ``{"deny": True, "limits.memory_mb": 2048.0, "budget.max_cost": 5.0, ...}``."""
    data = _mapping(path, value)
    _known(path, data, EFFECT_KEYS)
    if not data:
        raise InvalidInput(path, f"must set at least one effect: {', '.join(EFFECT_KEYS)}")
    out: dict[str, Any] = {}
    for name in ("deny", "require_approval"):
        if name in data:
            out[name] = _flag(f"{path}.{name}", data[name])
    if "limits" in data:
        for k, v in Limits.parse(data["limits"], f"{path}.limits").as_dict().items():
            out[f"limits.{k}"] = v
    if "timeout" in data:
        out["timeout"] = positive_number(f"{path}.timeout", data["timeout"])
    if "budget" in data:
        budget = _mapping(f"{path}.budget", data["budget"])
        _known(f"{path}.budget", budget, BUDGET_KEYS)
        for k, v in budget.items():
            out[f"budget.{k}"] = positive_number(f"{path}.budget.{k}", v, integer=k in ("max_attempts", "max_tokens"))
            if k == "max_tokens" and v > MAX_TOKENS:
                raise InvalidInput(f"{path}.budget.{k}", f"must be at most {MAX_TOKENS}, got {v!r}")
    if "queue" in data:
        if not isinstance(data["queue"], str) or not QUEUE_RE.match(data["queue"]):
            raise InvalidInput(f"{path}.queue", f"must be a queue name (1-100 of A-Z a-z 0-9 _ . -), got "
                                                f"{data['queue']!r}")
        out["queue"] = data["queue"]
    if "priority" in data:
        p = data["priority"]
        if isinstance(p, bool) or not isinstance(p, int) or p not in PRIORITY_RANGE:
            raise InvalidInput(f"{path}.priority", f"must be a whole number from 0 to 9, got {p!r}")
        out["priority"] = p
    if "concurrency" in data:
        limit, key = _keyed(f"{path}.concurrency", data["concurrency"], "limit")
        n = positive_number(f"{path}.concurrency" + (".limit" if key else ""), limit, integer=True)
        out["concurrency"] = {"limit": n, "key": key}
    if "rate" in data:
        rate, key = _keyed(f"{path}.rate", data["rate"], "rate")
        if not isinstance(rate, str) or not RATE_RE.match(rate) or float(rate.split("/")[0]) <= 0:
            raise InvalidInput(f"{path}.rate" + (".rate" if key else ""),
                               f"must be a rate such as '10/m' (per s, m, h or d), got {rate!r}")
        out["rate"] = {"rate": rate, "key": key}
    return out


def parse_rule(data: Any, path: str = "", *, source: str = "settings", line: int | None = None,
               builtin: bool = False) -> Rule:
    """One rule from plain data; InvalidInput names the field (``{path}.effects.timeout``)."""
    p = f"{path}." if path else ""
    rule = _mapping(path or "rule", data)
    _known(path or "rule", rule, RULE_KEYS)
    name = rule.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput(f"{p}name", f"must be 1-100 of A-Z a-z 0-9 _ . : -, got {name!r}")
    if name.startswith(BUILTIN_PREFIX) and not builtin:
        raise InvalidInput(f"{p}name", f"names starting {BUILTIN_PREFIX!r} are the built-in policies'")
    reason = rule.get("reason", "")
    if not isinstance(reason, str):
        raise InvalidInput(f"{p}reason", f"must be text, got {type(reason).__name__}")
    if "enabled" in rule:
        _flag(f"{p}enabled", rule["enabled"])
    if "effects" not in rule:
        raise InvalidInput(f"{p}effects", "is required: what the rule does")
    return Rule(name=name, match=parse_match(f"{p}match", rule.get("match", {})),
                effects=parse_effects(f"{p}effects", rule["effects"]), reason=reason, source=source, line=line,
                raw=dict(rule))


def parse_rules(data: Any, path: str, *, source: str = "settings",
                lines: Mapping[str, int] | None = None) -> list[Rule]:
    """A list of rules (disabled ones parsed, then left out); names must be unique."""
    if not isinstance(data, list | tuple):
        raise InvalidInput(path, f"must be a list of rules, got {type(data).__name__}")
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(data):
        at = f"{path}[{i}]"
        rule = parse_rule(item, at, source=source, line=(lines or {}).get(at))
        if rule.name in seen:
            raise InvalidInput(f"{at}.name", f"{rule.name!r} is also the name of {seen[rule.name]}")
        seen[rule.name] = at
        if item.get("enabled", True):
            rules.append(rule)
    return rules


def check_unique(rules: Sequence[Rule]) -> None:
    """Raise InvalidInput for a name given by two sources (settings, file, admin)."""
    seen: dict[str, Rule] = {}
    for rule in rules:
        other = seen.get(rule.name)
        if other is not None:
            raise InvalidInput("name", f"policy {rule.name!r} is declared twice: {other.where} and {rule.where}")
        seen[rule.name] = rule
