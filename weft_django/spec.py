"""TaskSpec, Limits and RetryPolicy: frozen, validated descriptions of work (pure, no Django)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import jsonschema

from .exceptions import ValidationError

# \Z, not $: "$" also matches before a trailing newline, which would let "weft\n" through.
KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}\Z")
QUEUE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}\Z")
PRIORITY_RANGE = range(0, 10)


def _positive_number(path: str, value: Any, *, integer: bool = False) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(path, f"must be a number, got {type(value).__name__}")
    if integer and not (isinstance(value, int) or float(value).is_integer()):
        raise ValidationError(path, f"must be a whole number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValidationError(path, f"must be greater than 0, got {value!r}")
    return int(value) if integer else float(value)


def _number(value: float) -> str:
    """A number as a person would write it: 99999, 0.5, 1234567 (``:g`` would say 1.23457e+06)."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


@dataclass(frozen=True)
class Limits:
    """Resource limits for one attempt; ``None`` means no limit."""

    memory_mb: float | None = None
    cpu_seconds: float | None = None
    cpu_percent: float | None = None
    wall_seconds: float | None = None
    open_files: int | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None, path: str = "limits") -> Limits:
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ValidationError(path, f"must be an object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name not in known:
                raise ValidationError(f"{path}.{name}", f"unknown limit; known: {', '.join(sorted(known))}")
            if value is not None:
                values[name] = _positive_number(f"{path}.{name}", value, integer=name == "open_files")
        return cls(**values)

    def merged(self, override: Limits) -> Limits:
        """These limits with every limit that ``override`` sets replaced."""
        return Limits(**{**self.as_dict(), **override.as_dict()})

    def check_ceilings(self, ceilings: Limits, path: str = "limits") -> None:
        for name, value in self.as_dict().items():
            ceiling = getattr(ceilings, name)
            if ceiling is not None and value > ceiling:
                raise ValidationError(
                    f"{path}.{name}", f"{_number(value)} exceeds the configured ceiling {_number(ceiling)}"
                )

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}  # every field is a scalar: no deep copy


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: delay n = min(max_delay, base * factor**(n-1)) +- jitter."""

    max_attempts: int = 3
    backoff: float = 1.0
    factor: float = 2.0
    max_delay: float = 300.0
    jitter: float = 0.1

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None, default: RetryPolicy, path: str = "retry") -> RetryPolicy:
        if data is None:
            return default
        if not isinstance(data, Mapping):
            raise ValidationError(path, f"must be an object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        values = vars(default).copy()
        for name, value in data.items():
            if name not in known:
                raise ValidationError(f"{path}.{name}", f"unknown retry option; known: {', '.join(sorted(known))}")
            if name == "jitter":
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                    raise ValidationError(f"{path}.jitter", f"must be a number from 0 to 1, got {value!r}")
                values[name] = float(value)
            else:
                values[name] = _positive_number(f"{path}.{name}", value, integer=name == "max_attempts")
        if values["factor"] < 1:
            raise ValidationError(f"{path}.factor", f"must be at least 1, got {values['factor']!r}")
        return cls(**values)

    def check_bounds(self, max_attempts: int, min_delay: float, path: str = "retry") -> None:
        """Raise unless the attempts stay under the ceiling and no wait before a retry (backoff, max_delay)
        is shorter than the floor: a caller must not buy a thousand attempts a few milliseconds apart."""
        if self.max_attempts > max_attempts:
            raise ValidationError(f"{path}.max_attempts", f"{_number(self.max_attempts)} exceeds the configured "
                                                          f"ceiling {_number(max_attempts)}")
        for name in ("backoff", "max_delay"):
            value = getattr(self, name)
            if value < min_delay:
                raise ValidationError(f"{path}.{name}", f"{_number(value)} s is below the configured floor "
                                                        f"{_number(min_delay)} s")

    def as_dict(self) -> dict[str, Any]:
        return vars(self).copy()  # every field is a scalar: dataclasses.asdict's deep copy is not needed


@dataclass(frozen=True)
class TaskSpec:
    """What to run: immutable once a Task row holds it."""

    skill: str
    params: Mapping[str, Any] = field(default_factory=dict)
    key: str | None = None
    depends_on: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    retry: Mapping[str, Any] | None = None
    timeout: float | None = None
    queue: str | None = None
    priority: int | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any], path: str = "") -> TaskSpec:
        """Build a spec from plain data (JSON, YAML, API), naming the field at fault on error."""
        p = f"{path}." if path else ""
        if not isinstance(data, Mapping):
            raise ValidationError(path or "task", f"must be an object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        for name in data:
            if name not in known:
                raise unknown_field(name, p, path or "task", known)
        skill = data.get("skill")
        if not isinstance(skill, str) or not skill:
            raise ValidationError(f"{p}skill", "is required and must be a non-empty string")
        deps = data.get("depends_on")
        # A string is iterable: tuple("ab") would silently depend on tasks "a" and "b".
        if deps is not None and (isinstance(deps, str) or not isinstance(deps, list | tuple)):
            raise ValidationError(f"{p}depends_on", f"must be a list of task keys, got {type(deps).__name__}")
        params = data.get("params")
        spec = cls(
            skill=skill,
            params={} if params is None else params,  # not `or {}`: [] or "" must be refused, not emptied
            key=data.get("key"),
            depends_on=tuple(deps or ()),
            limits=Limits.parse(data.get("limits"), f"{p}limits"),
            retry=data.get("retry"),
            timeout=data.get("timeout"),
            queue=data.get("queue"),
            priority=data.get("priority"),
        )
        spec.validate(path)
        return spec

    def validate(self, path: str = "") -> None:
        """Check the shape of every field (not the skill's schema: that needs the registry)."""
        p = f"{path}." if path else ""
        if not isinstance(self.params, Mapping):
            raise ValidationError(f"{p}params", f"must be an object, got {type(self.params).__name__}")
        check_json(self.params, f"{p}params")
        if self.key is not None and (not isinstance(self.key, str) or not KEY_RE.match(self.key)):
            raise ValidationError(f"{p}key", f"must be 1-100 letters, digits or _.:-, got {self.key!r}")
        for i, dep in enumerate(self.depends_on):
            if not isinstance(dep, str) or not KEY_RE.match(dep):
                raise ValidationError(f"{p}depends_on[{i}]", f"must be a task key, got {dep!r}")
        if self.timeout is not None:
            _positive_number(f"{p}timeout", self.timeout)
        if self.queue is not None and (not isinstance(self.queue, str) or not QUEUE_RE.match(self.queue)):
            raise ValidationError(f"{p}queue", f"must be 1-100 letters, digits or _.-, got {self.queue!r}")
        if self.priority is not None and (
            isinstance(self.priority, bool) or not isinstance(self.priority, int)
            or self.priority not in PRIORITY_RANGE
        ):
            raise ValidationError(f"{p}priority", f"must be a whole number from 0 to 9, got {self.priority!r}")
        if self.retry is not None and not isinstance(self.retry, Mapping):
            raise ValidationError(f"{p}retry", f"must be an object, got {type(self.retry).__name__}")


# What PostgreSQL or psycopg refuse in a string: NUL (text and jsonb cannot hold it) and a lone surrogate
# (\ud800-\udfff: not a character, so it has no UTF-8 encoding). Either would fail the INSERT (a 500).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Deeper JSON is refused: nothing real nests this far, and a walk (or a JSON encoder) of thousands of levels
# exhausts Python's recursion limit.
MAX_JSON_DEPTH = 100
MAX_INT = 2**31 - 1  # PostgreSQL's integer columns (max_attempts, ...) hold no more


def unknown_field(name: Any, prefix: str, whole: str, known: Iterable[str]) -> ValidationError:
    """The error for a field ``name`` nobody knows: named by it, or by ``whole`` when the name is empty or
    not text (a field named "" would tell nothing)."""
    listed = ", ".join(sorted(known))
    if isinstance(name, str) and name:
        return ValidationError(f"{prefix}{name}", f"unknown field; known: {listed}")
    return ValidationError(whole, f"unknown field {name!r}; known: {listed}")


def check_text(value: str, path: str) -> None:
    """Raise unless PostgreSQL can store the string ``value`` (no NUL, no lone surrogate)."""
    found = _UNSTORABLE.search(value)
    if found is not None:
        raise ValidationError(path, _unstorable(found.group()))


def _unstorable(char: str) -> str:
    if char == "\x00":
        return "must not contain the NUL character (\\u0000)"
    return f"must not contain a lone surrogate (\\u{ord(char):04x}): it is not a character"


def check_json(value: Any, path: str) -> None:
    """Raise unless ``value`` survives a JSON round trip unchanged in kind and PostgreSQL can store it."""
    try:
        text = json.dumps(value, allow_nan=False)
    except RecursionError:
        raise ValidationError(path, f"is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except (TypeError, ValueError) as exc:
        raise ValidationError(path, f"must be JSON-serialisable: {exc}") from None
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH:  # an upper bound of the depth, counted in C
        check_depth(value, path)
    # The ASCII text escapes NUL as \u0000 and every surrogate as \udXXX: walk only when one may be there.
    if "\\u0000" in text or "\\ud" in text:
        _check_strings(value, path)


def check_depth(value: Any, path: str) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH, without recursing (the point is not to overflow)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            raise ValidationError(path, f"is nested more than {MAX_JSON_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in children)


def _check_strings(value: Any, path: str) -> None:
    """Raise naming the first string (or key) PostgreSQL cannot store (depth is checked already)."""
    if isinstance(value, str):
        check_text(value, path)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(k, str):
                check_text(k, path)
            _check_strings(v, f"{path}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_strings(v, f"{path}[{i}]")


_validators: dict[int, tuple[Mapping[str, Any], Any]] = {}


def _validator(schema: Mapping[str, Any]) -> Any:
    """A compiled validator per schema object: building one costs far more than a validation."""
    cached = _validators.get(id(schema))
    if cached is None or cached[0] is not schema:  # the id of a collected schema may be reused
        if len(_validators) > 1000:  # schemas built per call would otherwise pile up
            _validators.clear()
        cached = (schema, jsonschema.Draft202012Validator(schema))
        _validators[id(schema)] = cached
    return cached[1]


def check_params(schema: Mapping[str, Any], params: Mapping[str, Any], path: str = "params") -> None:
    """Validate params against a skill's JSON Schema, naming the first offending field."""
    validator = _validator(schema)
    if validator.is_valid(params):
        return
    error = jsonschema.exceptions.best_match(validator.iter_errors(params))
    if error is not None:
        # Same spelling as argv[0] and tasks[0] elsewhere: params.items[1].name
        parts = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, Mapping):
            missing = [n for n in error.validator_value if n not in error.instance]
            parts += missing[:1]  # name the missing field itself, not its parent object
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
        raise ValidationError(f"{path}{where}", error.message)


def check_schema(schema: Any, path: str = "params") -> None:
    """Raise if ``schema`` is not a valid JSON Schema."""
    if not isinstance(schema, Mapping):
        raise ValidationError(path, f"schema must be an object, got {type(schema).__name__}")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        raise ValidationError(path, f"invalid JSON Schema: {exc.message}") from None
