"""Submit many: many one-task jobs at once, each validated, policed and governed exactly as ``submit()``
does, then written all or nothing in one transaction, and their messages handed off together on commit.

Every item is checked before anything is written; an error names the item and its field (``[3].params.n``).
On PostgreSQL the plain items (what ``submit.lone_statement`` accepts) are written by one statement,
``SUBMIT_MANY``: jobs and tasks from arrays, however many there are; the others (a key, a deadline, an
approval, a rule's change, a rate) through submit's ORM path, in the same transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from .. import options, signals, skill_choice, skill_limits
from ..exceptions import InvalidInput
from ..handoff import Ready, after_commit
from ..models import Job
from ..resolve import resolve
from ..spec import TaskSpec
from . import idempotency, pg, policing, rows, submit

JOB_FIELDS = ("name", "labels", "idempotency_key", "deadline")  # what an item says of its job
ITEM_FIELDS = frozenset({"skill", "params", "key", options.VERSION.name, *options.NAMES, *JOB_FIELDS})


@dataclass
class Item:
    """One item, checked: its path (``[i]``), task key, spec, job options, resolved and governed fields."""

    path: str
    key: str
    spec: TaskSpec
    options: submit.JobOptions
    fields: dict[str, Any]
    governed: policing.Governed


@contextlib.contextmanager
def _within(path: str) -> Iterator[None]:
    """Errors of a job-level check (which name ``name``, ``budget.deadline``...) named within the item."""
    try:
        yield
    except InvalidInput as exc:
        exc.field = f"{path}.{exc.field.removeprefix('budget.')}"
        exc.args = (f"{exc.field}: {exc.message}",)
        raise


def parse(i: int, item: Any, owner: Any) -> tuple[TaskSpec, submit.JobOptions]:
    """Item ``i`` as a spec and its job's options; InvalidInput naming ``[i].field``."""
    path = f"[{i}]"
    if not isinstance(item, Mapping):
        raise InvalidInput(path, f"must be an object with 'skill' (and 'params', options), got {type(item).__name__}")
    for name in item:
        if name not in ITEM_FIELDS:
            raise InvalidInput(f"{path}.{name}", f"unknown field; an item takes {', '.join(sorted(ITEM_FIELDS))}")
    spec = TaskSpec.parse({k: v for k, v in item.items() if k not in JOB_FIELDS}, path)
    deadline = item.get("deadline")
    if deadline is not None and not isinstance(deadline, datetime):
        raise InvalidInput(f"{path}.deadline", f"must be a datetime with a zone, got {type(deadline).__name__}")
    name = item.get("name")
    job = submit.JobOptions(name=spec.skill if name is None or name == "" else name, owner=owner,
                            idempotency_key=item.get("idempotency_key"), labels=item.get("labels"),
                            deadline=deadline)
    with _within(path):
        submit.check_job_options(job)
    return spec, job


def prepare(items: Sequence[Any], owner: Any) -> list[Item]:
    """Check every item, resolve it and apply the rules in force to it (a refusal is recorded and raised)."""
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
        raise InvalidInput("", f"must be a list of submissions, got {type(items).__name__}")
    parsed = [parse(i, item, owner) for i, item in enumerate(items)]
    seen: dict[Any, int] = {}
    for i, (_, job) in enumerate(parsed):
        if job.idempotency_key and seen.setdefault(job.idempotency_key, i) != i:
            raise InvalidInput(f"[{i}].idempotency_key", f"is item [{seen[job.idempotency_key]}]'s too; "
                                                         "each job needs its own key")
    overrides = skill_limits.row_overrides()
    with policing.recording(owner, [spec.skill for spec, _ in parsed]):  # at most one query for all
        chosen = skill_choice.choose([(f"[{i}]", spec.skill, spec.version) for i, (spec, _) in enumerate(parsed)])
    out = []
    for i, ((spec, job), d) in enumerate(zip(parsed, chosen, strict=True)):
        path = f"[{i}]"
        with policing.recording(owner, [spec.skill]):
            fields = resolve(spec, path, overrides, d)
            governed = policing.govern([fields], [path], job)  # per item: each is its own job, with its labels
        out.append(Item(path, spec.key or spec.skill, spec, governed.options, governed.fields[0], governed))
    with policing.recording(owner, [spec.skill for spec, _ in parsed]):
        skill_choice.check_enabled([(it.path, d) for it, d in zip(out, chosen, strict=True)])  # one query for all
    return out


def submit_many(items: Sequence[Mapping[str, Any]], owner: Any = None) -> list[Job]:
    """Many one-task jobs; see ``weft_django.service.submit_many``."""
    checked = prepare(items, owner)
    for attempt in (1, 2):
        found = {i: idempotency.keyed_job(it.options) for i, it in enumerate(checked) if it.options.idempotency_key}
        try:
            with transaction.atomic():
                return _write(checked, found)
        except IntegrityError:
            if attempt == 2 or not found:
                raise  # else a concurrent submission with one of the keys won the race: those are found now
    raise AssertionError("unreachable")


def _write(checked: list[Item], found: Mapping[int, Job | None]) -> list[Job]:
    jobs: list[Job | None] = [None] * len(checked)
    fast = [i for i, it in enumerate(checked) if found.get(i) is None and submit.lone_statement(
        it.fields, it.options, it.governed)]
    if fast:
        for i, job in zip(fast, _insert_many([checked[i] for i in fast]), strict=True):
            jobs[i] = job
    for i, it in enumerate(checked):
        if jobs[i] is not None:
            continue
        keyed, edges = [(it.key, it.spec)], {it.key: tuple[str, ...]()}
        existing = found.get(i)
        if existing is None:
            jobs[i] = submit.insert_job(keyed, [it.fields], edges, it.options, it.governed)
            continue
        with _within(it.path):  # "[1].idempotency_key: ... with a different priority"
            jobs[i] = idempotency.resubmitted(existing, [""], keyed, [it.fields], edges, it.options)
    return [j for j in jobs if j is not None]


_OPTION_COLUMNS = ", ".join(options.COLUMNS)
SUBMIT_MANY = f"""
WITH x AS (
    SELECT nextval(pg_get_serial_sequence('weft_job', 'id')) AS job_id, x.*
    FROM unnest(%(ords)s::int[], %(owners)s::bigint[], %(names)s::text[], %(labels)s::text[], %(keys)s::text[],
                %(skills)s::text[], %(versions)s::text[], %(params)s::text[],
                {", ".join(f"%(o_{c})s::{t}[]" for c, t in rows.ARRAY_TYPES.items())},
                %(gates)s::text[], %(governed)s::bool[])
         AS x(ord, owner, name, labels, k, sn, sv, p, {", ".join(f"o_{c}" for c in options.COLUMNS)}, g, gov)
), j AS (
    INSERT INTO weft_job (id, owner_id, name, status, stop_reason, idempotency_key, labels, cost, tokens,
                          tasks_total, tasks_open, tasks_failed, created_at)
    SELECT job_id, owner, name, 'running', '', NULL, labels::jsonb, 0, 0, 1, 1, 0, now() FROM x
), t AS (
    INSERT INTO weft_task (job_id, key, skill_name, skill_version, params, {_OPTION_COLUMNS},
                           gates, governed, status, attempts, pending_deps, has_dependents, has_dependencies,
                           dispatched_at, worker, cancel_requested, blocked_reason, waiting_for, error, created_at)
    SELECT job_id, k, sn, sv, p::jsonb, {", ".join(f"o_{c}::{t}" for c, t in options.SQL_TYPES.items())},
           g::jsonb, gov, 'queued', 0, 0, false, false, now(), '', false, '', '', '', now()
    FROM x
    RETURNING job_id, id
)
SELECT x.job_id, t.id, now() FROM x JOIN t USING (job_id) ORDER BY x.ord
"""


def _insert_many(items: list[Item]) -> list[Job]:
    """The plain items' jobs, in one statement (the job ids come from their sequence inside it, so each
    task meets its job whatever order the rows are written in); their messages go together on commit."""
    owners = [getattr(it.options.owner, "pk", None) for it in items]
    params: dict[str, Any] = {
        "ords": list(range(len(items))), "owners": owners, "names": [it.options.name for it in items],
        "labels": [pg.dumps(dict(it.options.labels or {})) for it in items], "keys": [it.key for it in items],
        "skills": [it.fields["skill_name"] for it in items], "versions": [it.fields["skill_version"] for it in items],
        "params": [pg.dumps(it.fields["params"]) for it in items],
        **{f"o_{c}": [rows.option_value(c, it.fields[c]) for it in items] for c in options.COLUMNS},
        "gates": [pg.dumps(it.fields["gates"]) for it in items], "governed": [it.fields["governed"] for it in items],
    }
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(SUBMIT_MANY, params)
        written = cursor.fetchall()
    delivery = after_commit([Ready(task_id, 0, it.fields["queue"], it.fields["priority"])
                             for it, (_, task_id, _) in zip(items, written, strict=True)])
    jobs = []
    for it, owner_id, (job_id, _, created_at) in zip(items, owners, written, strict=True):
        signals.send_on_commit(signals.job_submitted, job_id=job_id)
        job = submit.lone_job(job_id, owner_id, it.options.name, it.options.labels, created_at)
        job.delivery = delivery  # one delivery for the batch: its messages are sent together
        jobs.append(job)
    return jobs
