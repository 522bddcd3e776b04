"""Skills, jobs, tasks, attempts, decisions, artifacts and workers: the ORM is the source of truth.

One module per kind of row; everything is imported here, so ``from weft_django.models import Job`` works
and Django sees every model when it imports the app's ``models``.
"""

from __future__ import annotations

from .attempts import Artifact, ArtifactKind, Attempt
from .decisions import Decision
from .fields import ReadableDateTimeField
from .gates import RateBucket
from .jobs import Job
from .querysets import JobQuerySet, LockingQuerySet, TaskQuerySet
from .skills import Skill, SkillKind
from .tasks import SPEC_FIELDS, Dependency, Task
from .workers import SweepRun, Worker, WorkerState

__all__ = [
    "SPEC_FIELDS", "Artifact", "ArtifactKind", "Attempt", "Decision", "Dependency", "Job", "JobQuerySet",
    "LockingQuerySet", "RateBucket", "ReadableDateTimeField", "Skill", "SkillKind", "SweepRun", "Task", "TaskQuerySet",
    "Worker", "WorkerState",
]
