"""``path("api/weft/", include("weft_django.api.urls"))``: the API, a root listing its endpoints, its OpenAPI
schema at ``schema/``, and (with drf-spectacular-sidecar installed) Swagger UI at ``docs/`` and Redoc at
``redoc/``."""

from __future__ import annotations

from typing import Any

from django.urls import include, path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from .agents import AgentViewSet
from .analytics import AnalyticsViewSet
from .docs import ApiRoot, Redoc, Swagger, offline_docs
from .views import JobViewSet, SkillViewSet, TaskViewSet

app_name = "weft_api"

router = SimpleRouter()
router.register("skills", SkillViewSet, basename="skill")
router.register("jobs", JobViewSet, basename="job")
router.register("tasks", TaskViewSet, basename="task")
router.register("analytics", AnalyticsViewSet, basename="analytics")
router.register("agents", AgentViewSet, basename="agent")


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 schema of weft's API alone (not the project's other views), at the paths where the
    project mounted it."""

    custom_settings = {
        "TITLE": "weft_django",
        "DESCRIPTION": "Submit and watch weft jobs: skills, jobs, tasks, attempts and decisions.",
        "VERSION": "1",
        "ENUM_NAME_OVERRIDES": {"JobStatusEnum": "weft_django.states.JobStatus",
                                "TaskStatusEnum": "weft_django.states.TaskStatus"},
    }

    @extend_schema(exclude=True)  # the schema is not an operation of the API (manage.py spectacular included it)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        mounted_at = request.path_info[1:-len("schema/")]  # "api/weft/"
        self.urlconf = [path(mounted_at, include(router.urls))]  # type: ignore[assignment]
        return super().get(request, *args, **kwargs)


urlpatterns = [
    path("", ApiRoot.as_view(), name="root"),
    path("schema/", SchemaView.as_view(), name="schema"),
    *([path("docs/", Swagger.as_view(), name="docs"), path("redoc/", Redoc.as_view(), name="redoc")]
      if offline_docs() else []),
    path("", include(router.urls)),
]
