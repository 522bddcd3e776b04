"""The claim API of agents outside Celery: ``POST agents/`` registers one, ``agents/{id}/claim/`` takes the next
task it can do, ``agents/{id}/heartbeat/`` renews the lease, ``agents/{id}/report/`` reports the outcome.

Each needs ``weft.act_as_agent`` (403) and speaks only for the caller's own agents (404). A heartbeat or a report
for a lease the agent lost is refused with 409 and a body saying why (``"lease_lost": true``); bad input is 400
naming the field. The rules are ``service.agent_door``'s and the lifecycle's (lifecycle/external.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from .. import service
from ..exceptions import LeaseLost
from .base import WeftView, answers, domain, printable


def fenced(call: Callable[[], dict[str, Any]]) -> Response:
    """A domain call's answer, or 409 for a lost lease (its other errors as ``domain`` answers them)."""
    lost: list[LeaseLost] = []

    def run() -> dict[str, Any] | None:
        try:
            return call()
        except LeaseLost as exc:
            lost.append(exc)
            return None

    answer = domain(run)
    if lost:
        exc = lost[0]
        return Response({"lease_lost": True, "task": exc.task_id, "token": exc.token, "detail": printable(str(exc))},
                        status=status.HTTP_409_CONFLICT)
    return Response(answer)


class Registration(serializers.Serializer[Any]):
    name = serializers.CharField(help_text="1-100 letters, digits or _.-; unique")
    capabilities = serializers.ListField(child=serializers.CharField(), required=False,
                                         help_text="labels such as gpu, python3.12 (at most 50)")


class AgentBody(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    capabilities = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField()
    lease_seconds = serializers.FloatField()
    heartbeat_interval = serializers.FloatField()


class ClaimBody(serializers.Serializer[Any]):
    skills = serializers.ListField(child=serializers.CharField(), required=False,
                                   help_text="claim only tasks of these skills (default: any it may run)")
    pid = serializers.IntegerField(required=False, help_text="the process that will run it, recorded on the attempt")


class Claimed(serializers.Serializer[Any]):
    task = serializers.IntegerField()
    job = serializers.IntegerField()
    token = serializers.IntegerField(help_text="the fencing token: name it in every heartbeat and the report")
    attempt_id = serializers.IntegerField()
    key = serializers.CharField()
    skill = serializers.CharField()
    params = serializers.JSONField()
    argv = serializers.ListField(child=serializers.CharField(), allow_null=True,
                                 help_text="the skill's own command line for these params")
    capabilities = serializers.ListField(child=serializers.CharField())
    timeout = serializers.FloatField(allow_null=True)
    limits = serializers.JSONField()
    dependencies = serializers.JSONField()
    lease_seconds = serializers.FloatField()
    heartbeat_interval = serializers.FloatField()


class HeartbeatBody(serializers.Serializer[Any]):
    task = serializers.IntegerField()
    token = serializers.IntegerField()
    stdout = serializers.CharField(required=False, help_text="output so far, shown live on the attempt")
    stderr = serializers.CharField(required=False)


class Renewed(serializers.Serializer[Any]):
    task = serializers.IntegerField()
    token = serializers.IntegerField()
    renewed = serializers.BooleanField()
    cancel_requested = serializers.BooleanField(help_text="stop the command and report 'cancelled'")
    lease_expires_at = serializers.DateTimeField(allow_null=True)


class ReportBody(serializers.Serializer[Any]):
    task = serializers.IntegerField()
    token = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=["succeeded", "failed", "cancelled"])
    result = serializers.JSONField(required=False, help_text="a success's result")
    error = serializers.CharField(required=False)
    error_type = serializers.CharField(required=False)
    retryable = serializers.BooleanField(required=False, help_text="a failure: may it run again (default true)")
    exit_code = serializers.IntegerField(required=False, allow_null=True)
    stdout = serializers.CharField(required=False)
    stderr = serializers.CharField(required=False)
    duration = serializers.FloatField(required=False)
    cost = serializers.FloatField(required=False)


class Reported(serializers.Serializer[Any]):
    task = serializers.IntegerField()
    token = serializers.IntegerField()
    outcome = serializers.CharField(help_text="what the attempt was closed with")


LOST = OpenApiResponse(description='the lease is lost: {"lease_lost": true, "task", "token", "detail"}; '
                                   "nothing was applied")
ONLY_YOURS = {403: "needs weft.act_as_agent", 404: "no such agent registered by you"}
AGENT_ID = [OpenApiParameter("id", int, OpenApiParameter.PATH, description="the id its registration returned")]


class AgentViewSet(WeftView, viewsets.ViewSet):
    """Agents outside Celery: register, claim, renew the lease, report (docs/agents.md)."""

    @extend_schema(request=Registration, responses={**answers(AgentBody, 400, 403, code=201, why=ONLY_YOURS),
                                                    200: OpenApiResponse(AgentBody, description="already yours")})
    def create(self, request: Request) -> Response:
        agent, created = domain(lambda: service.agent_door.register(request.user, request.data))
        return Response(agent, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(parameters=AGENT_ID, request=ClaimBody, responses={**answers(Claimed, 400, 403, 404, why=ONLY_YOURS),
                                                 204: OpenApiResponse(description="nothing it can do now")})
    @action(detail=True, methods=["post"])
    def claim(self, request: Request, pk: str) -> Response:
        """Claim the next queued task whose required capabilities the agent's cover, under a new lease."""
        found = domain(lambda: service.agent_door.claim(request.user, pk, request.data))
        return Response(found) if found is not None else Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=AGENT_ID, request=HeartbeatBody,
                   responses={**answers(Renewed, 400, 403, 404, why=ONLY_YOURS), 409: LOST})
    @action(detail=True, methods=["post"])
    def heartbeat(self, request: Request, pk: str) -> Response:
        """Renew the lease of the attempt the token names (every heartbeat_interval seconds while it runs)."""
        return fenced(lambda: service.agent_door.heartbeat(request.user, pk, request.data))

    @extend_schema(parameters=AGENT_ID, request=ReportBody,
                   responses={**answers(Reported, 400, 403, 404, why=ONLY_YOURS), 409: LOST})
    @action(detail=True, methods=["post"])
    def report(self, request: Request, pk: str) -> Response:
        """Report the attempt's outcome with its token: applied as a Celery worker's would be."""
        return fenced(lambda: service.agent_door.report(request.user, pk, request.data))
