"""Idempotency keys: the job a key already made, and whether this submission is the one that made it.

Keys are per owner. A submission that repeats a key gets the job that key made, if it is the same
submission; a key reused for a different one is refused naming the first field that differs.
"""

from __future__ import annotations

import json
from typing import Any

from .. import options, reports
from ..exceptions import InvalidInput
from ..models import Job
from ..spec import TaskSpec


def keyed_job(o: Any) -> Job | None:
    """The job this owner (or, without one, code) submitted with this idempotency key: keys are per owner,
    so another owner's key neither finds nor reveals their job."""
    return Job.objects.filter(idempotency_key=o.idempotency_key, owner_id=getattr(o.owner, "pk", o.owner)).first()


def resubmitted(job: Job, paths: list[str], keyed: list[tuple[str, TaskSpec]], fields: list[dict[str, Any]],
                 edges: dict[str, tuple[str, ...]], o: Any) -> Job:
    """The job again, if this submission is the one that made it; a key reused for another is refused."""
    differs = _difference(job, paths, keyed, fields, edges, o)
    if differs is not None:
        raise InvalidInput("idempotency_key", f"was used for job {job.pk}, submitted with a different {differs}; "
                                                 "a different submission needs a new key")
    job.resubmitted = True
    return job


def _difference(job: Job, paths: list[str], keyed: list[tuple[str, TaskSpec]], fields: list[dict[str, Any]],
                edges: dict[str, tuple[str, ...]], o: Any) -> str | None:
    """The first field in which this submission differs from ``job`` (as ``reports.job_spec`` reads it back,
    with the settings each task was resolved to), or None. A deadline given in seconds counts from each
    submission, so only whether there is one is compared."""
    for name, new, old in (("name", o.name, job.name), ("labels", _as_stored(o.labels or {}), job.labels),
                           ("budget.max_attempts", o.max_attempts, job.max_attempts),
                           ("budget.max_cost", o.max_cost, job.max_cost),
                           ("budget.max_tokens", o.max_tokens, job.max_tokens),
                           ("budget.deadline", o.deadline is None, job.deadline is None)):
        if new != old:
            return name
    stored = {t["key"]: t for t in reports.job_spec(job.pk)["tasks"]}
    if set(stored) != set(edges):
        return "tasks"
    for path, (key, _), f in zip(paths, keyed, fields, strict=True):
        p, t = f"{path}." if path else "", stored[key]
        if f["skill_name"] != t["skill"]:
            return f"{p}skill"
        if sorted(edges[key]) != sorted(t.get("depends_on", ())):
            return f"{p}depends_on"
        for name in ("params", *options.COLUMNS):
            if (_as_stored(f[name]) if name == "params" else f[name]) != t[name]:
                return f"{p}{name}"
    return None


def _as_stored(value: Any) -> Any:  # as a JSON column gives it back (a tuple a list), to compare with a stored one
    return json.loads(json.dumps(value))
