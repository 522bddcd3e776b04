"""The fencing token's path: from the Celery task through claim, run and report to the task's last write.

Issue 11 counted 11 modules and 48 returns to a module already left; the lifecycle package by event keeps
it to five (tasks -> execution.runner -> lifecycle.claim / lifecycle.report -> transitions, with the
ledger writing what they decided). Traced in this process with ``sys.setprofile``: every call of a
weft_django function that is handed the token (an argument named token, or a Claimed that carries it).
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

import pytest

from weft_django import service
from weft_django.lifecycle.claim import Claimed
from weft_django.models import Task
from weft_django.tasks import execute, execute_many

pytestmark = pytest.mark.django_db

# The modules the token may pass through, and the writer of the audit trail, which gets it as data.
PATH = {"weft_django.tasks", "weft_django.execution.runner", "weft_django.lifecycle.claim",
        "weft_django.lifecycle.report", "weft_django.transitions.tasks"}


def trace_token(call: Any) -> list[str]:
    """The weft_django modules, in call order, of the functions that were handed the token."""
    seen: list[str] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if not module.startswith("weft_django.") or module.startswith("weft_django.execution.monitor"):
            return  # the monitor renews the lease on its own thread, not on the token's path
        code = frame.f_code
        args = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
        if "token" in args or any(isinstance(frame.f_locals.get(a), Claimed) for a in args):
            seen.append(module)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return seen


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "orm path"])
@pytest.mark.parametrize("skill,params,outcome", [
    ("t.add", {"a": 1, "b": 2}, "succeeded"),
    ("t.fatal", {}, "failed"),
], ids=["success", "failure"])
def test_the_token_passes_through_at_most_five_modules(skill: str, params: dict[str, Any], outcome: str,
                                                       fast: bool, settings: Any) -> None:
    settings.WEFT_FAST_PATH = fast
    job = service.submit(skill, params, retry={"max_attempts": 1})
    task = Task.objects.get(job=job)
    path = trace_token(lambda: execute.run(task.pk, 0))
    assert Task.objects.get(pk=task.pk).status == outcome
    assert "weft_django.lifecycle.claim" in path and "weft_django.lifecycle.report" in path
    assert set(path) <= PATH, sorted(set(path) - PATH)
    assert len(set(path)) <= 5


def test_the_tracer_sees_a_module_off_the_path() -> None:
    """The test above can fail: a token handed to a module outside the path shows."""
    glob: dict[str, Any] = {"__name__": "weft_django.elsewhere"}
    exec("def hop(token):\n    return token\n", glob)  # a function whose module is weft_django.elsewhere
    assert trace_token(lambda: glob["hop"](3)) == ["weft_django.elsewhere"]


# A chunk's tasks (weft_django.execute_many): the chunk (execution/chunk.py) stands where the Celery task stands
# for a lone one, and the chunk's statements (lifecycle/batch.py) beside claim and report.
CHUNK_PATH = PATH | {"weft_django.execution.chunk", "weft_django.lifecycle.batch"}


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "orm path"])
def test_the_token_of_a_chunk_passes_through_at_most_five_modules(fast: bool, settings: Any) -> None:
    settings.WEFT_FAST_PATH = fast
    job = service.submit_job({"tasks": [{"key": k, "skill": "t.add", "params": {"a": 1, "b": 2}} for k in "ab"]})
    tasks = list(Task.objects.filter(job=job).order_by("pk").values_list("pk", flat=True))
    path = trace_token(lambda: execute_many.run([[pk, 0] for pk in tasks]))
    assert set(Task.objects.filter(job=job).values_list("status", flat=True)) == {"succeeded"}
    assert "weft_django.lifecycle.claim" in path and "weft_django.lifecycle.report" in path
    assert set(path) <= CHUNK_PATH, sorted(set(path) - CHUNK_PATH)
    assert len(set(path)) <= 5, sorted(set(path))
