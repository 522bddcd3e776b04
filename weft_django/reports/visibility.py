"""What a user may see, as the HTTP API and the admin list it: the rules are ``access``'s, the querysets
(with what their pages read along) are made here."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, Prefetch, QuerySet

from .. import access, registry
from ..exceptions import InvalidInput, NotAllowed
from ..models import Attempt, Decision, Job, Skill, Task
from ..registry import SkillDef
from ..states import JobStatus

_M = TypeVar("_M", bound=Model)


def visible_jobs(user: Any, jobs: QuerySet[Job] | None = None) -> QuerySet[Job]:
    """``jobs`` (default: all) cut to those the user sees (``access.visible_jobs``)."""
    return access.visible_jobs(user, jobs)


def visible_tasks(user: Any, tasks: QuerySet[Task] | None = None) -> QuerySet[Task]:
    """``tasks`` (default: all) cut to those the user sees (``access.visible_tasks``)."""
    return access.visible_tasks(user, tasks)


def visible_rows(user: Any, rows: QuerySet[_M]) -> QuerySet[_M]:
    """Rows of a job (attempts, decisions) cut to the jobs the user sees."""
    return access.visible_rows(user, rows)


def check_sees_all_jobs(user: Any, why: str) -> None:
    """NotAllowed ("``why``: it needs the permission weft.view_all_jobs") unless the user sees every
    user's jobs (the dashboard)."""
    if not user.has_perm(access.VIEW_ALL_JOBS):
        raise NotAllowed(f"{why}: it needs the permission {access.VIEW_ALL_JOBS}")


def job_list(user: Any, status: str | None = None) -> QuerySet[Job]:
    """The jobs the user sees, in ``status`` if given (else InvalidInput naming ``status``), with
    their owner read along (the API names it on every row)."""
    jobs = access.visible_jobs(user).select_related("owner")
    if status:
        if status not in JobStatus.values:
            raise InvalidInput("status", f"must be one of {', '.join(JobStatus.values)}")
        jobs = jobs.filter(status=status)
    return jobs


def task_list(user: Any) -> QuerySet[Task]:
    """The tasks the user sees (the API's list; filtered by ``filtering.TaskFilter``)."""
    return access.visible_tasks(user)


def job_tasks(job_id: int) -> QuerySet[Task]:
    """Every task of a job (the API pages them)."""
    return Task.objects.filter(job_id=job_id)


def task_details(user: Any) -> QuerySet[Task]:
    """The tasks the user sees, each with its attempts (by number) and decisions (in order) read along."""
    return access.visible_tasks(user).prefetch_related(
        Prefetch("attempt_set", Attempt.objects.order_by("number")),
        Prefetch("decisions", Decision.objects.order_by("pk")))


def runnable_skills(user: Any) -> list[SkillDef]:
    """The skills registered in code that are enabled and that the user may run."""
    off = set(Skill.objects.filter(enabled=False).values_list("name", "version"))
    return [d for d in registry.all_skills() if (d.name, d.version) not in off and access.may_run(user, d)]
