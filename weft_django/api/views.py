"""The HTTP API: thin adapters over the Python API (``weft_django.service``) and ``access``.

Bad input comes back as ``400 {"field": ..., "detail": ...}`` with nothing written; a skill the caller
may not run, or an action the caller may not take, as 403; a job the caller may not see as 404. Who may see
and do what is decided in ``weft_django.access``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from .. import access, registry, reports, service
from ..exceptions import NotFound, PermissionDenied, ValidationError, WeftError
from ..models import Attempt, Decision, Job, Skill, Task
from ..states import JobStatus
from . import serializers as s

_T = TypeVar("_T")


class BadInput(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"


def domain(call: Callable[[], _T]) -> _T:
    """Run a domain call; its errors become the HTTP answers above."""
    try:
        return call()
    except ValidationError as exc:
        raise BadInput({"field": exc.field, "detail": exc.message}) from exc
    except PermissionDenied as exc:
        raise exceptions.PermissionDenied(str(exc)) from exc
    except NotFound as exc:
        raise exceptions.NotFound(str(exc)) from exc
    except WeftError as exc:
        raise BadInput({"field": "", "detail": str(exc)}) from exc


class WeftView:
    """What every view here shares: logged-in users only, JSON bodies only (a form's values would be lists)."""

    permission_classes = (IsAuthenticated,)
    parser_classes = (JSONParser,)


class NewestFirst(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class SkillViewSet(WeftView, viewsets.ViewSet):
    """The skills the caller may run (registered in code, enabled, permitted)."""

    lookup_value_regex = r"[^/]+"

    def _runnable(self, request: Request) -> list[registry.SkillDef]:
        off = set(Skill.objects.filter(enabled=False).values_list("name", "version"))
        return [d for d in registry.all_skills()
                if (d.name, d.version) not in off and access.may_run(request.user, d)]

    @extend_schema(responses=s.SkillSerializer(many=True))
    def list(self, request: Request) -> Response:
        return Response(s.SkillSerializer(self._runnable(request), many=True).data)

    @extend_schema(responses=s.SkillSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        for d in self._runnable(request):
            if d.name == pk:
                return Response(s.SkillSerializer(d).data)
        raise exceptions.NotFound(f"no skill {pk!r} that you may run")


class JobViewSet(WeftView, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                 viewsets.GenericViewSet[Job]):
    """Jobs: submit one task or a DAG, list and read your jobs, their tasks, results and explanation, cancel."""

    serializer_class = s.JobSerializer
    pagination_class = NewestFirst

    def get_queryset(self) -> QuerySet[Job]:
        jobs = access.visible_jobs(self.request.user).select_related("owner")
        wanted = self.request.query_params.get("status")
        if wanted:
            if wanted not in JobStatus.values:
                raise BadInput({"field": "status", "detail": f"must be one of {', '.join(JobStatus.values)}"})
            jobs = jobs.filter(status=wanted)
        return jobs

    @extend_schema(
        request=PolymorphicProxySerializer("Submission", [s.TaskSubmission, s.JobSubmission],
                                           resource_type_field_name=None),
        responses={201: s.JobSerializer, 400: OpenApiResponse(description='{"field": ..., "detail": ...}'),
                   403: OpenApiResponse(description="a skill you may not run")})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Submit: a body with ``tasks`` is a job (JobSpec); a body with ``skill`` is one task."""
        data = request.data
        if not isinstance(data, dict):
            raise BadInput({"field": "", "detail": "the body must be a JSON object"})
        job = self.perform_create(data)
        return Response(s.JobSerializer(job).data, status=status.HTTP_201_CREATED,
                        headers={"Location": request.build_absolute_uri(f"{job.pk}/")})

    def perform_create(self, data: Any) -> Job:
        user = self.request.user
        if "tasks" in data:
            tasks = data["tasks"] if isinstance(data["tasks"], list) else []
            names = [(f"tasks[{i}].skill", t["skill"]) for i, t in enumerate(tasks)
                     if isinstance(t, dict) and isinstance(t.get("skill"), str)]
            domain(lambda: access.check_may_run(user, names))
            return domain(lambda: service.submit_job(data, owner=user))
        unknown = sorted(set(data) - set(s.TaskSubmission().fields))
        if unknown:
            raise BadInput({"field": unknown[0],
                            "detail": "unknown field; a job's body has 'tasks', one task's 'skill'"})
        if not isinstance(data.get("skill"), str):
            raise BadInput({"field": "skill", "detail": "is required: the name of a registered skill"})
        domain(lambda: access.check_may_run(user, [("skill", data["skill"])]))
        return domain(lambda: service.submit(**data, owner=user))

    @extend_schema(responses={200: OpenApiResponse(description="state, counts per task state, progress")})
    @action(detail=True)
    def status(self, request: Request, pk: str) -> Response:
        return Response(domain(lambda: reports.status(self.get_object().pk)))

    @extend_schema(responses={200: OpenApiResponse(description="per-task status, result, error, artifacts")})
    @action(detail=True)
    def results(self, request: Request, pk: str) -> Response:
        return Response(domain(lambda: reports.results(self.get_object().pk)))

    @extend_schema(responses={200: OpenApiResponse(description='{"explain": "..."}')})
    @action(detail=True)
    def explain(self, request: Request, pk: str) -> Response:
        return Response({"explain": domain(lambda: reports.explain(self.get_object().pk))})

    @extend_schema(responses=s.TaskSerializer(many=True))
    @action(detail=True)
    def tasks(self, request: Request, pk: str) -> Response:
        job = self.get_object()
        page = self.paginate_queryset(Task.objects.filter(job=job))
        return self.get_paginated_response(s.TaskSerializer(page, many=True).data)

    @extend_schema(request=None, responses={200: OpenApiResponse(description='{"cancelled": true|false}')})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        job = self.get_object()
        return Response({"cancelled": domain(lambda: service.cancel(job.pk, by=request.user))})

    @extend_schema(request=None, responses={201: s.JobSerializer,
                                            403: OpenApiResponse(description="a skill you may not run")})
    @action(detail=True, methods=["post"])
    def rerun(self, request: Request, pk: str) -> Response:
        """Submit the job again as a new job of yours: same tasks, dependencies, settings and budget."""
        job = self.get_object()
        new = domain(lambda: service.rerun(job.pk, by=request.user))
        return Response(s.JobSerializer(new).data, status=status.HTTP_201_CREATED)


class TaskViewSet(WeftView, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Task]):
    """One task of a job you may see, with its attempts and decisions; cancel it."""

    serializer_class = s.TaskDetailSerializer

    def get_queryset(self) -> QuerySet[Task]:
        return access.visible_tasks(self.request.user).prefetch_related(
            Prefetch("attempt_set", Attempt.objects.order_by("number")),
            Prefetch("decisions", Decision.objects.order_by("pk")))

    @extend_schema(request=None, responses={200: OpenApiResponse(description='{"cancelled": true|false}')})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        task = self.get_object()
        return Response({"cancelled": domain(lambda: service.cancel_task(task.pk, by=request.user))})

    @extend_schema(request=None, responses={200: OpenApiResponse(description='{"approved": true|false}'),
                                            403: OpenApiResponse(description="needs weft.approve_task")})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        """Let a task of a skill that requires approval run (false: it was not waiting for approval)."""
        task = self.get_object()
        return Response({"approved": domain(lambda: service.approve(task.pk, by=request.user))})

    @extend_schema(request=s.Rejection, responses={200: OpenApiResponse(description='{"rejected": true|false}'),
                                                   403: OpenApiResponse(description="needs weft.approve_task")})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        """Refuse it: it fails without running, its dependents are skipped."""
        task = self.get_object()
        data = request.data if isinstance(request.data, dict) else {}
        reason = data.get("reason", "")
        return Response({"rejected": domain(lambda: service.reject(task.pk, reason, by=request.user))})
