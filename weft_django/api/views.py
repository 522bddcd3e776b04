"""The HTTP API: thin adapters over the Python API (``weft_django.service``) and ``access``.

Bad input comes back as ``400 {"field": ..., "detail": ...}`` with nothing written; a skill the caller
may not run as 403; another user's job as 404 (staff see every job).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings as django_settings
from django.core.exceptions import RequestDataTooBig
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import Cursor, CursorPagination
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
APPROVE_TASK = "weft.approve_task"


class BadInput(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, detail: dict[str, str]) -> None:
        super().__init__({k: printable(v) for k, v in detail.items()})


class TooLarge(BadInput):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


def printable(text: object) -> str:
    """``text`` with any lone surrogate escaped: an answer naming one (a refused field) could not be encoded."""
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")


def domain(call: Callable[[], _T]) -> _T:
    """Run a domain call; its errors become the HTTP answers above."""
    try:
        return call()
    except ValidationError as exc:
        raise BadInput({"field": exc.field, "detail": exc.message}) from exc
    except PermissionDenied as exc:
        raise exceptions.PermissionDenied(printable(str(exc))) from exc
    except NotFound as exc:
        raise exceptions.NotFound(printable(str(exc))) from exc
    except WeftError as exc:
        raise BadInput({"field": "", "detail": str(exc)}) from exc


class JSONBody(JSONParser):
    """DRF's JSON parser, with JSON nested too deep for Python's parser answered as bad input (not a 500)."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise BadInput({"field": "", "detail": "the JSON is nested too deep"}) from None


class WeftView:
    """What every view here shares: logged-in users only, JSON bodies only (a form's values would be lists),
    errors as JSON (``{"field": ..., "detail": ...}`` for a body that cannot be read)."""

    permission_classes = (IsAuthenticated,)
    parser_classes = (JSONBody,)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, RequestDataTooBig):  # Django's check as DRF reads the body: an HTML 400 otherwise
            exc = TooLarge({"field": "", "detail": "the body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE "
                                                   f"({django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes)"})
        elif isinstance(exc, exceptions.ParseError):
            exc = BadInput({"field": "", "detail": str(exc.detail)})
        return super().handle_exception(exc)  # type: ignore[misc]  # the APIView this is mixed into


class NewestFirst(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request: Request) -> Cursor | None:
        """DRF's, with a bad cursor a 400 naming it: DRF passes the position (``p=``) to the query unchecked,
        so a crafted one (``p=abc``) failed there with a 500."""
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            cursor = None
            bad = True
        else:
            bad = cursor is not None and cursor.position is not None and not _is_int(cursor.position)
        if bad:
            raise BadInput({"field": "cursor", "detail": "is not a cursor this API returned"})
        return cursor


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


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
        jobs = Job.objects.visible_to(self.request.user).select_related("owner")
        wanted = self.request.query_params.get("status")
        if wanted:
            if wanted not in JobStatus.values:
                raise BadInput({"field": "status", "detail": f"must be one of {', '.join(JobStatus.values)}"})
            jobs = jobs.filter(status=wanted)
        return jobs

    @extend_schema(
        request=PolymorphicProxySerializer("Submission", [s.TaskSubmission, s.JobSubmission],
                                           resource_type_field_name=None),
        responses={201: s.JobSerializer, 200: OpenApiResponse(s.JobSerializer, description="the job an idempotency "
                                                            "key found, made by this same submission before"),
                   400: OpenApiResponse(description='{"field": ..., "detail": ...}'),
                   403: OpenApiResponse(description="a skill you may not run")})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Submit: a body with ``tasks`` is a job (JobSpec); a body with ``skill`` is one task."""
        data = request.data
        if not isinstance(data, dict):
            raise BadInput({"field": "", "detail": "the body must be a JSON object"})
        job = self.perform_create(data)
        # 200: an idempotency key found the job this same submission made before
        return Response(s.JobSerializer(job).data, status=status.HTTP_200_OK if job.resubmitted else
                        status.HTTP_201_CREATED, headers={"Location": request.build_absolute_uri(f"{job.pk}/")})

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
        return Response({"cancelled": domain(lambda: service.cancel(self.get_object().pk))})

    @extend_schema(request=None, responses={201: s.JobSerializer,
                                            403: OpenApiResponse(description="a skill you may not run")})
    @action(detail=True, methods=["post"])
    def rerun(self, request: Request, pk: str) -> Response:
        """Submit the job again as a new job of yours: same tasks, dependencies, settings and budget."""
        job = self.get_object()
        skills = [(f"tasks[{i}].skill", t["skill"]) for i, t in enumerate(reports.job_spec(job.pk)["tasks"])]
        domain(lambda: access.check_may_run(request.user, skills))
        new = domain(lambda: service.rerun(job.pk, owner=request.user))
        return Response(s.JobSerializer(new).data, status=status.HTTP_201_CREATED)


class TaskViewSet(WeftView, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Task]):
    """One task of a job you may see, with its attempts and decisions; cancel it."""

    serializer_class = s.TaskDetailSerializer

    def get_queryset(self) -> QuerySet[Task]:
        return Task.objects.filter(job__in=Job.objects.visible_to(self.request.user)).prefetch_related(
            Prefetch("attempt_set", Attempt.objects.order_by("number")),
            Prefetch("decisions", Decision.objects.order_by("pk")))

    @extend_schema(request=None, responses={200: OpenApiResponse(description='{"cancelled": true|false}')})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        return Response({"cancelled": domain(lambda: service.cancel_task(self.get_object().pk))})

    @extend_schema(request=None, responses={200: OpenApiResponse(description='{"approved": true|false}'),
                                            403: OpenApiResponse(description="needs weft.approve_task")})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        """Let a task of a skill that requires approval run (false: it was not waiting for approval)."""
        task = self._for_approver()
        return Response({"approved": domain(lambda: service.approve(task.pk, by=request.user))})

    @extend_schema(request=s.Rejection, responses={200: OpenApiResponse(description='{"rejected": true|false}'),
                                                   403: OpenApiResponse(description="needs weft.approve_task")})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        """Refuse it: it fails without running, its dependents are skipped."""
        task = self._for_approver()
        data = request.data if isinstance(request.data, dict) else {}
        reason = data.get("reason", "")
        return Response({"rejected": domain(lambda: service.reject(task.pk, reason, by=request.user))})

    def _for_approver(self) -> Task:
        task = self.get_object()  # 404 for a task the caller may not see
        if not self.request.user.has_perm(APPROVE_TASK):
            raise exceptions.PermissionDenied(f"approving or rejecting tasks needs the permission {APPROVE_TASK}")
        return task
