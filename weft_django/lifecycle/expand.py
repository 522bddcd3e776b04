"""The outcomes of an attempt that grow its job (report.py hands them here): ``decompose`` into child tasks,
and ``blocked`` with ``needs``, tasks added at run time for it to wait on. Each is validated whole first (keys,
skills, cycles); what cannot be added fails the attempt at once, with a decision naming why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from .. import dag, skill_choice, skill_limits, transitions
from ..exceptions import InvalidInput, WeftError
from ..handoff import Ready
from ..models import Job, Task
from ..outcomes import Observation
from ..policy import store
from ..resolve import resolve
from ..spec import TaskSpec
from ..states import DecisionAction, TaskStatus
from . import graph, ledger, policing, rows
from .claim import Claimed
from .submit import JobOptions


def fail_now(c: Claimed, obs: Observation, reason: str, policy: str) -> tuple[str, list[Ready]]:
    """Fail the task for good without consulting the retry policy (bad decomposition, runtime cycle)."""
    if not transitions.fail(c.task_id, c.token, reason):
        return "", []
    outcome = ledger.close(c.attempt_id, obs, "failed")
    ledger.write(c.job_id, c.task_id, c.attempt_id, DecisionAction.FAIL, reason, policy)
    return outcome, graph.after_attempt(c.job_id, c.task_id, succeeded=False, dependents_seen=c.has_dependents,
                                        parent_id=c.parent_id)


def _add_or_refuse(c: Claimed, obs: Observation, keys: Sequence[str], field: str, what: str, policy: str,
                   apply: Callable[[], tuple[str, list[Ready]]]) -> tuple[str, list[Ready]]:
    """Apply an outcome that adds tasks; if another task of the job added one of the same keys at the same
    moment (its insert committed first, past ``check_new_keys``), fail the attempt naming the key."""
    try:
        with transaction.atomic():
            return apply()
    except IntegrityError:
        taken = Task.objects.filter(job_id=c.job_id, key__in=keys).values_list("key", flat=True).first()
        if taken is None:
            raise
        return fail_now(c, obs, f"{what}: {field}: task key {taken!r} already exists in the job", policy)


def _resolve_new(job_id: int, specs: Sequence[Mapping[str, Any]], keys: Sequence[str], path: str,
                 local: Mapping[str, str] | None = None) -> list[tuple[str, TaskSpec, dict[str, Any]]]:
    """Parse and resolve run-time task specs; ``local`` maps sibling keys to job-wide keys. The policies in
    force apply to them as to a submission (a deny refuses them, naming the rule; caps change them), so a
    skill cannot side-step a rule by adding the denied work at run time."""
    out = []
    overrides = skill_limits.row_overrides()
    parsed = [TaskSpec.parse(raw, f"{path}[{i}]") for i, raw in enumerate(specs)]
    chosen = skill_choice.choose([(f"{path}[{i}]", s.skill, s.version) for i, s in enumerate(parsed)])
    for i, (spec, key, d) in enumerate(zip(parsed, keys, chosen, strict=True)):
        deps = tuple(local.get(d, d) for d in spec.depends_on) if local else spec.depends_on
        spec = TaskSpec(**{**spec.__dict__, "key": key, "depends_on": deps})
        out.append((key, spec, resolve(spec, f"{path}[{i}]", overrides, d)))
    skill_choice.check_enabled([(f"{path}[{i}]", d) for i, d in enumerate(chosen)])
    if store.rules():
        job = Job.objects.select_related("owner").filter(pk=job_id).first()
        owner, labels = (job.owner, job.labels) if job is not None else (None, {})
        governed = policing.govern([f for _, _, f in out], [f"{path}[{i}]" for i in range(len(out))],
                                   JobOptions(owner=owner, labels=labels))
        out = [(key, spec, fields) for (key, spec, _), fields in zip(out, governed.fields, strict=True)]
    return out


def decompose(c: Claimed, obs: Observation) -> tuple[str, list[Ready]]:
    o = obs.outcome
    what = "invalid decomposition"
    try:
        if not o.children:
            raise InvalidInput("children", "a decomposition needs at least one child task")
        local = [str(raw.get("key") or i) if isinstance(raw, Mapping) else str(i) for i, raw in enumerate(o.children)]
        full = {k: f"{c.key}/{k}" for k in local}
        if len(full) != len(local):
            raise InvalidInput("children", "duplicate child keys")
        keyed = _resolve_new(c.job_id, o.children, [full[k] for k in local], "children", full)
        for key, spec, _ in keyed:
            unknown = [d for d in spec.depends_on if d not in full.values()]
            if unknown:
                raise InvalidInput(f"children.{key}.depends_on", f"unknown sibling key {unknown[0]!r}")
        dag.check_graph({k: s.depends_on for k, s, _ in keyed}, "children")
        if o.join is not None:
            join = {**o.join, "depends_on": local}
            keyed += _resolve_new(c.job_id, [join], [f"{c.key}/join"], "join", full)
        rows.check_new_keys(c.job_id, [k for k, _, _ in keyed], "children")
    except WeftError as exc:
        return fail_now(c, obs, f"{what}: {exc}", "decompose.invalid")

    def apply() -> tuple[str, list[Ready]]:
        if not transitions.wait(c.task_id, c.token):
            return "", []
        outcome = ledger.close(c.attempt_id, obs, "decomposed")
        added = rows.add_tasks(c.job_id, c.task_id, keyed)
        join_note = f"; joined by {o.join.get('skill')!r}" if o.join else ""
        ledger.write(c.job_id, c.task_id, c.attempt_id, DecisionAction.DECOMPOSE,
                     f"decomposed into {len(o.children)} child tasks{join_note}", "outcome.decompose",
                     {"children": [k for k, _, _ in keyed]})
        return outcome, [Ready(t.pk, 0, t.queue, t.priority) for t in added if t.status == TaskStatus.QUEUED]

    return _add_or_refuse(c, obs, [k for k, _, _ in keyed], "children", what, "decompose.invalid", apply)


def blocked(c: Claimed, obs: Observation) -> tuple[str, list[Ready]]:
    o = obs.outcome
    keyed: list[tuple[str, TaskSpec, dict[str, Any]]] = []
    what = "refused runtime dependencies"
    if o.needs:
        try:
            keys = [str(n.get("key") or f"{c.key}.need{c.token}.{i}") if isinstance(n, Mapping) else ""
                    for i, n in enumerate(o.needs)]
            keyed = _resolve_new(c.job_id, o.needs, keys, "needs")
            rows.check_new_keys(c.job_id, keys, "needs")
            new_edges = {k: list(s.depends_on) for k, s, _ in keyed}
            new_edges[c.key] = keys
            rows.check_acyclic(c.job_id, new_edges)
        except WeftError as exc:
            return fail_now(c, obs, f"{what}: {exc}", "dag.runtime_cycle")

    def apply() -> tuple[str, list[Ready]]:
        if keyed:
            _lock_in_order(c, keyed)
        if not transitions.block(c.task_id, c.token, o.reason):
            return "", []
        outcome = ledger.close(c.attempt_id, obs, "blocked")
        ledger.write(c.job_id, c.task_id, c.attempt_id, DecisionAction.BLOCK, f"blocked: {o.reason}",
                     "outcome.blocked")
        if not keyed:
            graph.stop_if_stuck(c.job_id)
            return outcome, []
        # Needs are children of the task that asked for them; a waiting parent gathers only its decomposition
        # children (keys under its own key), so they never mix into its result.
        added = rows.add_tasks(c.job_id, c.task_id, keyed, [(k, c.key) for k, _, _ in keyed])
        Task.objects.filter(pk=c.task_id).update(pending_deps=F("pending_deps") + len(keyed), has_dependencies=True)
        ledger.write(c.job_id, c.task_id, c.attempt_id, DecisionAction.ADD_DEPENDENCY,
                     f"added {len(keyed)} dependencies at run time: {', '.join(k for k, _, _ in keyed)}",
                     "outcome.blocked.needs", {"needs": [k for k, _, _ in keyed]})
        return outcome, [Ready(t.pk, 0, t.queue, t.priority) for t in added if t.status == TaskStatus.QUEUED]

    if not keyed:
        return apply()
    return _add_or_refuse(c, obs, [k for k, _, _ in keyed], "needs", what, "dag.runtime_cycle", apply)


def _lock_in_order(c: Claimed, keyed: Sequence[tuple[str, TaskSpec, dict[str, Any]]]) -> None:
    """Lock the blocked task and the existing tasks its needs depend on, in id order, before writing any of
    them. ``graph.stop_job`` locks a job's live tasks in id order; taking this task first (by blocking it)
    and an upstream with a lower id next (rows.add_tasks) could deadlock with a job being stopped."""
    new = {k for k, _, _ in keyed}
    ups = {d for _, spec, _ in keyed for d in spec.depends_on if d not in new}
    ids = [c.task_id, *Task.objects.filter(job_id=c.job_id, key__in=ups).values_list("pk", flat=True)]
    list(Task.objects.filter(pk__in=ids).order_by("pk").select_for_update().values_list("pk", flat=True))
