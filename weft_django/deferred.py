"""A job whose ready tasks wait until a given time: what the backend of Django's Tasks framework submits for a
task's ``run_after`` (``weft_django.backends``). Part of the Python API (``service`` re-exports it)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .jobspec import JobSpec
from .lifecycle import submit as submission
from .models import Job


def submit_job_at(spec: Mapping[str, Any], run_after: datetime | None, *, owner: Any = None) -> Job:
    """``service.submit_job``, its ready tasks held until ``run_after`` (a datetime with a zone; None: at once): what
    the backend of Django's Tasks framework submits (``weft_django.backends``)."""
    return submission.submit_job(JobSpec.parse(spec), owner, not_before=run_after)
