"""Skills, jobs, tasks, attempts, decisions, artifacts and workers: the ORM is the source of truth.

One module per kind of row; everything is imported here, so ``from weft_django.models import Job`` works
and Django sees every model when it imports the app's ``models``.
"""

from __future__ import annotations

from .agents import Agent
from .attempts import Artifact, ArtifactKind, Attempt
from .decisions import Decision
from .fields import ReadableDateTimeField
from .gates import RateBucket
from .governance import AuditAction, AuditEntry, Policy, PolicyDecision, PolicyOutcome, Via
from .iterations import Iteration
from .jobs import Job
from .llm import Breaker, LlmCall
from .notifications import Subscription
from .querysets import JobQuerySet, LockingQuerySet, TaskQuerySet
from .schedules import Overlap, Schedule
from .skills import Skill, SkillKind
from .tallies import Tally
from .tasks import SPEC_FIELDS, Dependency, Task
from .templates import JobTemplate
from .workers import SweepRun, Worker, WorkerState

__all__ = [
    "SPEC_FIELDS", "Agent", "Artifact", "ArtifactKind", "Attempt", "AuditAction", "AuditEntry", "Breaker", "Decision",
    "Dependency", "Iteration", "Job", "JobQuerySet", "JobTemplate", "LlmCall", "LockingQuerySet", "Overlap",
    "Policy", "PolicyDecision", "PolicyOutcome", "RateBucket", "ReadableDateTimeField", "Schedule", "Skill",
    "SkillKind", "Subscription", "SweepRun", "Tally", "Task", "TaskQuerySet", "Via", "Worker", "WorkerState",
]
