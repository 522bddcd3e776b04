"""A spec resolved against its skill and the settings: the Task row's spec fields, each option merged
settings -> skill -> submission as options.py declares it, within the configured ceilings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.signals import setting_changed

from . import capabilities, conf, options, registry, skill_choice, skill_limits
from .conf import settings
from .exceptions import InvalidInput, Refused
from .limits import Limits, RetryPolicy
from .options import Merge, Option
from .spec import TaskSpec, check_params


def resolve(spec: TaskSpec, path: str = "", overrides: skill_limits.Overrides | None = None,
            definition: registry.SkillDef | None = None) -> dict[str, Any]:
    """Check a spec against its skill and the ceilings; return the Task row's spec fields. ``overrides``: the
    Skill rows' limits (``skill_limits.row_overrides()``; None: the code's and the settings' alone).
    ``definition``: the version ``skill_choice.choose`` chose for it (None: chosen here)."""
    p = f"{path}." if path else ""
    if definition is None:
        definition = skill_choice.choose([(path, spec.skill, spec.version)])[0]
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
    out = {**shape, "params": dict(spec.params),
           **skill_limits.task_fields(definition, shape["queue"], shape["locks"], spec.params, p, overrides)}
    if shape["capabilities"]:  # sent where only a worker with them reads (capabilities.py); limits keep the queue's
        out["queue"] = capabilities.routed_queue(shape["queue"], shape["capabilities"])
    return out


# The part of a resolved spec that does not depend on params (the options), by spec shape: a job of ten
# thousand tasks of one skill, or a stream of lone submits, works it out once. It depends on the skill's
# definition and on the settings object in force, both checked by identity (a re-registered skill or
# overridden settings miss), and on settings (forgotten when Django reports a change).
_shapes: dict[Any, tuple[registry.SkillDef, object, dict[str, Any]]] = {}


def _forget_shapes(**kwargs: Any) -> None:
    _shapes.clear()


setting_changed.connect(_forget_shapes, dispatch_uid="weft_forget_shapes")


def _shape_key(spec: TaskSpec) -> Any:
    try:
        return (spec.skill, spec.version, options.hashable(spec))
    except TypeError:  # an unhashable value in retry: just do not cache
        return None


def _resolve_shape(spec: TaskSpec, definition: registry.SkillDef, p: str) -> dict[str, Any]:
    shape: dict[str, Any] = {"skill_name": definition.name, "skill_version": definition.version}
    for opt, given in options.items(spec):
        shape[opt.column] = _MERGES[opt.merge](opt, given, definition, f"{p}{opt.name}")
    return shape


def _first(opt: Option, given: Any, definition: registry.SkillDef, path: str) -> Any:
    """The submission's value, else the skill's, else the default setting's; within the ceiling."""
    value = given if given is not None else getattr(definition, opt.name)
    if value is None and opt.default_setting is not None:
        value = getattr(settings, opt.default_setting)
    ceiling = opt.ceiling
    if value is None or ceiling is None:
        return value
    bound = getattr(settings, ceiling.setting)
    if ceiling.kind == "max" and bound is not None and value > bound:
        raise Refused(path, f"{value:g}{ceiling.unit} exceeds the configured ceiling {bound:g}{ceiling.unit}",
                      f"builtin.{ceiling.setting.lower()}")
    if ceiling.kind == "member" and bound is not None and value not in bound:  # nobody would ever run it
        raise Refused(path, f"{value!r} is not one of {ceiling.what} (WEFT_{ceiling.setting}: {', '.join(bound)})",
                      f"builtin.{ceiling.setting.lower()}")
    return value


def _limits(opt: Option, given: Limits, definition: registry.SkillDef, path: str) -> dict[str, Any]:
    """The skill's limits with every limit the submission sets replaced, within WEFT_LIMIT_CEILINGS."""
    ceilings = Limits.parse(settings.LIMIT_CEILINGS, "WEFT_LIMIT_CEILINGS")
    limits = definition.limits.merged(given)
    limits.check_ceilings(ceilings, path)
    return limits.as_dict()


def _retry(opt: Option, given: Any, definition: registry.SkillDef, path: str) -> dict[str, Any]:
    """The task's retry policy: the caller's over the skill's over WEFT_DEFAULT_RETRY, within the ceiling
    and the floor; a skill with ``allow_retry_override=False`` refuses a caller's that changes anything."""
    policy: RetryPolicy = registry.effective_retry(definition, given)
    if (given is not None and not definition.allow_retry_override
            and policy != registry.effective_retry(definition, None)):  # rerun sends the same policy back
        raise InvalidInput(path, f"skill {definition.name!r} does not let callers change its retry policy")
    policy.check_bounds(settings.MAX_RETRY_ATTEMPTS, settings.MIN_RETRY_BACKOFF, path)
    return policy.as_dict()


def _union(opt: Option, given: Any, definition: registry.SkillDef, path: str) -> list[str]:
    """The skill's locks and the submission's, each once, in that order (templates: filled from params later)."""
    return list(dict.fromkeys([*getattr(definition, opt.name), *(given or ())]))


def _set(opt: Option, given: Any, definition: registry.SkillDef, path: str) -> list[str]:
    """The skill's labels and the submission's, each once, sorted, within the option's bound (its parse)."""
    together = sorted({*getattr(definition, opt.name), *(given or ())})
    return list(opt.parse(together, path) if opt.parse is not None else together)


_MERGES: dict[Merge, Callable[[Option, Any, registry.SkillDef, str], Any]] = {
    Merge.FIRST: _first, Merge.LIMITS: _limits, Merge.RETRY: _retry, Merge.UNION: _union, Merge.SET: _set,
}
