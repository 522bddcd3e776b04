"""The HTTP API: thin adapters over the Python API (``weft_django.service``) and its reads (``reports``).

Bad input comes back as ``400 {"field": ..., "detail": ...}`` with nothing written; a skill the caller
may not run, or an action the caller may not take, as 403; a job the caller may not see as 404. Who may see
and do what is decided in ``weft_django.access``, behind those two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from .. import reports, service
from . import serializers as s
from .base import BadInput, WeftView, answers, domain
from .paging import PAGE_PARAMETERS, Filters, NewestFirst, task_page, with_next

if TYPE_CHECKING:  # the viewsets' types only: their rows are read through reports
    from ..models import Job, Task


class SkillViewSet(WeftView, viewsets.ViewSet):
    """The skills the caller may run (registered in code, enabled, permitted)."""

    lookup_value_regex = r"[^/]+"

    @extend_schema(responses=answers(s.SkillSerializer(many=True), 403))
    def list(self, request: Request) -> Response:
        return Response(s.SkillSerializer(reports.runnable_skills(request.user), many=True,
                                           context={"request": request}).data)

    @extend_schema(responses=answers(s.SkillSerializer, 403, 404))
    def retrieve(self, request: Request, pk: str) -> Response:
        for d in reports.runnable_skills(request.user):
            if d.name == pk:
                return Response(s.SkillSerializer(d, context={"request": request}).data)
        raise exceptions.NotFound(f"no skill {pk!r} that you may run")


@extend_schema_view(list=extend_schema(responses=answers(s.JobSerializer(many=True), 400, 403, 404)),
                    retrieve=extend_schema(responses=answers(s.JobSerializer, 403, 404)))
class JobViewSet(WeftView, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                 viewsets.GenericViewSet["Job"]):
    """Jobs: submit one task or a DAG, list and read your jobs, their tasks, results and explanation, cancel."""

    serializer_class = s.JobSerializer
    pagination_class = NewestFirst
    filter_backends = (Filters,)
    filterset_class = reports.JobFilter

    def get_queryset(self) -> QuerySet[Job]:
        return domain(lambda: reports.job_list(self.request.user))

    @extend_schema(
        request=PolymorphicProxySerializer("Submission", [s.TaskSubmission, s.JobSubmission],
                                           resource_type_field_name=None),
        responses={**answers(s.JobSerializer, 400, 403, code=201, why={403: "a skill you may not run"}),
                   200: OpenApiResponse(s.JobSerializer, description="the job an idempotency key found, made by "
                                                                     "this same submission before")})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Submit: a body with ``tasks`` is a job (JobSpec); a body with ``skill`` is one task."""
        data = request.data
        if not isinstance(data, dict):
            raise BadInput({"field": "", "detail": "the body must be a JSON object"})
        # The body is the domain's to validate (TaskSpec, JobSpec); JobSerializer's fields are all read-only,
        # so is_valid takes it as it is and perform_create hands it over.
        serializer = self.get_serializer(data=data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        job = serializer.instance
        assert job is not None  # perform_create set it, or raised
        # 200: an idempotency key found the job this same submission made before
        return Response(serializer.data, status=status.HTTP_200_OK if job.resubmitted else
                        status.HTTP_201_CREATED, headers={"Location": request.build_absolute_uri(f"{job.pk}/")})

    def perform_create(self, serializer: BaseSerializer[Job]) -> None:
        data, user = serializer.initial_data, self.request.user
        if "tasks" in data:
            serializer.instance = domain(lambda: service.submit_job_by(user, data))
            return
        unknown = sorted(set(data) - set(s.TaskSubmission().fields))
        if unknown:
            raise BadInput({"field": unknown[0],
                            "detail": "unknown field; a job's body has 'tasks', one task's 'skill'"})
        if not isinstance(data.get("skill"), str):
            raise BadInput({"field": "skill", "detail": "is required: the name of a registered skill"})
        serializer.instance = domain(lambda: service.submit_by(user, data))

    @extend_schema(request=s.TaskSubmission(many=True), responses=answers(
        s.JobSerializer(many=True), 400, 403, code=201,
        why={400: "bad input: the field at fault as [index].field, or too many items; nothing was written",
             403: "a skill you may not run, or a policy that denies an item ([index].skill)"}))
    @action(detail=False, methods=["post"], pagination_class=None)  # the jobs written: all of them, not a page
    def bulk(self, request: Request) -> Response:
        """Submit many one-task jobs at once: a JSON list of what ``POST jobs/`` takes for one task (at most
        WEFT_SUBMIT_MANY_MAX). All are written, or none; the jobs come back in the list's order."""
        if not isinstance(request.data, list):
            raise BadInput({"field": "", "detail": "the body must be a JSON list of submissions"})
        jobs = domain(lambda: service.submit_many_by(request.user, request.data))
        return Response(s.JobSerializer(jobs, many=True, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(responses=answers(OpenApiResponse(description="state, counts per task state, progress"), 403, 404))
    @action(detail=True)
    def status(self, request: Request, pk: str) -> Response:
        return Response(domain(lambda: reports.status(self.get_object().pk)))

    @extend_schema(parameters=PAGE_PARAMETERS, responses=answers(s.ResultsPage, 400, 403, 404))
    @action(detail=True)
    def results(self, request: Request, pk: str) -> Response:
        """Per-task status, result, error and artifacts: a page of the job's tasks."""
        page = task_page(request)
        return Response(with_next(request, domain(lambda: reports.results(self.get_object().pk, **page))))

    @extend_schema(parameters=PAGE_PARAMETERS, responses=answers(s.ExplainPage, 400, 403, 404))
    @action(detail=True)
    def explain(self, request: Request, pk: str) -> Response:
        """Why the job ended as it did: its cause, and the decisions and attempts of a page of its tasks."""
        page = task_page(request)
        return Response(with_next(request, domain(lambda: reports.explain_page(self.get_object().pk, **page))))

    @extend_schema(responses=answers(s.TaskSerializer(many=True), 400, 403, 404))
    @action(detail=True)
    def tasks(self, request: Request, pk: str) -> Response:
        job = self.get_object()
        page = self.paginate_queryset(reports.job_tasks(job.pk))
        rows = s.TaskSerializer(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(rows.data)

    @extend_schema(responses=answers(OpenApiResponse(
        description='{"audit": [who did what, when, via], "policy_decisions": [what rules did to it]}'), 403, 404))
    @action(detail=True)
    def audit(self, request: Request, pk: str) -> Response:
        """Who did what to the job (cancel, rerun, approve ...; from where) and what policies did to it."""
        return Response(reports.job_governance(self.get_object().pk))

    @extend_schema(request=None, responses=answers(OpenApiResponse(description='{"cancelled": true|false}'),
                                                   400, 403, 404))
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        job = self.get_object()
        return Response({"cancelled": domain(lambda: service.cancel(job.pk, by=request.user, via="api"))})

    @extend_schema(request=None, responses=answers(s.JobSerializer, 400, 403, 404, code=201,
                                                   why={403: "a skill you may not run"}))
    @action(detail=True, methods=["post"])
    def rerun(self, request: Request, pk: str) -> Response:
        """Submit the job again as a new job of yours: same tasks, dependencies, settings and budget."""
        job = self.get_object()
        new = domain(lambda: service.rerun(job.pk, by=request.user, via="api"))
        return Response(s.JobSerializer(new, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)


@extend_schema_view(list=extend_schema(responses=answers(s.TaskSerializer(many=True), 400, 403)),
                    retrieve=extend_schema(responses=answers(s.TaskDetailSerializer, 403, 404)))
class TaskViewSet(WeftView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet["Task"]):
    """The tasks of the jobs you may see (filtered, newest first); one with its attempts and decisions; act on it."""

    serializer_class = s.TaskDetailSerializer
    pagination_class = NewestFirst
    filter_backends = (Filters,)
    filterset_class = reports.TaskFilter

    def get_queryset(self) -> QuerySet[Task]:
        if self.action == "list":
            return reports.task_list(self.request.user)
        return reports.task_details(self.request.user)

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        return s.TaskSerializer if self.action == "list" else s.TaskDetailSerializer

    @extend_schema(request=None, responses=answers(OpenApiResponse(description='{"cancelled": true|false}'),
                                                   400, 403, 404))
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        task = self.get_object()
        return Response({"cancelled": domain(lambda: service.cancel_task(task.pk, by=request.user, via="api"))})

    @extend_schema(request=None, responses=answers(OpenApiResponse(description='{"approved": true|false}'),
                                                   400, 403, 404, why={403: "needs weft.approve_task"}))
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        """Let a task of a skill that requires approval run (false: it was not waiting for approval)."""
        task = self.get_object()
        return Response({"approved": domain(lambda: service.approve(task.pk, by=request.user, via="api"))})

    @extend_schema(request=None, responses=answers(OpenApiResponse(description='{"retried": true|false}'),
                                                   400, 403, 404))
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        """Run a failed or cancelled task again, with the dependents it skipped, and its job if it ended."""
        task = self.get_object()
        return Response({"retried": domain(lambda: service.retry_task(task.pk, by=request.user, via="api"))})

    @extend_schema(request=s.Unblocking, responses=answers(OpenApiResponse(description='{"unblocked": true|false}'),
                                                           400, 403, 404))
    @action(detail=True, methods=["post"])
    def unblock(self, request: Request, pk: str) -> Response:
        """Let a task blocked with a reason run again (``note``: what changed)."""
        task = self.get_object()
        data = request.data if isinstance(request.data, dict) else {}
        note = data.get("note", "")
        return Response({"unblocked": domain(lambda: service.unblock(task.pk, note, by=request.user, via="api"))})

    @extend_schema(request=s.Rejection, responses=answers(OpenApiResponse(description='{"rejected": true|false}'),
                                                          400, 403, 404, why={403: "needs weft.approve_task"}))
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        """Refuse it: it fails without running, its dependents are skipped."""
        task = self.get_object()
        data = request.data if isinstance(request.data, dict) else {}
        reason = data.get("reason", "")
        return Response({"rejected": domain(lambda: service.reject(task.pk, reason, by=request.user, via="api"))})
