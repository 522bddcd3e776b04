"""The API's list filters (django-filter): jobs and tasks by status, skill, owner, label and a created range.

They narrow a queryset already cut to what the user sees (``visibility``), so ``owner=someone-else`` finds
nothing for a user without ``weft.view_all_jobs`` rather than revealing their jobs. Each filter reads an
indexed column or the job's row; ``skill`` on jobs is an EXISTS over the job's tasks (weft_task_job_status_idx).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters as df
from django import forms
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from ..exceptions import InvalidInput
from ..models import Job, Task
from ..states import JobStatus, TaskStatus
from ..validators import check_text

LABEL_HELP = "key (the job has this label) or key:value (the label has this value); repeatable, all must match"


def _labels(rows: QuerySet[Any], prefix: str, values: list[str]) -> QuerySet[Any]:
    for value in values:
        key, colon, wanted = value.partition(":")
        rows = rows.filter(**({f"{prefix}labels__contains": {key: wanted}} if colon else
                              {f"{prefix}labels__has_key": key}))
    return rows


class Form(forms.Form):
    """What the database can store: text without NUL or lone surrogates, date-times moved to UTC (Python allows
    offsets up to 24 h, PostgreSQL 16: "0378-06-12 00:29:55+22:53" would be a server error, not a 400)."""

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        for name, value in list(data.items()):
            try:
                data[name] = _storable(value, name)
            except (InvalidInput, OverflowError) as exc:
                self.add_error(name, exc.message if isinstance(exc, InvalidInput) else "is out of range")
        return data


def _storable(value: Any, name: str) -> Any:
    if isinstance(value, str):
        check_text(value, name)
    elif isinstance(value, list):
        for item in value:
            _storable(item, name)
    elif isinstance(value, slice):
        return slice(_storable(value.start, name), _storable(value.stop, name))
    elif isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


class LabelFilter(df.BaseInFilter, df.CharFilter):
    """``label=team:infra`` (comma-separated or repeated)."""


class JobFilter(df.FilterSet):
    status = df.ChoiceFilter(choices=JobStatus.choices, help_text="the job's status")
    skill = df.CharFilter(method="by_skill", help_text="jobs with a task of this skill")
    owner = df.CharFilter(field_name="owner__username", help_text="the owner's username (yours unless you see all)")
    label = LabelFilter(method="by_label", help_text=LABEL_HELP)
    created = df.IsoDateTimeFromToRangeFilter(field_name="created_at",
                                              help_text="created_after / created_before: ISO 8601 date-times")

    class Meta:
        model = Job
        form = Form
        fields = ("status", "skill", "owner", "label", "created")

    def by_skill(self, jobs: QuerySet[Job], name: str, value: str) -> QuerySet[Job]:
        return jobs.filter(Exists(Task.objects.filter(job_id=OuterRef("pk"), skill_name=value)))

    def by_label(self, jobs: QuerySet[Job], name: str, value: list[str]) -> QuerySet[Job]:
        return _labels(jobs, "", value)


class TaskFilter(df.FilterSet):
    status = df.ChoiceFilter(choices=TaskStatus.choices, help_text="the task's status")
    skill = df.CharFilter(field_name="skill_name", help_text="the task's skill")
    version = df.CharFilter(field_name="skill_version", help_text="the skill version it runs")
    job = df.NumberFilter(field_name="job_id", help_text="the job's id")
    owner = df.CharFilter(field_name="job__owner__username", help_text="the job owner's username")
    label = LabelFilter(method="by_label", help_text=LABEL_HELP + " (the job's labels)")
    created = df.IsoDateTimeFromToRangeFilter(field_name="created_at",
                                              help_text="created_after / created_before: ISO 8601 date-times")

    class Meta:
        model = Task
        form = Form
        fields = ("status", "skill", "version", "job", "owner", "label", "created")

    def by_label(self, tasks: QuerySet[Task], name: str, value: list[str]) -> QuerySet[Task]:
        return _labels(tasks, "job__", value)


def filter_error(errors: Any, query: Any) -> tuple[str, str]:
    """(field, why) of a FilterSet's first error, the field as the query names it (``created_before``)."""
    name, messages = next(iter(errors.items()))
    if name == "created":  # one error for the range: name the bound that does not read as a date-time
        bad = [b for b in ("created_after", "created_before") if query.get(b) and not _is_datetime(query[b])]
        name = bad[0] if bad else "created_after"
    return name, " ".join(str(m) for m in messages)


def _is_datetime(text: str) -> bool:
    try:
        return parse_datetime(text) is not None or parse_date(text) is not None
    except ValueError:
        return False


