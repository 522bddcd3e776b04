"""Who may see and do what: the one place for weft's permission rules. The HTTP API, the admin, the
dashboard and the service functions given an acting user (``by=user``) all ask here; code that passes no
user (the Python API, the commands without ``--user``) is a trusted caller and skips these checks.

The permissions (declared in the models' ``Meta.permissions``; superusers hold every permission):

- ``weft.run_skill``: run skills (submit, run a job again); a skill registered with
  ``permission="app.codename"`` also needs that one.
- ``weft.view_all_jobs``: see every user's jobs (and their tasks, results, attempts, decisions); without
  it a user sees only their own jobs. ``is_staff`` alone grants nothing here.
- ``weft.cancel_job`` (or Django's ``weft.change_job``): cancel jobs and tasks that are not one's own;
  an owner may always cancel their own.
- ``weft.approve_task``: approve or reject a task of a skill that requires approval, whoever owns it,
  except one's own unless ``WEFT_ALLOW_SELF_APPROVAL``.
- ``weft.act_as_agent``: register an agent outside Celery and claim, renew and report tasks for it over HTTP
  (only for the agents one registered oneself; agent_door.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet

from . import registry
from .conf import settings
from .exceptions import NotAllowed, PolicyDenied, UnknownId, UnknownSkill
from .models import Job, Task
from .reports.jobs import get_job, job_spec  # not the package, whose visibility lists use the rules here

RUN_SKILL = "weft.run_skill"
VIEW_ALL_JOBS = "weft.view_all_jobs"
CANCEL_JOB = "weft.cancel_job"
CHANGE_JOB = "weft.change_job"  # Django's own model permission; it lets a user cancel too
APPROVE_TASK = "weft.approve_task"
ACT_AS_AGENT = "weft.act_as_agent"

_M = TypeVar("_M", bound=Model)


def is_user(by: Any) -> bool:
    """An acting user (checked), as opposed to None or a name (a trusted caller, only recorded)."""
    return hasattr(by, "has_perm") and hasattr(by, "is_authenticated")


# ---------------------------------------------------------------- seeing


def visible_jobs(user: Any, jobs: QuerySet[Job] | None = None) -> QuerySet[Job]:
    """``jobs`` (default: all) cut to those the user sees: all with ``weft.view_all_jobs``, else their
    own; none for an anonymous user (not even the ownerless jobs submitted from code)."""
    return visible_rows(user, Job.objects.all() if jobs is None else jobs, job="")


def visible_rows(user: Any, rows: QuerySet[_M], job: str = "job__") -> QuerySet[_M]:
    """Rows of a job (tasks, attempts, decisions: reached through ``job``) cut to the jobs the user sees."""
    if not getattr(user, "is_authenticated", False):
        return rows.none()
    if user.has_perm(VIEW_ALL_JOBS):
        return rows
    return rows.filter(**{f"{job}owner_id": user.pk})


def visible_tasks(user: Any, tasks: QuerySet[Task] | None = None) -> QuerySet[Task]:
    """The tasks of the jobs the user sees and, for an approver, every task of a skill that requires
    approval (what they are there to decide on, whoever owns it)."""
    tasks = Task.objects.all() if tasks is None else tasks
    if getattr(user, "is_authenticated", False) and not user.has_perm(VIEW_ALL_JOBS) and user.has_perm(APPROVE_TASK):
        return tasks.filter(Q(job__owner_id=user.pk) | Q(skill_name__in=_approval_skills()))
    return visible_rows(user, tasks)


def _approval_skills() -> list[str]:
    return sorted({d.name for d in registry.all_skills() if d.requires_approval})


# ---------------------------------------------------------------- running


def may_run(user: Any, definition: registry.SkillDef) -> bool:
    return bool(user.has_perm(RUN_SKILL) and (definition.permission is None or user.has_perm(definition.permission)))


def check_may_run(user: Any, skills: Iterable[tuple[str, str]]) -> None:
    """Raise NotAllowed for the first (field path, skill name) the user may not run.

    An unknown name is left to submission, which reports it as a bad field.
    """
    if not user.has_perm(RUN_SKILL):
        raise PolicyDenied("", f"running skills needs the permission {RUN_SKILL}", "builtin.skill_permission")
    for path, name in skills:
        try:
            definition = registry.get(name)
        except UnknownSkill:
            continue
        if definition.permission is not None and not user.has_perm(definition.permission):
            raise PolicyDenied(path, f"skill {name!r} needs the permission {definition.permission}",
                               "builtin.skill_permission")


def rerun_spec(user: Any, job_id: Any) -> dict[str, Any]:
    """The job as a JobSpec document to submit again, for a user who may: running a job again is
    submitting its tasks anew, so they must see the job (else UnknownId) and may run its skills."""
    spec = job_spec(_visible_job(user, job_id).pk)
    check_may_run(user, [(f"tasks[{i}].skill", t["skill"]) for i, t in enumerate(spec["tasks"])])
    return spec


# ---------------------------------------------------------------- cancelling


def may_cancel_others(user: Any) -> bool:
    return bool(user.has_perm(CANCEL_JOB) or user.has_perm(CHANGE_JOB))


def check_may_cancel(user: Any, job_id: Any) -> None:
    """UnknownId for a job the user does not see; NotAllowed for another owner's job without
    ``weft.cancel_job``."""
    _check_cancel(user, _visible_job(user, job_id).owner_id)


def check_may_cancel_task(user: Any, task_id: Any) -> None:
    _check_cancel(user, _task_owner(user, task_id))


def _check_cancel(user: Any, owner_id: int | None) -> None:
    if owner_id != user.pk and not may_cancel_others(user):
        raise NotAllowed(f"cancelling another user's job needs the permission {CANCEL_JOB}")


# ---------------------------------------------------------------- approving


def check_may_approve(user: Any, task_id: Any) -> None:
    """NotAllowed without ``weft.approve_task`` or, unless WEFT_ALLOW_SELF_APPROVAL, for the
    approver's own task; UnknownId for a task they do not see."""
    owner_id = _task_owner(user, task_id)
    if not user.has_perm(APPROVE_TASK):
        raise NotAllowed(f"approving or rejecting tasks needs the permission {APPROVE_TASK}")
    if owner_id == user.pk and settings.ALLOW_SELF_APPROVAL is not True:  # "False" (a string) is no
        raise NotAllowed(f"task {task_id} is in your own job: someone else must approve or reject it "
                               "(WEFT_ALLOW_SELF_APPROVAL)")


# ---------------------------------------------------------------- lookups


def _visible_job(user: Any, job_id: Any) -> Job:
    job = get_job(job_id)  # UnknownId for a bad or unknown id
    if not visible_jobs(user).filter(pk=job.pk).exists():
        raise UnknownId(f"no job with id {job_id!r}")
    return job


def _task_owner(user: Any, task_id: Any) -> int | None:
    """The owner's id of a task the user sees (None: an ownerless job); UnknownId otherwise."""
    try:
        return visible_tasks(user).values_list("job__owner_id", flat=True).get(pk=int(task_id))
    except (Task.DoesNotExist, ValueError, TypeError, OverflowError):
        raise UnknownId(f"no task with id {task_id!r}") from None


def may_rerun(user: Any) -> bool:
    """Whether ``user`` may run jobs again at all (``weft.run_skill``; each skill's own permission is
    checked by ``rerun``)."""
    return bool(user.has_perm(RUN_SKILL))


def may_approve(user: Any) -> bool:
    """Whether ``user`` may approve or reject tasks at all (``weft.approve_task``; ``approve`` checks the rest)."""
    return bool(user.has_perm(APPROVE_TASK))
