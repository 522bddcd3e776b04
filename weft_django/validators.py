"""The checks every part of a spec uses: numbers, keys, names, JSON PostgreSQL can store, JSON Schemas
(pure, no Django). Each raises InvalidInput naming the field at fault."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import jsonschema

from .exceptions import InvalidInput

# \Z, not $: "$" also matches before a trailing newline, which would let "weft\n" through.
KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}\Z")
QUEUE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}\Z")
PRIORITY_RANGE = range(0, 10)
MAX_TEXT = 200  # a skill's name (with any @version), a job's name, an idempotency key: their columns
MAX_TOKENS = 10**15  # a job's token budget: far beyond any anyone sets, and inside its column (a bigint)


def positive_number(path: str, value: Any, *, integer: bool = False) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(path, f"must be a number, got {type(value).__name__}")
    if integer and not (isinstance(value, int) or float(value).is_integer()):
        raise InvalidInput(path, f"must be a whole number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidInput(path, f"must be greater than 0, got {value!r}")
    return int(value) if integer else float(value)


def number(value: float) -> str:
    """A number as a person would write it: 99999, 0.5, 1234567 (``:g`` would say 1.23457e+06)."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


# What PostgreSQL or psycopg refuse in a string: NUL (text and jsonb cannot hold it) and a lone surrogate
# (\ud800-\udfff: not a character, so it has no UTF-8 encoding). Either would fail the INSERT (a 500).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Deeper JSON is refused: nothing real nests this far, and a walk (or a JSON encoder) of thousands of levels
# exhausts Python's recursion limit.
MAX_JSON_DEPTH = 100
MAX_INT = 2**31 - 1  # PostgreSQL's integer columns (max_attempts, ...) hold no more


def unknown_field(name: Any, prefix: str, whole: str, known: Iterable[str]) -> InvalidInput:
    """The error for a field ``name`` nobody knows: named by it, or by ``whole`` when the name is empty or
    not text (a field named "" would tell nothing)."""
    listed = ", ".join(sorted(known))
    if isinstance(name, str) and name:
        return InvalidInput(f"{prefix}{name}", f"unknown field; known: {listed}")
    return InvalidInput(whole, f"unknown field {name!r}; known: {listed}")


def text_list(value: Any, path: str, most: int, what: str) -> list[str]:
    """A list (or tuple) of at most ``most`` strings (``what``: "locks", "labels"); InvalidInput naming the path,
    or the item at fault."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise InvalidInput(path, f"must be a list of {what}, got {type(value).__name__}")
    if len(value) > most:
        raise InvalidInput(path, f"has {len(value)} {what}, more than {most}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidInput(f"{path}[{i}]", f"must be text, got {type(item).__name__}")
    return list(value)


def check_text(value: str, path: str) -> None:
    """Raise unless PostgreSQL can store the string ``value`` (no NUL, no lone surrogate)."""
    found = _UNSTORABLE.search(value)
    if found is not None:
        raise InvalidInput(path, _unstorable(found.group()))


def _unstorable(char: str) -> str:
    if char == "\x00":
        return "must not contain the NUL character (\\u0000)"
    return f"must not contain a lone surrogate (\\u{ord(char):04x}): it is not a character"


def check_json(value: Any, path: str) -> None:
    """Raise unless ``value`` survives a JSON round trip unchanged in kind and PostgreSQL can store it."""
    try:
        text = json.dumps(value, allow_nan=False)
    except RecursionError:
        raise InvalidInput(path, f"is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except (TypeError, ValueError) as exc:
        raise InvalidInput(path, f"must be JSON-serialisable: {exc}") from None
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
            raise InvalidInput(path, f"is nested more than {MAX_JSON_DEPTH} levels deep")
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
        raise InvalidInput(f"{path}{where}", error.message)


def check_schema(schema: Any, path: str = "params") -> None:
    """Raise if ``schema`` is not a valid JSON Schema."""
    if not isinstance(schema, Mapping):
        raise InvalidInput(path, f"schema must be an object, got {type(schema).__name__}")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        raise InvalidInput(path, f"invalid JSON Schema: {exc.message}") from None
