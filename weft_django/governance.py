"""What people do to weft, recorded (who, when, from where), and the changes to policies and skills an
operator makes. The service functions call ``audit`` after each action; the admin saves Policy rows and
switches skills through ``check_policy``, ``policy_saved``, ``policy_deleted`` and ``set_skill_enabled``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import access
from .exceptions import InvalidInput, UnknownId
from .lifecycle import ledger
from .models import AuditAction, Policy, Skill, Task, Via
from .policy import store
from .validators import check_text

VIAS = tuple(Via.values)


def who(by: Any) -> str:
    """How the decisions and the audit trail name ``by`` (a user, a name, or None); InvalidInput naming ``by``
    for a name no row can hold (a NUL, a lone surrogate), before anything is written with it."""
    if by is None:
        return "an operator"
    name = by.get_username() if hasattr(by, "get_username") else str(by)
    check_text(name, "by")
    return name or "an operator"


def check_via(via: str) -> str:
    if via not in VIAS:
        raise InvalidInput("via", f"must be one of {', '.join(VIAS)}, got {via!r}")
    return via


def audit(action: str, by: Any, via: str, *, job_id: int | None = None, task_id: int | None = None,
          target: str = "", detail: Mapping[str, Any] | None = None) -> None:
    """Record that ``by`` (a user, a name, or None: code) did ``action`` from ``via``."""
    if task_id is not None and job_id is None:
        job_id = Task.objects.filter(pk=task_id).values_list("job_id", flat=True).first()
    ledger.audit(action, check_via(via), by.pk if access.is_user(by) else None,
                 "" if by is None else who(by), job_id=job_id, task_id=task_id, target=target, detail=detail)


def check_policy(fields: Mapping[str, Any], pk: int | None = None) -> None:
    """Check a Policy row's fields before it is saved (InvalidInput names the field: ``effects.timeout``;
    a name taken, or a conflict with a rule of the same scope, is refused too)."""
    store.check_row(fields, pk)


def policy_saved(pk: int, *, created: bool, by: Any = None, via: str = "code",
                 changed: list[str] | None = None) -> None:
    """A Policy row was saved: the rules are read again, and the change is recorded."""
    store.forget()
    row = Policy.objects.filter(pk=pk).values("name", "enabled", "match", "effects").first()
    if row is None:
        raise UnknownId(f"no policy with id {pk}")
    audit(AuditAction.POLICY_ADD if created else AuditAction.POLICY_CHANGE, by, via, target=f"policy {row['name']}",
          detail={**row, "changed_fields": changed or []})


def policy_deleted(name: str, *, by: Any = None, via: str = "code") -> None:
    store.forget()
    audit(AuditAction.POLICY_DELETE, by, via, target=f"policy {name}")


def set_skill_enabled(pk: int, enabled: bool, *, by: Any = None, via: str = "code") -> bool:
    """Switch a skill on or off (its Skill row's ``enabled``); recorded. False if it already was."""
    row = Skill.objects.filter(pk=pk).values_list("name", "version", "enabled").first()
    if row is None:
        raise UnknownId(f"no skill with id {pk}")
    name, version, was = row
    if was == enabled:
        return False
    Skill.objects.filter(pk=pk).update(enabled=enabled)
    audit(AuditAction.SKILL_ENABLE if enabled else AuditAction.SKILL_DISABLE, by, via,
          target=f"skill {name}@{version}", detail={"enabled": enabled})
    return True


def set_skill_limits(pk: int, concurrency: Any, rate: Any, *, by: Any = None, via: str = "code") -> None:
    """An operator's concurrency and rate for a Skill row (None: the code's), over what its code declares;
    recorded. Checked by the caller (``service.check_skill_limit``)."""
    row = Skill.objects.filter(pk=pk).values_list("name", "version").first()
    if row is None:
        raise UnknownId(f"no skill with id {pk}")
    Skill.objects.filter(pk=pk).update(concurrency=concurrency, rate=rate)
    audit(AuditAction.SKILL_LIMITS, by, via, target=f"skill {row[0]}@{row[1]}",
          detail={"concurrency": concurrency, "rate": rate})

