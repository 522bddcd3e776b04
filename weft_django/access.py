"""Who may run what through the HTTP API. The Python API and the commands are trusted callers and skip this.

A user runs skills with the ``weft.run_skill`` permission (superusers hold every permission), and a
skill registered with ``permission="app.codename"`` also needs that one. Which jobs a user sees is
``Job.objects.visible_to(user)``: their own, or every job for staff.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import registry
from .exceptions import PermissionDenied, UnknownSkill

RUN_SKILL = "weft.run_skill"


def may_run(user: Any, definition: registry.SkillDef) -> bool:
    return bool(user.has_perm(RUN_SKILL) and (definition.permission is None or user.has_perm(definition.permission)))


def check_may_run(user: Any, skills: Iterable[tuple[str, str]]) -> None:
    """Raise PermissionDenied for the first (field path, skill name) the user may not run.

    An unknown name is left to submission, which reports it as a bad field.
    """
    if not user.has_perm(RUN_SKILL):
        raise PermissionDenied(f"running skills needs the permission {RUN_SKILL}")
    for path, name in skills:
        try:
            definition = registry.get(name)
        except UnknownSkill:
            continue
        if definition.permission is not None and not user.has_perm(definition.permission):
            raise PermissionDenied(f"{path}: skill {name!r} needs the permission {definition.permission}")
