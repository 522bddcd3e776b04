"""Saved, parameterised job specs (``manage.py weft_template``): create (checked like a submission), list,
show, run (placeholders filled, then submitted), delete.

A template is a job spec whose strings may hold ``{name}`` placeholders. A string that is exactly one
placeholder takes the parameter's value with its type (``--param n=3`` is the number 3); a placeholder
inside a longer string is replaced by the value's text. ``{{`` and ``}}`` are literal braces. Object keys
are never filled. Defaults saved with the template fill the placeholders a run does not give.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator, Mapping
from typing import Any

from django.db import IntegrityError, transaction

from .exceptions import InvalidInput, UnknownId
from .jobcheck import check_job
from .lifecycle import submit as submission
from .models import Job, JobTemplate
from .validators import check_json, check_text

NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}\Z")
MAX_DESCRIPTION = 2000


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string value of ``value`` (not keys), with its field path, depth first, without recursing."""
    stack = [(value, path)]
    while stack:
        item, p = stack.pop()
        if isinstance(item, str):
            yield p, item
        elif isinstance(item, Mapping):
            stack.extend((v, f"{p}.{k}" if p else str(k)) for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((v, f"{p}[{i}]") for i, v in reversed(list(enumerate(item))))


def _parse(text: str, path: str) -> list[tuple[str, str | None]]:
    """``text`` as (literal, placeholder) pieces; a malformed or non-plain placeholder names ``path``."""
    try:
        pieces = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise InvalidInput(path, f"malformed placeholder in {text[:60]!r}: {exc}") from None
    for _, name, spec, conv in pieces:
        if name is not None and (not name.isidentifier() or spec or conv):
            raise InvalidInput(path, f"placeholder {{{name}}} must be a plain {{name}}")
    return [(literal, name) for literal, name, _, _ in pieces]


def placeholders(spec: Any) -> dict[str, str]:
    """Each placeholder of ``spec`` and the field where it first appears."""
    found: dict[str, str] = {}
    for path, text in _strings(spec, ""):
        for _, name in _parse(text, path):
            if name is not None:
                found.setdefault(name, path)
    return found


def fill(value: Any, params: Mapping[str, Any], path: str = "") -> Any:
    """``value`` with its placeholders filled from ``params``; one not in ``params`` is left as its text."""
    if isinstance(value, Mapping):
        return {k: fill(v, params, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, params, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    pieces = _parse(value, path)
    whole = pieces[0][1] if len(pieces) == 1 and not pieces[0][0] else None
    if whole is not None and whole in params:
        return params[whole]  # the whole string is one placeholder: the value keeps its type
    out = []
    for literal, name in pieces:
        out.append(literal)  # the parser has already made {{ and }} single braces
        if name is not None:
            given = params.get(name)
            out.append(("{" + name + "}") if name not in params
                       else given if isinstance(given, str) else _text(given))
    return "".join(out)


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, dict | list | bool) or value is None else str(value)


def _check_params(params: Any, field: str) -> dict[str, Any]:
    if not isinstance(params, Mapping):
        raise InvalidInput(field, f"must be an object, got {type(params).__name__}")
    for key in params:
        if not isinstance(key, str) or not key.isidentifier():
            raise InvalidInput(field, f"{key!r} is not a placeholder name")
    check_json(dict(params), field)
    return dict(params)


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput("name", f"must be 1-100 letters, digits or _ . : -, got {name!r}")
    return name


def create_template(name: Any, spec: Any, *, description: Any = "", defaults: Any = None,
                    replace: bool = False) -> dict[str, Any]:
    """Save ``spec`` under ``name``. It is checked as a submission would be, filled with ``defaults`` (a
    placeholder without one stands as its own text), so a template that could never run is refused,
    naming the field. Nothing is saved on error; ``replace`` overwrites a template of that name."""
    _check_name(name)
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise InvalidInput("description", f"must be a string of at most {MAX_DESCRIPTION} characters")
    check_text(description, "description")
    defaults = _check_params({} if defaults is None else defaults, "defaults")
    if not isinstance(spec, Mapping):
        raise InvalidInput("spec", f"must be an object, got {type(spec).__name__}")
    check_json(dict(spec), "spec")
    found = placeholders(spec)
    for key in defaults:
        if key not in found:
            raise InvalidInput(f"defaults.{key}", "is not a placeholder of the template")
    check_job(fill(spec, defaults))
    fields = {"spec": dict(spec), "description": description, "defaults": defaults}
    try:
        with transaction.atomic():
            if replace:
                JobTemplate.objects.update_or_create(name=name, defaults=fields)
            else:
                JobTemplate.objects.create(name=name, **fields)
    except IntegrityError:
        raise InvalidInput("name", f"a template named {name!r} exists (replace it with --replace)") from None
    return show_template(name)


def _get(name: Any) -> JobTemplate:
    try:
        return JobTemplate.objects.get(name=_check_name(name))
    except JobTemplate.DoesNotExist:
        raise UnknownId(f"no template named {name!r}") from None


def show_template(name: Any) -> dict[str, Any]:
    """A template: its spec, defaults and placeholders (each with the field where it is used)."""
    t = _get(name)
    return {"name": t.name, "description": t.description, "spec": t.spec, "defaults": t.defaults,
            "placeholders": placeholders(t.spec), "created_at": t.created_at.isoformat(),
            "updated_at": t.updated_at.isoformat()}


def list_templates() -> list[dict[str, Any]]:
    """Every template, by name: its description, placeholders and how many tasks it has."""
    return [{"name": t.name, "description": t.description, "placeholders": sorted(placeholders(t.spec)),
             "tasks": len(t.spec.get("tasks") or ())} for t in JobTemplate.objects.order_by("name")]


def run_template(name: Any, params: Any = None, *, owner: Any = None) -> Job:
    """Fill the template's placeholders from ``params`` (then its defaults) and submit the job, labelled
    ``template: name``. A parameter the template does not use, or a placeholder left without a value,
    is refused (``params.<name>``); the filled spec is validated as any submission."""
    t = _get(name)
    given = _check_params({} if params is None else params, "params")
    found = placeholders(t.spec)
    for key in given:
        if key not in found:
            raise InvalidInput(f"params.{key}", f"is not a placeholder of template {t.name!r}")
    values = {**t.defaults, **given}
    for key, where in found.items():
        if key not in values:
            raise InvalidInput(f"params.{key}", f"is required (used at {where})")
    spec = fill(t.spec, values)
    if isinstance(spec.get("labels"), Mapping):
        spec["labels"] = {**spec["labels"], "template": t.name}
    elif "labels" not in spec:
        spec["labels"] = {"template": t.name}
    return submission.submit_job(check_job(spec), owner=owner)


def delete_template(name: Any) -> bool:
    """Delete a template; False if there was none of that name."""
    deleted, _ = JobTemplate.objects.filter(name=_check_name(name)).delete()
    return bool(deleted)
