"""The admin's lists of jobs and tasks: what each row reads along (a job's skill and its error), and the
filters an operator narrows them with (skill, owner, label, a date range). Every filter is a condition on
the rows' own columns or an indexed EXISTS on the job's tasks."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TypeVar

from django.contrib.auth import get_user_model
from django.db.models import Exists, Model, OuterRef, QuerySet, Subquery
from django.utils import timezone

from .. import registry
from ..exceptions import InvalidInput
from ..models import Job, Skill, Task
from ..states import TaskStatus

_M = TypeVar("_M", bound=Model)


def job_rows(jobs: QuerySet[Job]) -> QuerySet[Job]:
    """``jobs`` with their owner, ``first_skill`` (the skill of one of the job's tasks: of a one-task job, its
    skill) and ``first_error`` (the error of its first failed task) read along: two subqueries per row of a
    page, each a short range of the task index by job and state."""
    tasks = Task.objects.filter(job_id=OuterRef("pk"))
    # Ordered as the (job, status) index is: ordered by id, PostgreSQL may walk the primary key instead,
    # filtering on the job (through the whole table, for a job whose tasks are the newest).
    one = tasks.order_by("job_id", "status")
    failed = tasks.filter(status=TaskStatus.FAILED).exclude(error="").order_by("pk")
    return jobs.select_related("owner").annotate(first_skill=Subquery(one.values("skill_name")[:1]),
                                                 first_error=Subquery(failed.values("error")[:1]))


def skill_names() -> list[str]:
    """The names of the skills registered in code or known to the database (the skill filters' choices)."""
    return sorted({d.name for d in registry.all_skills()} | set(Skill.objects.values_list("name", flat=True)))


def jobs_with_skill(jobs: QuerySet[Job], skill: str) -> QuerySet[Job]:
    """The jobs having a task of ``skill``."""
    return jobs.filter(Exists(Task.objects.filter(job_id=OuterRef("pk"), skill_name=skill)))


def jobs_of_owner(jobs: QuerySet[Job], login: str) -> QuerySet[Job]:
    """The jobs of the user whose login (the user model's USERNAME_FIELD) is ``login``."""
    return jobs.filter(**{f"owner__{get_user_model().USERNAME_FIELD}": login.strip()})


def jobs_labelled(jobs: QuerySet[Job], label: str) -> QuerySet[Job]:
    """The jobs labelled ``key=value`` (or having the label ``key`` at all)."""
    key, eq, value = label.strip().partition("=")
    if not key.strip():
        raise InvalidInput("label", "must be key or key=value")
    if eq:
        return jobs.filter(labels__contains={key.strip(): value.strip()})
    return jobs.filter(labels__has_key=key.strip())


def jobs_with_task_error(jobs: QuerySet[Job], term: str) -> QuerySet[Job]:
    """The jobs with a failed, skipped or cancelled task whose error contains ``term`` (the admin's job search):
    an EXISTS per job over its finished tasks by weft_task_job_status_idx, never every task of the site."""
    ended = (TaskStatus.FAILED, TaskStatus.SKIPPED, TaskStatus.CANCELLED)
    return jobs.filter(Exists(Task.objects.filter(job_id=OuterRef("pk"), status__in=ended, error__icontains=term)))


def between(rows: QuerySet[_M], column: str, since: str | None, until: str | None) -> QuerySet[_M]:
    """``rows`` whose ``column`` is on or after the day ``since`` and on or before the day ``until``
    (YYYY-MM-DD, in the current time zone; either may be empty); InvalidInput naming the bad one."""
    if since:
        rows = rows.filter(**{f"{column}__gte": _day(since, "since")})
    if until:
        rows = rows.filter(**{f"{column}__lt": _day(until, "until") + timedelta(days=1)})
    return rows


def _day(text: str, field: str) -> datetime:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(field, f"must be a date as YYYY-MM-DD, got {text!r}") from None
    return timezone.make_aware(datetime.combine(day, time.min))


def last(rows: QuerySet[_M], column: str, seconds: float) -> QuerySet[_M]:
    """``rows`` whose ``column`` is within the last ``seconds``."""
    return rows.filter(**{f"{column}__gte": timezone.now() - timedelta(seconds=seconds)})


def task_rows(tasks: QuerySet[Task]) -> QuerySet[Task]:
    """``tasks`` as the task list shows them: without their large JSON columns."""
    return tasks.defer("params", "result", "limits", "retry")
