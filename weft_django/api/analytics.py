"""``GET analytics/?since=&until=``: per skill and per model, over a time range (reports.analytics); for those
who may see every user's jobs."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from .. import reports
from .base import WeftView, answers, domain


class AnalyticsViewSet(WeftView, viewsets.ViewSet):
    """How skills and models did over a time range: success rate, iterations to success, tokens and cost."""

    @extend_schema(
        parameters=[OpenApiParameter("since", OpenApiTypes.DATETIME, description="default: 24 hours before until"),
                    OpenApiParameter("until", OpenApiTypes.DATETIME, description="default: now")],
        responses=answers(OpenApiResponse(description='{"skills": {...}, "models": {...}, "jobs": n, ...}'),
                          400, 403, why={403: "needs weft.view_all_jobs"}))
    def list(self, request: Request) -> Response:
        def read() -> dict[str, object]:
            reports.check_sees_all_jobs(request.user, "analytics cover every user's jobs")
            return reports.analytics(request.query_params.get("since"), request.query_params.get("until"))

        return Response(domain(read))
