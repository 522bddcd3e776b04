"""A task spec resolved against its skill and the settings: the Task row's spec fields."""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed

from . import conf, registry
from .conf import settings
from .exceptions import UnknownSkill, ValidationError
from .spec import Limits, RetryPolicy, TaskSpec, check_params


def resolve(spec: TaskSpec, path: str = "") -> dict[str, Any]:
    """Check a spec against its skill and the ceilings; return the Task row's spec fields."""
    p = f"{path}." if path else ""
    try:
        definition = registry.get(spec.skill)
    except UnknownSkill:
        raise UnknownSkill(spec.skill, f"{p}skill") from None
    check_params(definition.params_schema, spec.params, f"{p}params")
    if definition.kind == "command":
        registry.render_argv(definition, spec.params)
    key = _shape_key(spec)
    src = conf.source()  # before resolving: a shape is stored under the settings it was resolved with
    cached = _shapes.get(key) if key is not None else None
    if cached is not None and cached[0] is definition and cached[1] is src:
        shape = cached[2]
    else:
        shape = _resolve_shape(spec, definition, p)
        if key is not None:
            if len(_shapes) >= 1024:  # many distinct timeouts or limits: start over rather than grow
                _shapes.clear()
            _shapes[key] = (definition, src, shape)
    return {**shape, "params": dict(spec.params)}


# The part of a resolved spec that does not depend on params (limits, retry, timeout, queue, priority),
# by spec shape: a job of ten thousand tasks of one skill, or a stream of lone submits, works it out once.
# It depends on the skill's definition and on the settings object in force, both checked by identity
# (a re-registered skill or overridden settings miss), and on settings (forgotten when Django reports a change).
_shapes: dict[Any, tuple[registry.SkillDef, object, dict[str, Any]]] = {}


def _forget_shapes(**kwargs: Any) -> None:
    _shapes.clear()


setting_changed.connect(_forget_shapes, dispatch_uid="weft_forget_shapes")


def _shape_key(spec: TaskSpec) -> Any:
    try:
        retry = None if spec.retry is None else tuple(sorted(spec.retry.items()))
        key = (spec.skill, spec.limits, retry, spec.timeout, spec.queue, spec.priority)
        hash(key)
    except TypeError:  # an unhashable value in retry: just do not cache
        return None
    return key


def _resolve_shape(spec: TaskSpec, definition: registry.SkillDef, p: str) -> dict[str, Any]:
    ceilings = Limits.parse(settings.LIMIT_CEILINGS, "WEFT_LIMIT_CEILINGS")
    limits = definition.limits.merged(spec.limits)
    limits.check_ceilings(ceilings, f"{p}limits")
    timeout = spec.timeout or definition.timeout or settings.DEFAULT_TIMEOUT
    if timeout is not None and timeout > settings.MAX_TIMEOUT:
        raise ValidationError(f"{p}timeout", f"{timeout:g} s exceeds the configured ceiling {settings.MAX_TIMEOUT:g} s")
    priority = spec.priority if spec.priority is not None else definition.priority
    queue = spec.queue or definition.queue or settings.DEFAULT_QUEUE
    if settings.QUEUES is not None and queue not in settings.QUEUES:  # nobody would ever run it (issue 10)
        raise ValidationError(f"{p}queue", f"{queue!r} is not one of the queues workers read (WEFT_QUEUES: "
                                           f"{', '.join(settings.QUEUES)})")
    return {
        "skill_name": definition.name,
        "skill_version": definition.version,
        "limits": limits.as_dict(),
        "retry": _retry(spec, definition, p).as_dict(),
        "timeout": timeout,
        "queue": queue,
        "priority": settings.DEFAULT_PRIORITY if priority is None else priority,
    }


def _retry(spec: TaskSpec, definition: registry.SkillDef, p: str) -> RetryPolicy:
    """The task's retry policy: the caller's over the skill's over WEFT_DEFAULT_RETRY, within the ceiling
    and the floor; a skill with ``allow_retry_override=False`` refuses a caller's that changes anything."""
    policy = registry.effective_retry(definition, spec.retry)
    if (spec.retry is not None and not definition.allow_retry_override
            and policy != registry.effective_retry(definition, None)):  # rerun sends the same policy back
        raise ValidationError(f"{p}retry", f"skill {definition.name!r} does not let callers change its retry policy")
    policy.check_bounds(settings.MAX_RETRY_ATTEMPTS, settings.MIN_RETRY_BACKOFF, f"{p}retry")
    return policy
