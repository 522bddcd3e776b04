"""Policies at submission: evaluate the rules for each task before anything is written, apply what they
change, and record every refusal, change and hold as a policy decision (through the ledger).

A refusal is recorded without a job (nothing else is written) and raised: PolicyDenied names the rule
and the field. The built-in policies (limit ceilings, the maximum timeout, the queues, retry bounds, a
skill's permission, the ``enabled`` switch) raise their own errors where they are checked; ``recording``
records those refusals the same way, under their ``builtin.*`` names.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..capabilities import base_queue
from ..exceptions import PolicyDenied, Refused, SkillDisabled
from ..models import PolicyDecision, PolicyOutcome
from ..policy import store
from ..policy.apply import Change, apply_budget, apply_task
from ..policy.engine import ClaimVerdict, Effect, Subject, Verdict, claim_time, evaluate
from ..policy.engine import at_claim as engine_at_claim
from . import ledger

_TASK = re.compile(r"^(?:tasks)?\[(\d+)\]")  # tasks[i] of a job, [i] of submit_many's list


def username(owner: Any) -> str:
    if owner is None:
        return ""
    return str(owner.get_username()) if hasattr(owner, "get_username") else str(owner)


def _groups(owner: Any) -> frozenset[str]:
    if not hasattr(owner, "groups") or not getattr(owner, "pk", None):
        return frozenset()
    return frozenset(owner.groups.values_list("name", flat=True))


def subject(fields: Mapping[str, Any], owner: Any, labels: Mapping[str, Any] | None, *, groups: bool = True,
            now: datetime | None = None) -> Subject:
    """What the rules see of a resolved task (``skill_name``, ``queue``, ``params``) and its submitter."""
    # The queue the task names: a rule matches "gpu", not the routed queue "gpu+cuda" it is sent to (capabilities.py).
    return Subject(skill=fields["skill_name"], queue=base_queue(fields.get("queue") or ""), owner=username(owner),
                   groups=_groups(owner) if groups else frozenset(), labels=dict(labels or {}),
                   params=fields.get("params") or {}, now=now or datetime.now(UTC))


def _owner_id(owner: Any) -> int | None:
    pk = getattr(owner, "pk", owner)
    return pk if isinstance(pk, int) else None


def _matched(effect: Effect, s: Subject) -> dict[str, Any]:
    """What the rule matched: its own match, and the task's values it looked at."""
    seen = {"skill": s.skill, "queue": s.queue, "owner": s.owner, "labels": dict(s.labels)}
    out: dict[str, Any] = {"rule": dict(effect.rule.raw.get("match") or {}), "task": seen,
                           "scope": effect.rule.scope, "source": effect.rule.where}
    if effect.conflict:
        out["conflict_with"] = list(effect.conflict)
    return out


@dataclass
class Governed:
    """What the rules made of a submission: the tasks' fields and the job's options as they will be
    written, the tasks held for approval, and the records to write once the job has its ids."""

    fields: list[dict[str, Any]]
    options: Any
    held: set[int] = field(default_factory=set)
    at_claim: list[bool] = field(default_factory=list)  # per task: a claim-time rule may apply (a window)
    # Per task: the concurrency and rate a rule sets (``{"concurrency": {"limit", "key"}, "rate": {"rate", "key"},
    # "rules": {effect: rule name}}``, empty without one), for the limits at claim to read.
    limits: list[dict[str, Any]] = field(default_factory=list)
    pending: list[tuple[int | None, PolicyDecision]] = field(default_factory=list)  # (task index, record)

    @property
    def touched(self) -> bool:
        """Whether any rule changed or held anything (the job then takes the ORM path, to be recorded)."""
        return bool(self.pending)

    def record(self, job_id: int, task_ids: Sequence[int]) -> None:
        rows = []
        for index, row in self.pending:
            row.job_id = job_id
            row.task_id = None if index is None else task_ids[index]
            rows.append(row)
        if rows:
            ledger.policy_records(rows)


def _change_row(change: Change, s: Subject, owner: Any) -> PolicyDecision:
    rule = change.effect.rule
    return PolicyDecision(rule=rule.name, scope=rule.scope, outcome=PolicyOutcome.CHANGED, skill=s.skill,
                          owner_id=_owner_id(owner), matched=_matched(change.effect, s), changed=[change.as_dict()],
                          reason=rule.reason or f"{change.field} set by policy {rule.name!r}")


def govern(fields: list[dict[str, Any]], paths: Sequence[str], options: Any) -> Governed:
    """Apply the rules in force to a submission's resolved tasks (``fields``, one per ``paths`` entry) and
    its JobOptions. Raises PolicyDenied (recorded, nothing else written) for a task a rule denies."""
    rules = store.rules()
    if not rules:
        return Governed(fields, options, at_claim=[False] * len(fields), limits=[{} for _ in fields])
    owner = options.owner
    groups = any(r.match.group for r in rules)
    out = Governed([], options)
    verdicts: list[Verdict] = []
    for i, (f, path) in enumerate(zip(fields, paths, strict=True)):
        s = subject(f, owner, options.labels, groups=groups)
        verdict = evaluate(rules, s)
        denied = verdict.denied
        if denied is not None:
            rule = denied.rule
            where = f"{path}.skill" if path else "skill"
            why = rule.reason or "the policy denies it"
            ledger.policy_records([PolicyDecision(
                rule=rule.name, scope=rule.scope, outcome=PolicyOutcome.REFUSED, skill=s.skill, field=where,
                owner_id=_owner_id(owner), matched=_matched(denied, s), reason=why)])
            raise PolicyDenied(where, f"denied by policy {rule.name!r}: {why}", rule.name)
        new, changes = apply_task(verdict, f)
        out.fields.append(new)
        out.pending += [(i, _change_row(c, s, owner)) for c in changes]
        approval = verdict.approval
        if approval is not None:
            out.held.add(i)
            out.pending.append((i, PolicyDecision(
                rule=approval.rule.name, scope=approval.rule.scope, outcome=PolicyOutcome.HELD, skill=s.skill,
                owner_id=_owner_id(owner), matched=_matched(approval, s),
                reason=approval.rule.reason or f"awaiting approval: policy {approval.rule.name!r} requires it")))
        out.at_claim.append(claim_time(rules, s))
        out.limits.append(limits_of(verdict))
        verdicts.append(verdict)
    budget, changes = apply_budget(verdicts, {"max_cost": options.max_cost, "max_attempts": options.max_attempts,
                                              "max_tokens": options.max_tokens})
    if changes:
        out.options = dataclasses.replace(options, **budget)
        for c in changes:
            s = subject(fields[0], owner, options.labels, groups=False)
            out.pending.append((None, _change_row(c, s, owner)))
    return out


def limits_of(verdict: Verdict) -> dict[str, Any]:
    """The concurrency and rate effects of a verdict, with the rule that set each (empty without one)."""
    found = {k: verdict.effects[k] for k in ("concurrency", "rate") if k in verdict.effects}
    if not found:
        return {}
    return {**{k: e.value for k, e in found.items()}, "rules": {k: e.rule.name for k, e in found.items()}}


def limits_for(task: Mapping[str, Any], owner: Any, labels: Mapping[str, Any] | None) -> dict[str, Any]:
    """``limits_of`` for a task (its row's ``skill_name``, ``queue``, ``params``; its job's owner and labels)
    under the rules in force: where the concurrency and rate limits read what policies set."""
    return limits_of(evaluate(store.rules(), subject(task, owner, labels)))


@contextmanager
def recording(owner: Any, skills: Sequence[str]) -> Iterator[None]:
    """Record a built-in policy's refusal raised inside (a ceiling, a bound, a permission, a disabled
    skill) as a policy decision without a job, then let it go on. ``skills``: the submission's skill names
    by task, to name the skill of ``tasks[i].*``."""
    try:
        yield
    except (Refused, PolicyDenied, SkillDisabled) as exc:
        if not exc.rule.startswith("builtin."):
            raise  # a rule's refusal: ``govern`` recorded it with what the rule matched
        index = _TASK.match(exc.field)
        skill = skills[int(index.group(1))] if index and int(index.group(1)) < len(skills) else (
            skills[0] if len(skills) == 1 else "")
        rule = exc.rule
        ledger.policy_records([PolicyDecision(
            rule=rule, scope="skill" if rule in ("builtin.skill_permission", "builtin.skill_enabled") else "global",
            outcome=PolicyOutcome.REFUSED, skill=skill, field=exc.field, owner_id=_owner_id(owner),
            matched={"source": "builtin"}, reason=exc.message)])
        raise


def holds_possible() -> bool:
    """Whether any rule in force requires approval (else no task can have been held by one)."""
    return any(r.effects.get("require_approval") for r in store.rules())


# ---------------------------------------------------------------- at claim (for the claim's admission)


def claim_rules_exist() -> bool:
    """Whether any rule in force could hold a task at claim (a deny with a time window): when none does,
    the claim need not evaluate at all."""
    return any(r.match.window is not None and r.effects.get("deny") for r in store.rules())


def at_claim(task: Mapping[str, Any], owner: Any, labels: Mapping[str, Any] | None, now: datetime) -> ClaimVerdict:
    """Whether a claimed task (``skill_name``, ``queue``, ``params`` of its row; its job's owner and
    labels) may start at ``now``: the pure ``engine.at_claim`` over the rules in force."""
    return engine_at_claim(store.rules(), subject(task, owner, labels, now=now))


def record_claim_hold(job_id: int, task_id: int, skill: str, verdict: ClaimVerdict) -> None:
    """Record that a policy held a task at claim (``verdict.run`` is False), with until when."""
    until = verdict.until.isoformat() if verdict.until else None
    ledger.policy_records([PolicyDecision(
        rule=verdict.rule, scope=verdict.scope, outcome=PolicyOutcome.HELD, skill=skill, job_id=job_id,
        task_id=task_id, matched={"at": "claim"}, changed=[{"field": "not_before", "from": None, "to": until}],
        reason=verdict.reason)])
