"""The pure parts of the Tasks framework backend's mapping: weft's states as the framework's statuses, an
attempt's recorded error as an exception path, and the priority scale."""

from __future__ import annotations

import pytest

from weft_django.backends import results
from weft_django.backends.backend import weft_priority
from weft_django.backends.compat import TaskResultStatus

TRACEBACK = """Traceback (most recent call last):
  File "/app/tests/testapp/tasks.py", line 40, in refuse
    raise Refused(reason)
tests.testapp.tasks.Refused: no thanks
"""


@pytest.mark.parametrize(("job", "task", "expected"), [
    ("running", "queued", "READY"), ("running", "pending", "READY"), ("running", "blocked", "READY"),
    ("running", "running", "RUNNING"), ("running", "waiting", "RUNNING"),
    ("succeeded", "succeeded", "SUCCESSFUL"), ("failed", "failed", "FAILED"),
    ("cancelled", "cancelled", "FAILED"), ("stopped", "queued", "FAILED"),
])
def test_mapping__status(job: str, task: str, expected: str) -> None:
    assert results.status(job, task) == TaskResultStatus[expected]


def test_mapping__exception_path() -> None:
    assert results.exception_path("Refused", TRACEBACK) == "tests.testapp.tasks.Refused"
    assert results.exception_path("ValueError", "Traceback ...\nValueError: bad\nmore lines") == "builtins.ValueError"
    assert results.exception_path("Timeout", "") == "builtins.TimeoutError"
    assert results.exception_path("LeaseLost", "") == results.WEFT_FAILURE
    assert results.exception_path("", "") == results.WEFT_FAILURE


def test_mapping__priority_keeps_the_order_on_weft_scale() -> None:
    mapped = [weft_priority(p) for p in range(-100, 101)]
    assert (mapped[0], mapped[100], mapped[200]) == (9, 5, 0)
    assert mapped == sorted(mapped, reverse=True)
