"""Skills registered in code (``@skill``, ``command_skill``), looked up by name, mirrored to Skill rows."""

from __future__ import annotations

import dataclasses
import inspect
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Unpack

from . import finders, gates, options, versions
from .argv import all_placeholders, argv_placeholders, check_allow_options, check_argv_template, render_argv
from .exceptions import InvalidInput, UnknownSkill
from .options import OptionArgs, TaskOptions
from .spec import QUEUE_RE, RetryPolicy, check_schema
from .workspace_spec import Workspace

__all__ = ["PERMISSION_RE", "Isolation", "SkillDef", "all_skills", "argv_placeholders", "autodiscover",
           "check_argv_template", "command_skill", "effective_retry", "get", "register",
           "render_argv", "requires_approval", "skill", "sync"]

PERMISSION_RE = re.compile(r"^\w+\.\w+\Z")

Isolation = Literal["inline", "process"]


@dataclass(frozen=True)
class SkillDef(TaskOptions):
    """A skill as registered in code; its task options (keyword-only) are the defaults of its tasks."""

    name: str
    kind: Literal["python", "command"]
    version: str = "1"
    func: Callable[..., Any] | None = None
    argv: tuple[str, ...] = ()
    params_schema: Mapping[str, Any] = field(default_factory=dict)
    isolation: Isolation = "inline"
    description: str = ""
    wants_context: bool = False
    permission: str | None = None  # "app_label.codename" a user needs to run it through the HTTP API
    requires_approval: bool = False  # each task waits, blocked, until someone approves it
    allow_retry_override: bool = True  # False: a submission's retry may not change the skill's
    allow_options: frozenset[str] = frozenset()  # placeholders whose value may start with "-" (command skills)
    workspace: Workspace | None = None  # a command run in its own git worktree per task (agents.py)
    # Skill-level only (a submission cannot lift its own); overridden by settings and Skill row (skill_limits.py).
    concurrency: tuple[gates.ConcurrencyLimit, ...] = ()
    rate: tuple[gates.RateLimit, ...] = ()

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
    if not definition.name or not isinstance(definition.name, str) or "@" in definition.name:
        raise InvalidInput("name", "a skill needs a non-empty name without '@' (it pins a version: 'name@2')")
    check_schema(definition.params_schema or {"type": "object"}, f"skills.{definition.name}.params")
    if definition.queue is not None and not QUEUE_RE.match(definition.queue):
        raise InvalidInput(f"skills.{definition.name}.queue", f"invalid queue name {definition.queue!r}")
    if definition.isolation not in ("inline", "process"):
        raise InvalidInput(f"skills.{definition.name}.isolation", "must be 'inline' or 'process'")
    if definition.permission is not None and not PERMISSION_RE.match(str(definition.permission)):
        raise InvalidInput(f"skills.{definition.name}.permission",
                              f"must be 'app_label.codename', got {definition.permission!r}")
    # Checked here, not at the first submit: a bad default would otherwise reach the database's constraints.
    options.check_values(definition, f"skills.{definition.name}.")
    p = f"skills.{definition.name}."  # limits may come as plain data (SkillDef(concurrency=5)): parsed here
    definition = dataclasses.replace(definition, concurrency=gates.parse_concurrency(definition.concurrency,
                                     f"{p}concurrency"), rate=gates.parse_rate(definition.rate, f"{p}rate"))
    RetryPolicy.parse(definition.retry, RetryPolicy(), f"skills.{definition.name}.retry")
    versions.check_version(definition.version, f"skills.{definition.name}.version")
    with _lock:
        pinned = f"{definition.name}@{definition.version}"
        existing = _skills.get(pinned)
        if existing is not None and existing.target != definition.target:
            raise InvalidInput("name", f"skill {pinned!r} is already registered as {existing.target}")
        _skills[pinned] = definition
        newest = _skills.get(definition.name)
        if newest is None or versions.order_key(definition.version) >= versions.order_key(newest.version):
            _skills[definition.name] = definition
    return definition


def skill(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    version: str = "1",
    params: Mapping[str, Any] | None = None,
    isolation: Isolation = "inline",
    permission: str | None = None,
    requires_approval: bool = False,
    allow_retry_override: bool = True,
    concurrency: Any = None,
    rate: Any = None,
    **task_options: Unpack[OptionArgs],
) -> Any:
    """Register a function as a Python skill. It gets params as keyword arguments (and ``ctx`` if it asks).

    ``permission`` ("app_label.codename"): what a user needs, besides ``weft.run_skill``, to run it
    through the HTTP API. ``requires_approval``: each of its tasks waits (blocked, "awaiting approval")
    until someone with ``weft.approve_task`` approves it, or fails if they reject it.
    ``allow_retry_override=False``: a submission's ``retry`` that would change this skill's policy is refused.
    ``concurrency`` (``5``, ``{"key": "{tenant_id}", "limit": 2}``), ``rate`` (``"10/m"``, ``{"key": "{api}",
    "rate": "100/h"}``) or lists of them hold across every worker (docs/governance.md).
    The task options (``limits``, ``retry``, ``timeout``, ``queue``, ``priority``: options.py) are the
    defaults of its tasks.
    """
    options.refuse_unknown(task_options, "skill")

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        skill_name = name or f"{f.__module__}.{f.__name__}"
        register(SkillDef(
            name=skill_name,
            kind="python",
            version=str(version),
            func=f,
            params_schema=params or {},
            isolation=isolation,
            description=inspect.getdoc(f) or "",
            wants_context="ctx" in inspect.signature(f).parameters,
            permission=permission,
            requires_approval=bool(requires_approval),
            allow_retry_override=bool(allow_retry_override),
            concurrency=concurrency, rate=rate,
            **options.parse_values(task_options, f"skills.{skill_name}."),
        ))
        return f

    return decorate(func) if func is not None else decorate


def command_skill(
    name: str,
    argv: Sequence[str],
    *,
    version: str = "1",
    params: Mapping[str, Any] | None = None,
    description: str = "",
    permission: str | None = None,
    requires_approval: bool = False,
    allow_retry_override: bool = True,
    allow_options: Sequence[str] = (),
    concurrency: Any = None,
    rate: Any = None,
    **task_options: Unpack[OptionArgs],
) -> SkillDef:
    """Register an argv template. ``{name}`` placeholders are filled from params, one argv element each.

    A value that would start an argv element with ``-`` (and so be read as an option of the program,
    ``--output=x``) is refused at submission, unless its placeholder is in ``allow_options`` or the
    element comes after a literal ``"--"`` element (the end of options, for programs that honour it).
    The task options and ``concurrency`` and ``rate`` are as ``skill``'s.
    """
    options.refuse_unknown(task_options, "command_skill")
    template = check_argv_template(argv, f"skills.{name}.argv")
    allowed = check_allow_options(allow_options, template, f"skills.{name}.allow_options")
    schema = dict(params) if params is not None else {
        "type": "object",
        "properties": {p: {"type": ["string", "number", "integer"]} for p in all_placeholders(template)},
        "required": sorted(set(all_placeholders(template))),
    }
    return register(SkillDef(
        name=name, kind="command", version=str(version), argv=template, params_schema=schema,
        description=description, permission=permission,
        requires_approval=bool(requires_approval), allow_retry_override=bool(allow_retry_override),
        allow_options=allowed, concurrency=concurrency, rate=rate,
        **options.parse_values(task_options, f"skills.{name}."),
    ))


def autodiscover() -> None:
    """Import ``<app>.skills`` of every installed app, once per process."""
    global _discovered
    if _discovered:
        return
    from django.utils.module_loading import autodiscover_modules

    from .conf import settings

    autodiscover_modules(settings.AUTODISCOVER_MODULE)
    _discovered = True


def get(name: str, version: str | None = None) -> SkillDef:
    """The skill registered as ``name`` in ``version`` (or pinned as ``"name@version"``); without a version the
    newest registered one (``choose`` also skips the versions an operator disabled)."""
    autodiscover()
    name, version = versions.split_pin(name, version)
    if name not in _skills:
        finders.find(name)  # e.g. a Django Tasks framework task, registered when its module is imported
    found = _skills.get(name if version is None else f"{name}@{version}")
    if found is None:
        raise UnknownSkill(name if version is None else f"{name}@{version}", known=versions_of(name))
    return found


def versions_of(name: str) -> list[str]:
    """The versions of ``name`` registered in this process, newest first."""
    return versions.newest_first([d.version for k, d in list(_skills.items()) if d.name == name and "@" in k])


def all_skills() -> list[SkillDef]:
    """Every registered version of every skill (``_skills`` holds each under ``name@version``, and the newest
    also under ``name``), by name then version."""
    autodiscover()
    every = (d for k, d in list(_skills.items()) if "@" in k)
    return sorted(every, key=lambda s: (s.name, versions.order_key(s.version)))


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
        _, was_created = Skill.objects.update_or_create(name=d.name, version=d.version, defaults={
            "kind": d.kind, "target": d.target, "params_schema": dict(d.params_schema), **options.skill_row(d),
            "description": d.description, "requires_approval": d.requires_approval})
        created += was_created
        updated += not was_created
    return created, updated


def requires_approval(skill_name: str) -> bool:
    """Whether tasks of this (registered) skill wait for someone's approval before they first run."""
    autodiscover()
    d = _skills.get(skill_name)
    return d is not None and d.requires_approval
