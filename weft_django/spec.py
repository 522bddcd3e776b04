"""TaskSpec, Limits and RetryPolicy: frozen, validated descriptions of work (pure, no Django).

TaskSpec's options (limits, retry, timeout, queue, priority) are declared in options.py; Limits and
RetryPolicy live in limits.py and the value checks in validators.py. Their names stay importable here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from . import options, versions
from .exceptions import InvalidInput
from .limits import Limits, RetryPolicy
from .options import TaskOptions
from .validators import (
    KEY_RE,
    MAX_INT,
    MAX_JSON_DEPTH,
    MAX_TEXT,
    PRIORITY_RANGE,
    QUEUE_RE,
    check_depth,
    check_json,
    check_params,
    check_schema,
    check_text,
    unknown_field,
)
from .validators import number as _number
from .validators import positive_number as _positive_number

__all__ = ["KEY_RE", "MAX_INT", "MAX_JSON_DEPTH", "PRIORITY_RANGE", "QUEUE_RE", "Limits", "RetryPolicy", "TaskSpec",
           "_number", "_positive_number", "check_depth", "check_json", "check_params", "check_schema", "check_text",
           "unknown_field"]


@dataclass(frozen=True)
class TaskSpec(TaskOptions):
    """What to run: immutable once a Task row holds it. Its options (keyword-only) are TaskOptions'."""

    skill: str
    params: Mapping[str, Any] = field(default_factory=dict)
    key: str | None = None
    depends_on: tuple[str, ...] = ()
    version: str | None = None  # a pin (options.VERSION); None: the newest enabled version at submission

    @classmethod
    def parse(cls, data: Mapping[str, Any], path: str = "") -> TaskSpec:
        """Build a spec from plain data (JSON, YAML, API), naming the field at fault on error."""
        p = f"{path}." if path else ""
        if not isinstance(data, Mapping):
            raise InvalidInput(path or "task", f"must be an object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        for name in data:
            if name not in known:
                raise unknown_field(name, p, path or "task", known)
        skill = data.get("skill")
        if not isinstance(skill, str) or not skill:
            raise InvalidInput(f"{p}skill", "is required and must be a non-empty string")
        deps = data.get("depends_on")
        # A string is iterable: tuple("ab") would silently depend on tasks "a" and "b".
        if deps is not None and (isinstance(deps, str) or not isinstance(deps, list | tuple)):
            raise InvalidInput(f"{p}depends_on", f"must be a list of task keys, got {type(deps).__name__}")
        params = data.get("params")
        spec = cls(
            skill=skill,
            params={} if params is None else params,  # not `or {}`: [] or "" must be refused, not emptied
            key=data.get("key"),
            depends_on=tuple(deps or ()),
            version=data.get(options.VERSION.name),
            **options.parse_values(data, p),
        )
        spec.validate(path)
        return spec

    def validate(self, path: str = "") -> None:
        """Check the shape of every field (not the skill's schema: that needs the registry)."""
        p = f"{path}." if path else ""
        if not isinstance(self.params, Mapping):
            raise InvalidInput(f"{p}params", f"must be an object, got {type(self.params).__name__}")
        check_json(self.params, f"{p}params")
        if self.key is not None and (not isinstance(self.key, str) or not KEY_RE.match(self.key)):
            raise InvalidInput(f"{p}key", f"must be 1-100 letters, digits or _.:-, got {self.key!r}")
        for i, dep in enumerate(self.depends_on):
            if not isinstance(dep, str) or not KEY_RE.match(dep):
                raise InvalidInput(f"{p}depends_on[{i}]", f"must be a task key, got {dep!r}")
        options.check_values(self, p)
        if not isinstance(self.skill, str) or not self.skill:
            raise InvalidInput(f"{p}skill", "is required and must be a non-empty string")
        # Checked here, under its own name: a job's name defaults to its skill's, and would report it otherwise.
        if len(self.skill) > MAX_TEXT:
            raise InvalidInput(f"{p}skill", f"must be at most {MAX_TEXT} characters")
        check_text(self.skill, f"{p}skill")
        versions.split_pin(self.skill, self.version, path)  # a malformed or contradicting pin, named
