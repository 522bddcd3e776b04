"""Representations of the HTTP API. Requests are validated by the domain (TaskSpec, JobSpec), not here:
the request serializers only describe the bodies for the OpenAPI schema."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .. import options
from ..models import Attempt, Decision, Job, Task
from ..options import Form, Option
from ..spec import PRIORITY_RANGE
from ..states import TaskStatus


class SkillSerializer(serializers.Serializer[Any]):
    """A registered skill (``registry.SkillDef``) a user may run."""

    url = serializers.HyperlinkedIdentityField(view_name="weft_api:skill-detail", lookup_field="name",
                                               lookup_url_kwarg="pk")
    name = serializers.CharField()
    version = serializers.CharField()
    kind = serializers.ChoiceField(choices=["python", "command"])
    description = serializers.CharField()
    params = serializers.JSONField(source="params_schema", help_text="JSON Schema of the skill's params")
    limits = serializers.SerializerMethodField()
    timeout = serializers.FloatField(allow_null=True)
    queue = serializers.CharField(allow_null=True)
    priority = serializers.IntegerField(allow_null=True)

    def get_limits(self, definition: Any) -> dict[str, float]:
        return dict(definition.limits.as_dict())


def option_field(opt: Option) -> serializers.Field[Any, Any, Any, Any]:
    """The request field of a task option, from the form options.py declares for it."""
    if opt.form is Form.LIMITS:
        return serializers.DictField(child=serializers.FloatField(), required=False)
    if opt.form is Form.OBJECT:
        return serializers.JSONField(required=False)
    if opt.form is Form.NUMBER:
        return serializers.FloatField(required=False)
    if opt.form in (Form.LIST, Form.LABELS):
        return serializers.ListField(child=serializers.CharField(), required=False)
    if opt.form is Form.RANK:
        return serializers.IntegerField(required=False, min_value=PRIORITY_RANGE.start,
                                        max_value=PRIORITY_RANGE.stop - 1)
    return serializers.CharField(required=False)


class TaskSubmission(serializers.Serializer[Any]):
    """One task as a job of its own (what ``weft_django.submit`` takes)."""

    skill = serializers.CharField()
    params = serializers.JSONField(required=False)
    key = serializers.CharField(required=False)
    # The task options, one field each, in the declaration's order (DRF orders fields by creation).
    vars().update({o.name: option_field(o) for o in options.OPTIONS})
    vars()[options.VERSION.name] = serializers.CharField(required=False, help_text=options.VERSION.help)
    name = serializers.CharField(required=False)
    labels = serializers.JSONField(required=False)
    idempotency_key = serializers.CharField(required=False)


class JobSubmission(serializers.Serializer[Any]):
    """A job of keyed tasks with ``depends_on`` and a budget (a JobSpec, as ``weft_submit`` reads it)."""

    tasks = serializers.ListField(child=serializers.JSONField())
    name = serializers.CharField(required=False)
    budget = serializers.JSONField(
        required=False, help_text="max_attempts, max_cost, max_tokens, deadline (seconds or ISO 8601)")
    labels = serializers.JSONField(required=False)
    idempotency_key = serializers.CharField(required=False)


class Rejection(serializers.Serializer[Any]):
    reason = serializers.CharField(required=False, allow_blank=True, help_text="recorded on the decision")


class Unblocking(serializers.Serializer[Any]):
    note = serializers.CharField(required=False, allow_blank=True, help_text="what changed; recorded on the decision")


class JobSerializer(serializers.ModelSerializer[Job]):
    url = serializers.HyperlinkedIdentityField(view_name="weft_api:job-detail")
    owner = serializers.StringRelatedField()

    class Meta:
        model = Job
        fields = ("id", "url", "name", "owner", "status", "stop_reason", "labels", "idempotency_key", "max_attempts",
                  "max_cost", "max_tokens", "deadline", "cost", "tokens", "tasks_total", "tasks_open", "created_at",
                  "finished_at")
        read_only_fields = fields


class TaskSerializer(serializers.ModelSerializer[Task]):
    url = serializers.HyperlinkedIdentityField(view_name="weft_api:task-detail")
    skill = serializers.CharField(source="skill_name")

    class Meta:
        model = Task
        fields: tuple[str, ...] = (
            "id", "url", "job", "parent", "key", "skill", "skill_version", "params", "limits", "retry", "timeout",
            "queue", "priority", "locks", "status", "attempts", "blocked_reason", "waiting_for", "result", "error",
            "created_at", "started_at", "finished_at")
        read_only_fields: tuple[str, ...] = fields


class AttemptSerializer(serializers.ModelSerializer[Attempt]):
    class Meta:
        model = Attempt
        fields = ("id", "number", "outcome", "worker", "pid", "started_at", "finished_at", "duration", "exit_code",
                  "error_type", "error_message", "traceback", "stdout", "stderr", "result", "peak_rss_mb",
                  "cpu_seconds", "peak_open_files", "limit_hit", "cost")
        read_only_fields = fields


class DecisionSerializer(serializers.ModelSerializer[Decision]):
    class Meta:
        model = Decision
        fields = ("id", "task", "attempt", "action", "policy", "observation", "reason", "created_at")
        read_only_fields = fields


@extend_schema_field({"$ref": "#/components/schemas/TaskStatusEnum"})
class _TaskStatus(serializers.ChoiceField):
    """A task's status in a second component: a reference to Task's enum. Two components with the same
    choices under the same field name would make drf-spectacular name the enum by a hash (``Status494Enum``)
    unless every project set ENUM_NAME_OVERRIDES."""


class TaskDetailSerializer(TaskSerializer):
    status = _TaskStatus(choices=TaskStatus.choices, read_only=True)
    attempt_list = AttemptSerializer(source="attempt_set", many=True, read_only=True)
    decision_list = DecisionSerializer(source="decisions", many=True, read_only=True)

    class Meta(TaskSerializer.Meta):
        fields = (*TaskSerializer.Meta.fields, "attempt_list", "decision_list")
        read_only_fields = fields


class Error(serializers.Serializer[Any]):
    """An error answer (403, 404): why."""

    detail = serializers.CharField()


class FieldError(Error):
    """A 400: the field at fault and why; nothing was written."""

    field = serializers.CharField(required=False, allow_blank=True,
                                  help_text="where, as a path (tasks[2].params.n); empty for the body as a whole")


class TaskResult(serializers.Serializer[Any]):
    status = serializers.CharField()
    result = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    attempts = serializers.IntegerField()
    artifacts = serializers.DictField(child=serializers.JSONField())


class Page(serializers.Serializer[Any]):
    """A page of a job's tasks, in id order: ``after`` of the next page, and its URL (null on the last)."""

    next_after = serializers.IntegerField(allow_null=True)
    next = serializers.URLField(allow_null=True)


class ResultsPage(Page):
    id = serializers.IntegerField()
    status = serializers.CharField()
    complete = serializers.BooleanField()
    tasks = serializers.DictField(child=TaskResult(), help_text="by task key")


class ExplainPage(Page):
    explain = serializers.CharField(help_text="the title and the cause, then the decisions and attempts of the "
                                              "page's tasks")
