"""Skills, jobs, tasks, attempts, decisions, artifacts and workers: the ORM is the source of truth."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .exceptions import InvalidTransition
from .querysets import JobQuerySet, TaskQuerySet
from .states import AWAITING_APPROVAL, AttemptOutcome, DecisionAction, JobStatus, TaskStatus

if TYPE_CHECKING:
    from .handoff import Delivery
    from .states import Choices


def _choices(states: type[Choices]) -> list[tuple[str, Any]]:
    """A state enum (pure, in states.py) as a field's choices, with translatable labels."""
    return [(value, _(label)) for value, label in states.choices]


class SkillKind(models.TextChoices):
    PYTHON = "python", _("python")
    """A Python callable, by dotted path."""
    COMMAND = "command", _("command")
    """An argv template run as a subprocess, never through a shell."""


class Skill(models.Model):
    """A registered, versioned capability. Rows mirror the skills registered in code."""

    name = models.CharField(_("name"), max_length=200)
    version = models.CharField(_("version"), max_length=50, default="1")
    kind = models.CharField(_("kind"), max_length=10, choices=SkillKind.choices)
    target = models.JSONField(_("target"), help_text=_("Dotted path (python) or argv template (command)."))
    params_schema = models.JSONField(_("params schema"), default=dict, blank=True)
    limits = models.JSONField(_("default limits"), default=dict, blank=True)
    retry = models.JSONField(_("retry policy"), default=dict, blank=True)
    timeout = models.FloatField(_("timeout (s)"), null=True, blank=True)
    queue = models.CharField(_("queue"), max_length=100, blank=True)
    priority = models.PositiveSmallIntegerField(_("priority"), null=True, blank=True)
    description = models.TextField(_("description"), blank=True)
    requires_approval = models.BooleanField(_("requires approval"), default=False)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("skill")
        # The HTTP API runs skills only for users with this (superusers have every permission).
        permissions: ClassVar = [("run_skill", _("Can run skills through the HTTP API"))]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["name", "version"], name="weft_skill_name_version_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


class ReadableDateTimeField(models.DateTimeField):
    """A DateTimeField that every query reads back inside Python's range, whatever the row holds.

    PostgreSQL's timestamptz reaches the year 294276, Python's datetime 9999: a row written before
    deadlines were validated (9999-12-31T23:00:00-12:00 is the year 10000 in UTC) would otherwise make every
    query that reads it fail (job lists, the admin, weft_status, the worker's claim). The SELECT clamps it,
    a day inside each end, so that converting it to any time zone (DRF, the admin) stays in range too;
    writes are validated (jobspec.check_deadline) and WHERE clauses compare the stored value.
    """

    LATEST = "9999-12-30T00:00:00+00:00"
    EARLIEST = "0001-01-02T00:00:00+00:00"

    def select_format(self, compiler: Any, sql: str, params: Any) -> Any:
        sql, params = super().select_format(compiler, sql, params)
        if compiler.connection.vendor != "postgresql":
            return sql, params
        return (f"CASE WHEN {sql} > %s::timestamptz THEN %s::timestamptz WHEN {sql} < %s::timestamptz "
                f"THEN %s::timestamptz ELSE {sql} END",
                (*params, self.LATEST, self.LATEST, *params, self.EARLIEST, self.EARLIEST, *params))


class Job(models.Model):
    """What a user submits, watches, cancels and gets results from: one task or a DAG, with a budget."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="weft_jobs", verbose_name=_("owner"), db_index=False,  # weft_job_owner_created_idx
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=_choices(JobStatus), default=JobStatus.RUNNING)
    stop_reason = models.TextField(_("stop reason"), blank=True)
    # NULL, not "", so that the partial unique constraint ignores jobs without a key.
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, null=True, blank=True)  # noqa: DJ001
    labels = models.JSONField(_("labels"), default=dict, blank=True)
    max_attempts = models.PositiveIntegerField(_("budget: attempts"), null=True, blank=True)
    max_cost = models.FloatField(_("budget: cost"), null=True, blank=True)
    deadline = ReadableDateTimeField(_("budget: deadline"), null=True, blank=True)
    cost = models.FloatField(_("cost spent"), default=0.0)
    tasks_total = models.PositiveIntegerField(_("tasks"), default=0)
    tasks_open = models.IntegerField(_("tasks not final"), default=0)
    tasks_failed = models.IntegerField(_("tasks not succeeded"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    objects = JobQuerySet.as_manager()
    # Not a column: on the job that submit() / submit_job() return, whether its task messages reached the
    # broker (docs/api.md); None on a job read from the database.
    delivery: Delivery | None = None

    # Not a column: True on the job an idempotent re-submission returned (the HTTP API answers 200, not 201).
    resubmitted = False

    class Meta:
        verbose_name = _("job")
        # The constants naming them, and the rules using them, are in access.py.
        permissions: ClassVar = [
            ("view_all_jobs", _("Can see every user's jobs (others see their own)")),
            ("cancel_job", _("Can cancel other users' jobs and tasks (owners cancel their own)")),
        ]
        indexes: ClassVar = [
            # Partial, so that the common job (no owner, no deadline) adds nothing to them, on its insert
            # and again on the update that ends it.
            models.Index(fields=["owner", "-created_at"], condition=Q(owner__isnull=False),
                         name="weft_job_owner_created_idx"),
            models.Index(fields=["deadline"], condition=Q(status="running", deadline__isnull=False),
                         name="weft_job_running_deadline_idx"),
        ]
        constraints: ClassVar = [
            # A key names one job per owner (NULLs are distinct in a unique index: the jobs submitted from
            # code, without an owner, need a constraint of their own).
            models.UniqueConstraint(fields=["owner", "idempotency_key"],
                                    condition=Q(idempotency_key__isnull=False, owner__isnull=False),
                                    name="weft_job_owner_idempotency_uniq"),
            models.UniqueConstraint(fields=["idempotency_key"],
                                    condition=Q(idempotency_key__isnull=False, owner__isnull=True),
                                    name="weft_job_ownerless_idempotency_uniq"),
            models.CheckConstraint(condition=Q(tasks_open__gte=0), name="weft_job_tasks_open_gte_0"),
            models.CheckConstraint(condition=Q(max_attempts__isnull=True) | Q(max_attempts__gt=0),
                                   name="weft_job_max_attempts_gt_0"),
            models.CheckConstraint(condition=Q(max_cost__isnull=True) | Q(max_cost__gt=0),
                                   name="weft_job_max_cost_gt_0"),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.status})"


SPEC_FIELDS = ("job_id", "parent_id", "key", "skill_name", "skill_version", "params", "limits",
               "retry", "timeout", "queue", "priority")


class Task(models.Model):
    """One TaskSpec (frozen once saved) plus the mutable state of its execution."""

    # -- spec: frozen after creation (see save) --
    # db_index=False where a named composite index starts with the same column: one index less to write
    # for every row version (see docs/performance.md).
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="tasks", verbose_name=_("job"),
                            db_index=False)  # weft_task_job_status_idx
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="children", verbose_name=_("parent"),
                               db_index=False)  # weft_task_parent_idx
    key = models.CharField(_("key"), max_length=200)
    skill_name = models.CharField(_("skill"), max_length=200)
    skill_version = models.CharField(_("skill version"), max_length=50)
    params = models.JSONField(_("params"), default=dict)
    limits = models.JSONField(_("limits"), default=dict)
    retry = models.JSONField(_("retry policy"), default=dict)
    timeout = models.FloatField(_("timeout (s)"), null=True, blank=True)
    queue = models.CharField(_("queue"), max_length=100)
    priority = models.PositiveSmallIntegerField(_("priority"), default=5)
    # -- state --
    status = models.CharField(_("status"), max_length=10, choices=_choices(TaskStatus), default=TaskStatus.PENDING)
    attempts = models.PositiveIntegerField(
        _("attempts"), default=0, help_text=_("Claims so far; also the fencing token of the current lease."))
    pending_deps = models.PositiveIntegerField(_("unfinished dependencies"), default=0)
    has_dependents = models.BooleanField(_("has dependents"), default=False)
    has_dependencies = models.BooleanField(_("has dependencies"), default=False)
    not_before = models.DateTimeField(_("not before"), null=True, blank=True)
    dispatched_at = models.DateTimeField(_("dispatched"), null=True, blank=True)
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)
    worker = models.CharField(_("worker"), max_length=200, blank=True)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    blocked_reason = models.TextField(_("blocked reason"), blank=True)
    result = models.JSONField(_("result"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    dependencies = models.ManyToManyField("self", through="Dependency", symmetrical=False,
                                          related_name="dependents", verbose_name=_("dependencies"))

    objects = TaskQuerySet.as_manager()

    class Meta:
        # Who may approve or reject a task of a skill that requires approval (admin, API, weft_approve).
        permissions: ClassVar = [("approve_task", _("Can approve or reject tasks that wait for approval"))]
        verbose_name = _("task")
        indexes: ClassVar = [
            models.Index(fields=["job", "status"], name="weft_task_job_status_idx"),
            models.Index(fields=["dispatched_at"], condition=Q(status="queued"), name="weft_task_queued_idx"),
            models.Index(fields=["lease_expires_at"], condition=Q(status="running"), name="weft_task_lease_idx"),
            models.Index(fields=["parent"], condition=Q(parent__isnull=False), name="weft_task_parent_idx"),
            # Tasks waiting for approval (the dashboard, the approvers' list): few rows, no entry for the rest.
            models.Index(fields=["id"], condition=Q(status="blocked", blocked_reason=AWAITING_APPROVAL),
                         name="weft_task_awaiting_idx"),
        ]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["job", "key"], name="weft_task_job_key_uniq"),
            models.CheckConstraint(condition=Q(priority__lte=9), name="weft_task_priority_range"),
            models.CheckConstraint(condition=~Q(status="running") | Q(lease_expires_at__isnull=False),
                                   name="weft_task_running_has_lease"),
            models.CheckConstraint(condition=Q(timeout__isnull=True) | Q(timeout__gt=0),
                                   name="weft_task_timeout_gt_0"),
        ]

    def __str__(self) -> str:
        return f"task {self.pk} {self.skill_name} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        loaded = getattr(self, "_loaded_spec", None)
        if loaded is not None:
            changed = [f for f, v in loaded.items() if f in self.__dict__ and self.__dict__[f] != v]
            if changed:
                raise InvalidTransition(f"task {self.pk}: spec fields are frozen: {', '.join(changed)}")
        super().save(*args, **kwargs)

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any, **kwargs: Any) -> Task:
        instance = super().from_db(db, field_names, values, **kwargs)
        # A deep copy: params is a dict the caller may mutate in place before saving.
        instance._loaded_spec = {  # type: ignore[attr-defined]
            f: copy.deepcopy(instance.__dict__.get(f)) for f in SPEC_FIELDS}
        return instance


class Dependency(models.Model):
    """``downstream`` may run only after ``upstream`` succeeded. May grow at run time."""

    upstream = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="+", verbose_name=_("upstream"),
                                 db_index=False)  # weft_dependency_uniq
    downstream = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="+",
                                   verbose_name=_("downstream"), db_index=False)  # weft_dependency_down_idx

    class Meta:
        verbose_name = _("dependency")
        verbose_name_plural = _("dependencies")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["upstream", "downstream"], name="weft_dependency_uniq"),
            models.CheckConstraint(condition=~Q(upstream=models.F("downstream")), name="weft_dependency_not_self"),
        ]
        indexes: ClassVar = [models.Index(fields=["downstream"], name="weft_dependency_down_idx")]

    def __str__(self) -> str:
        return f"{self.upstream_id} -> {self.downstream_id}"


class Attempt(models.Model):
    """One execution try. Opened at claim, closed once; the number is the fencing token it ran under."""

    # Attempts and decisions are append-only rows that only the engine writes, in the same statement or
    # transaction as the rows they point to; Django emulates on_delete itself. So their foreign keys have
    # no database constraint: each would cost a locking lookup of its parent row on every insert.
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="attempt_set", verbose_name=_("task"),
                             db_index=False, db_constraint=False)  # weft_attempt_task_number_uniq
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="attempts", verbose_name=_("job"),
                            db_index=False, db_constraint=False)  # weft_attempt_job_idx
    number = models.PositiveIntegerField(_("number"))
    outcome = models.CharField(_("outcome"), max_length=10, choices=_choices(AttemptOutcome),
                               default=AttemptOutcome.RUNNING)
    worker = models.CharField(_("worker host"), max_length=200, blank=True)
    pid = models.IntegerField(_("pid"), null=True, blank=True)
    celery_id = models.CharField(_("Celery task id"), max_length=255, blank=True)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    duration = models.FloatField(_("duration (s)"), null=True, blank=True)
    exit_code = models.IntegerField(_("exit code"), null=True, blank=True)
    error_type = models.CharField(_("error type"), max_length=200, blank=True)
    error_message = models.TextField(_("error message"), blank=True)
    traceback = models.TextField(_("traceback"), blank=True)
    stdout = models.TextField(_("stdout (tail)"), blank=True)
    stderr = models.TextField(_("stderr (tail)"), blank=True)
    result = models.JSONField(_("result"), null=True, blank=True)
    peak_rss_mb = models.FloatField(_("peak RSS (MB)"), null=True, blank=True)
    cpu_seconds = models.FloatField(_("CPU (s)"), null=True, blank=True)
    peak_open_files = models.IntegerField(_("peak open files"), null=True, blank=True)
    limit_hit = models.CharField(_("limit hit"), max_length=30, blank=True)
    cost = models.FloatField(_("cost"), default=0.0)

    class Meta:
        verbose_name = _("attempt")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["task", "number"], name="weft_attempt_task_number_uniq"),
            models.CheckConstraint(condition=Q(number__gte=1), name="weft_attempt_number_gte_1"),
        ]
        indexes: ClassVar = [models.Index(fields=["job"], name="weft_attempt_job_idx")]

    def __str__(self) -> str:
        return f"attempt {self.number} of task {self.task_id} ({self.outcome})"


class Decision(models.Model):
    """One choice of the engine, with the policy that made it, what it saw and a plain reason."""

    # No database constraints: see Attempt.
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="decisions", verbose_name=_("job"),
                            db_index=False, db_constraint=False)  # weft_decision_job_idx
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.CASCADE, related_name="decisions",
                             verbose_name=_("task"), db_index=False, db_constraint=False)  # weft_decision_task_idx
    # Never looked up by attempt, and deleted with its job like the attempt itself: no index to keep up
    # on every insert, and nothing for Django to null out when attempts are deleted.
    attempt = models.ForeignKey(Attempt, null=True, blank=True, on_delete=models.DO_NOTHING,
                                related_name="decisions", verbose_name=_("attempt"), db_index=False,
                                db_constraint=False)
    action = models.CharField(_("action"), max_length=20, choices=_choices(DecisionAction))
    policy = models.CharField(_("policy"), max_length=100, blank=True)
    observation = models.JSONField(_("observation"), default=dict, blank=True)
    reason = models.TextField(_("reason"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("decision")
        indexes: ClassVar = [
            models.Index(fields=["job", "id"], name="weft_decision_job_idx"),
            models.Index(fields=["task"], name="weft_decision_task_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action}: {self.reason}"


class ArtifactKind(models.TextChoices):
    JSON = "json", _("JSON")
    """A JSON value."""
    TEXT = "text", _("text")
    """Plain text."""
    FILE = "file", _("file")
    """A path to a file."""
    URL = "url", _("URL")
    """A link."""


class Artifact(models.Model):
    """An output of an attempt, kept beside its result."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="artifacts", verbose_name=_("job"))
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="artifacts", verbose_name=_("task"),
                             db_index=False)  # weft_artifact_task_idx
    attempt = models.ForeignKey(Attempt, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="artifacts", verbose_name=_("attempt"))
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, choices=ArtifactKind.choices, default=ArtifactKind.JSON)
    value = models.JSONField(_("value"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("artifact")
        indexes: ClassVar = [models.Index(fields=["task"], name="weft_artifact_task_idx")]

    def __str__(self) -> str:
        return self.name


class WorkerState(models.TextChoices):
    ONLINE = "online", _("online")
    """Heartbeats arrive."""
    OFFLINE = "offline", _("offline")
    """Shut down, or silent for longer than WEFT_WORKER_OFFLINE_AFTER."""


class Worker(models.Model):
    """A Celery worker seen by the app."""

    hostname = models.CharField(_("hostname"), max_length=255, unique=True)
    pid = models.IntegerField(_("pid"), null=True, blank=True)
    queues = models.JSONField(_("queues"), default=list, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=WorkerState.choices, default=WorkerState.ONLINE)
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    last_heartbeat = models.DateTimeField(_("last heartbeat"), null=True, blank=True)

    class Meta:
        verbose_name = _("worker")

    def __str__(self) -> str:
        return self.hostname


class SweepRun(models.Model):
    """One run of the recovery sweep (beat or ``manage.py weft_sweep``) and what it did."""

    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    host = models.CharField(_("host"), max_length=255, blank=True)
    pid = models.IntegerField(_("pid"), null=True, blank=True)
    counts = models.JSONField(_("counts"), default=dict, blank=True,
                              help_text=_("Rows each step handled: lost, retried, failed, redispatched, ..."))
    error = models.TextField(_("error"), blank=True,
                             help_text=_("Steps that failed, if any (they run again next time)."))

    class Meta:
        verbose_name = _("sweep run")
        indexes: ClassVar = [models.Index(fields=["-started_at"], name="weft_sweeprun_started_idx")]

    def __str__(self) -> str:
        return f"sweep {self.started_at:%Y-%m-%d %H:%M:%S}: {self.counts}"
