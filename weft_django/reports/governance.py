"""Reads of governance: what the policies would do to a submission (a dry run), whether the rules are
sound, and a job's audit entries and policy decision records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from django.db.models import Model, QuerySet

from .. import access, registry
from ..exceptions import InvalidInput
from ..lifecycle.policing import subject
from ..models import AuditEntry, PolicyDecision
from ..policy import store
from ..policy.apply import apply_task
from ..policy.conflicts import conflicts
from ..policy.engine import claim_time, evaluate
from ..policy.yamlfile import parse_file
from ..resolve import resolve
from ..spec import TaskSpec

_R = TypeVar("_R", bound=Model)


def policy_explain(skill: str, owner: Any = None, params: Mapping[str, Any] | None = None, *,
                   queue: str | None = None, labels: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What would apply to this submission, without submitting it: the rules that match, each effect and
    the rule (and scope) that decides it, what it would change, and the built-in policies of the skill."""
    fields = resolve(TaskSpec(skill=skill, params=dict(params or {}), queue=queue))
    rules = store.rules()
    s = subject(fields, owner, labels)
    verdict = evaluate(rules, s)
    _, changes = apply_task(verdict, fields)
    definition = registry.get(skill)
    denied = verdict.denied
    return {
        "skill": skill, "owner": s.owner, "queue": s.queue,
        "matched": [{"rule": r.name, "scope": r.scope, "source": r.where} for r in verdict.matched],
        "effects": {k: {"value": e.value, "rule": e.rule.name, "scope": e.rule.scope,
                        **({"conflict_with": list(e.conflict)} if e.conflict else {})}
                    for k, e in sorted(verdict.effects.items())},
        "denied": None if denied is None else {"rule": denied.rule.name, "reason": denied.rule.reason},
        "changes": [{**c.as_dict(), "rule": c.effect.rule.name} for c in changes],
        "requires_approval": bool(verdict.approval) or definition.requires_approval,
        "checked_at_claim": claim_time(rules, s),
        "builtin": {"builtin.skill_permission": definition.permission,
                    "builtin.approval": definition.requires_approval,
                    "builtin.skill_enabled": "the skill's Skill row must be enabled"},
    }


def policy_validate(path: str | None = None) -> dict[str, Any]:
    """The rules of ``path`` (a policy file), or of every source in force: how many, the first schema
    error of each source (naming the field, and the line in a file), and the conflicts."""
    errors: list[str] = []
    rules = []
    sources = [("file", lambda: parse_file(path))] if path else [
        ("settings and file", store.configured), ("admin", store.stored)]
    for name, read in sources:
        try:
            rules += read()
        except InvalidInput as exc:
            errors.append(f"{name}: {exc}")
    return {"rules": len(rules), "errors": errors, "conflicts": [str(c) for c in conflicts(rules)]}


def job_governance(job_id: int) -> dict[str, Any]:
    """A job's audit entries (what people did to it) and policy decision records (what rules did to it)."""
    audit = AuditEntry.objects.filter(job_id=job_id).order_by("id").values(
        "created_at", "actor_name", "via", "action", "task_id", "target", "detail")
    records = PolicyDecision.objects.filter(job_id=job_id).order_by("id").values(
        "created_at", "rule", "scope", "outcome", "task_id", "matched", "changed", "reason")
    return {"audit": [{**{k: v for k, v in a.items() if k != "actor_name"}, "who": a["actor_name"] or "code"}
                      for a in audit], "policy_decisions": list(records)}


def visible_governance(user: Any, rows: QuerySet[_R]) -> QuerySet[_R]:
    """Policy decision records or audit entries a user may see: every one with ``weft.view_all_jobs``
    (refusals and policy changes have no job), else those of their own jobs."""
    if getattr(user, "is_authenticated", False) and user.has_perm(access.VIEW_ALL_JOBS):
        return rows
    return access.visible_rows(user, rows.filter(job__isnull=False))
