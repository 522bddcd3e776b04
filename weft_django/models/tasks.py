"""Tasks (a frozen spec plus the state of its execution) and the dependencies between them."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..exceptions import InvalidTransition
from ..states import AWAITING_APPROVAL, TaskStatus
from .fields import state_choices
from .jobs import Job
from .querysets import TaskQuerySet

SPEC_FIELDS = ("job_id", "parent_id", "key", "skill_name", "skill_version", "params", "limits",
               "retry", "timeout", "queue", "priority", "locks", "capabilities", "gates", "governed")


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
    # The queue it is sent to: its queue, or the routed queue of its capabilities ("weft+gpu", capabilities.py).
    queue = models.CharField(_("queue"), max_length=255)
    priority = models.PositiveSmallIntegerField(_("priority"), default=5)
    locks = models.JSONField(_("locks"), default=list, blank=True,
                             help_text=_("Held while an attempt runs: names and path globs, filled from params."))
    capabilities = models.JSONField(_("required capabilities"), default=list, blank=True, help_text=_(
        "Labels its worker or agent must have (sorted): it goes to the routed queue of them."))
    gates = models.JSONField(_("limits at claim"), default=dict, blank=True, help_text=_(
        "The concurrency and rate limits its claim must pass, by key (docs/governance.md)."))
    governed = models.BooleanField(_("governed"), default=False, help_text=_(
        "It has a limit or a lock: claimed through admission, never by the fast claim."))
    # -- state --
    status = models.CharField(_("status"), max_length=10, choices=state_choices(TaskStatus), default=TaskStatus.PENDING)
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
    waiting_for = models.TextField(_("waiting for"), blank=True, help_text=_(
        "Queued, held back at its last claim: the concurrency slot, rate or lock it waits for."))
    rate_slot = models.DateTimeField(_("rate slot"), null=True, blank=True, help_text=_(
        "The moment its rate limit let it start (reserved when it was deferred)."))
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
            # Admission reads the running tasks that hold limits or locks; the hand-off, the tasks waiting for
            # them. Few rows each, and no entry for a task without limits.
            models.Index(fields=["id"], condition=Q(status="running", governed=True), name="weft_task_governed_idx"),
            models.Index(fields=["priority", "dispatched_at", "id"],
                         condition=Q(status="queued", governed=True) & ~Q(waiting_for=""),
                         name="weft_task_waiting_idx"),
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
