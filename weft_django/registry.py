"""Skills registered in code (``@skill``, ``command_skill``), looked up by name, mirrored to Skill rows."""

from __future__ import annotations

import inspect
import re
import string
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .exceptions import UnknownSkill, ValidationError
from .spec import QUEUE_RE, Limits, RetryPolicy, TaskSpec, check_schema

PERMISSION_RE = re.compile(r"^\w+\.\w+$")

Isolation = Literal["inline", "process"]


@dataclass(frozen=True)
class SkillDef:
    """A skill as registered in code."""

    name: str
    kind: Literal["python", "command"]
    version: str = "1"
    func: Callable[..., Any] | None = None
    argv: tuple[str, ...] = ()
    params_schema: Mapping[str, Any] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    retry: Mapping[str, Any] | None = None
    timeout: float | None = None
    queue: str | None = None
    priority: int | None = None
    isolation: Isolation = "inline"
    description: str = ""
    wants_context: bool = False
    permission: str | None = None  # "app_label.codename" a user needs to run it through the HTTP API
    requires_approval: bool = False  # each task waits, blocked, until someone approves it
    allow_retry_override: bool = True  # False: a submission's retry may not change the skill's
    allow_options: frozenset[str] = frozenset()  # placeholders whose value may start with "-" (command skills)

    @property
    def target(self) -> Any:
        if self.func is not None:
            return f"{self.func.__module__}.{self.func.__qualname__}"
        return list(self.argv)


_skills: dict[str, SkillDef] = {}
_lock = threading.Lock()
_discovered = False


def register(definition: SkillDef) -> SkillDef:
    """Add a skill, refusing a second, different definition under the same name."""
    if not definition.name or not isinstance(definition.name, str):
        raise ValidationError("name", "a skill needs a non-empty name")
    check_schema(definition.params_schema or {"type": "object"}, f"skills.{definition.name}.params")
    if definition.queue is not None and not QUEUE_RE.match(definition.queue):
        raise ValidationError(f"skills.{definition.name}.queue", f"invalid queue name {definition.queue!r}")
    if definition.isolation not in ("inline", "process"):
        raise ValidationError(f"skills.{definition.name}.isolation", "must be 'inline' or 'process'")
    if definition.permission is not None and (not isinstance(definition.permission, str)
                                              or not PERMISSION_RE.match(definition.permission)):
        raise ValidationError(f"skills.{definition.name}.permission",
                              f"must be 'app_label.codename', got {definition.permission!r}")
    # Checked here, not at the first submit: a bad default would otherwise reach the database's constraints.
    TaskSpec(skill=definition.name, timeout=definition.timeout, priority=definition.priority,
             retry=definition.retry).validate(f"skills.{definition.name}")
    RetryPolicy.parse(definition.retry, RetryPolicy(), f"skills.{definition.name}.retry")
    with _lock:
        existing = _skills.get(definition.name)
        if existing is not None and existing.target != definition.target:
            raise ValidationError("name", f"skill {definition.name!r} is already registered as {existing.target}")
        _skills[definition.name] = definition
    return definition


def skill(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    version: str = "1",
    params: Mapping[str, Any] | None = None,
    limits: Mapping[str, Any] | None = None,
    retry: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    queue: str | None = None,
    priority: int | None = None,
    isolation: Isolation = "inline",
    permission: str | None = None,
    requires_approval: bool = False,
    allow_retry_override: bool = True,
) -> Any:
    """Register a function as a Python skill. It gets params as keyword arguments (and ``ctx`` if it asks).

    ``permission`` ("app_label.codename"): what a user needs, besides ``weft.run_skill``, to run it
    through the HTTP API. ``requires_approval``: each of its tasks waits (blocked, "awaiting approval")
    until someone with ``weft.approve_task`` approves it, or fails if they reject it.
    ``allow_retry_override=False``: a submission's ``retry`` that would change this skill's policy is refused.
    """

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        skill_name = name or f"{f.__module__}.{f.__name__}"
        register(SkillDef(
            name=skill_name,
            kind="python",
            version=str(version),
            func=f,
            params_schema=params or {},
            limits=Limits.parse(limits, f"skills.{skill_name}.limits"),
            retry=retry,
            timeout=timeout,
            queue=queue,
            priority=priority,
            isolation=isolation,
            description=inspect.getdoc(f) or "",
            wants_context="ctx" in inspect.signature(f).parameters,
            permission=permission,
            requires_approval=bool(requires_approval),
            allow_retry_override=bool(allow_retry_override),
        ))
        return f

    return decorate(func) if func is not None else decorate


def command_skill(
    name: str,
    argv: Sequence[str],
    *,
    version: str = "1",
    params: Mapping[str, Any] | None = None,
    limits: Mapping[str, Any] | None = None,
    retry: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    queue: str | None = None,
    priority: int | None = None,
    description: str = "",
    permission: str | None = None,
    requires_approval: bool = False,
    allow_retry_override: bool = True,
    allow_options: Sequence[str] = (),
) -> SkillDef:
    """Register an argv template. ``{name}`` placeholders are filled from params, one argv element each.

    A value that would start an argv element with ``-`` (and so be read as an option of the program,
    ``--output=x``) is refused at submission, unless its placeholder is in ``allow_options`` or the
    element comes after a literal ``"--"`` element (the end of options, for programs that honour it).
    """
    template = check_argv_template(argv, f"skills.{name}.argv")
    allowed = _check_allow_options(allow_options, template, f"skills.{name}.allow_options")
    schema = dict(params) if params is not None else {
        "type": "object",
        "properties": {p: {"type": ["string", "number", "integer"]} for p in _all_placeholders(template)},
        "required": sorted(set(_all_placeholders(template))),
    }
    return register(SkillDef(
        name=name, kind="command", version=str(version), argv=template, params_schema=schema,
        limits=Limits.parse(limits, f"skills.{name}.limits"), retry=retry, timeout=timeout,
        queue=queue, priority=priority, description=description, permission=permission,
        requires_approval=bool(requires_approval), allow_retry_override=bool(allow_retry_override),
        allow_options=allowed,
    ))


def _check_allow_options(names: Any, template: Sequence[str], path: str) -> frozenset[str]:
    if isinstance(names, str) or not isinstance(names, Sequence | set | frozenset):
        raise ValidationError(path, "must be a list of placeholder names")
    known = set(_all_placeholders(template))
    for n in names:
        if n not in known:
            raise ValidationError(path, f"{n!r} is not a placeholder of the argv")
    return frozenset(names)


def argv_placeholders(part: str) -> list[str]:
    return [fname for _, fname, _, _ in string.Formatter().parse(part) if fname is not None]


def _all_placeholders(argv: Sequence[str]) -> list[str]:
    return [n for part in argv for n in argv_placeholders(part)]


def check_argv_template(argv: Any, path: str = "argv") -> tuple[str, ...]:
    """Refuse anything but a non-empty list of strings with plain ``{name}`` placeholders."""
    if isinstance(argv, str) or not isinstance(argv, Sequence) or not argv:
        raise ValidationError(path, "must be a non-empty list of strings (an argv, never a shell line)")
    for i, part in enumerate(argv):
        if not isinstance(part, str):
            raise ValidationError(f"{path}[{i}]", f"must be a string, got {type(part).__name__}")
        try:
            parsed = list(string.Formatter().parse(part))
        except ValueError as exc:
            raise ValidationError(f"{path}[{i}]", f"malformed placeholder in {part!r}: {exc}") from None
        for _, fname, spec, conv in parsed:
            if fname is None:
                continue
            if not fname.isidentifier() or spec or conv:
                raise ValidationError(f"{path}[{i}]", f"placeholder {{{fname}}} must be a plain {{name}}")
    if argv_placeholders(argv[0]):
        raise ValidationError(f"{path}[0]", "the program must be fixed, not a placeholder")
    return tuple(argv)


def render_argv(definition: SkillDef, params: Mapping[str, Any]) -> list[str]:
    """Fill each placeholder with str(value); a value never splits into more than its own element.

    Nor does it become an option: a value that would start an element with ``-`` is refused (see
    ``command_skill``'s ``allow_options``).
    """
    out = []
    options_end = False  # past a literal "--": the program reads no more options
    for i, part in enumerate(definition.argv):
        values = {}
        for fname in argv_placeholders(part):
            if fname not in params:
                raise ValidationError(f"params.{fname}", f"required by argv[{i}] of skill {definition.name!r}")
            value = params[fname]
            if isinstance(value, dict | list) or value is None:
                raise ValidationError(f"params.{fname}", "must be a string or a number to fill an argv element")
            values[fname] = str(value)
            if "\x00" in values[fname]:  # the OS cannot pass it: exec would fail with "embedded null byte"
                raise ValidationError(f"params.{fname}", "must not contain a NUL character")
        element = part.format(**values) if values else part.replace("{{", "{").replace("}}", "}")
        if values and i > 0 and not options_end:
            _refuse_option(definition, part, element, values)
        options_end = options_end or (not values and element == "--")
        out.append(element)
    return out


def _refuse_option(definition: SkillDef, part: str, element: str, values: Mapping[str, str]) -> None:
    """Refuse an element that starts with "-" because of a value (not because the template wrote one)."""
    parsed = list(string.Formatter().parse(part))
    if not element.startswith("-") or parsed[0][0]:  # a literal starts it: the template decides, not a value
        return
    leading = next(fname for _, fname, _, _ in parsed if fname is not None)  # it starts with a placeholder
    for literal, fname, _, _ in parsed:  # the value that brought the "-" (earlier ones may be empty)
        if literal:
            break
        if fname is not None and values[fname]:
            leading = fname
            break
    if leading not in definition.allow_options:
        raise ValidationError(
            f"params.{leading}",
            f"must not start with '-': {definition.argv[0]} would read {element[:40]!r} as an option "
            f"(skill {definition.name!r} does not allow options in {{{leading}}})",
        )


def autodiscover() -> None:
    """Import ``<app>.skills`` of every installed app, once per process."""
    global _discovered
    if _discovered:
        return
    from django.utils.module_loading import autodiscover_modules

    from .conf import settings

    autodiscover_modules(settings.AUTODISCOVER_MODULE)
    _discovered = True


def get(name: str) -> SkillDef:
    autodiscover()
    try:
        return _skills[name]
    except KeyError:
        raise UnknownSkill(name) from None


def check_enabled(specs: Sequence[tuple[str, SkillDef]]) -> None:
    """Raise SkillDisabled for the first (field path, skill) whose Skill row an operator switched off.

    One query for the whole batch. A skill without a row (never synced) is enabled: the rows mirror the
    code, and only ``enabled`` on them is the operator's to change.
    """
    from .exceptions import SkillDisabled
    from .models import Skill

    wanted = {(d.name, d.version) for _, d in specs}
    if not wanted:
        return
    names = {n for n, _ in wanted}
    off = set(Skill.objects.filter(name__in=names, enabled=False).values_list("name", "version")) & wanted
    for path, d in specs:
        if (d.name, d.version) in off:
            raise SkillDisabled(d.name, f"{path}.skill" if path else "skill")


def all_skills() -> list[SkillDef]:
    autodiscover()
    return sorted(_skills.values(), key=lambda s: s.name)


def effective_retry(definition: SkillDef, override: Mapping[str, Any] | None) -> RetryPolicy:
    from .conf import settings

    default = RetryPolicy.parse(settings.DEFAULT_RETRY, RetryPolicy(), "WEFT_DEFAULT_RETRY")
    base = RetryPolicy.parse(definition.retry, default, f"skills.{definition.name}.retry")
    return RetryPolicy.parse(override, base, "retry")


def sync() -> tuple[int, int]:
    """Upsert a Skill row per registered skill; return (created, updated)."""
    from .models import Skill

    created = updated = 0
    for d in all_skills():
        _, was_created = Skill.objects.update_or_create(
            name=d.name, version=d.version,
            defaults={
                "kind": d.kind, "target": d.target, "params_schema": dict(d.params_schema),
                "limits": d.limits.as_dict(), "retry": dict(d.retry or {}), "timeout": d.timeout,
                "queue": d.queue or "", "priority": d.priority, "description": d.description,
                "requires_approval": d.requires_approval,
            },
        )
        created += was_created
        updated += not was_created
    return created, updated


def requires_approval(skill_name: str) -> bool:
    """Whether tasks of this (registered) skill wait for someone's approval before they first run."""
    autodiscover()
    d = _skills.get(skill_name)
    return d is not None and d.requires_approval
