"""Django's query hook (``connection.execute_wrapper``) sees weft's own statements.

The PostgreSQL fast path runs submit, claim and record as prepared statements on a cursor of its own
(lifecycle/pg.py); tools that time or count queries through Django's hook (APM agents, query counters,
the benchmark's SQL timer) must see those too, and a wrapper that refuses a query must stop it.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from weft_django import service
from weft_django.execution.runner import execute
from weft_django.models import Task

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "orm path"])
def test_a_wrapper_sees_the_submit_claim_and_record_statements(fast: bool, settings: Any) -> None:
    settings.WEFT_FAST_PATH = fast
    seen: list[str] = []

    def record(run: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        seen.append(" ".join(sql.split()))
        assert context["connection"].alias == "default"
        return run(sql, params, many, context)

    with connection.execute_wrapper(record):
        job = service.submit("t.add", {"a": 1, "b": 2})
        task = Task.objects.get(job=job)
        outcome = execute(task.pk, 0, worker="wrapped@host")["outcome"]
    assert outcome == "succeeded"
    assert Task.objects.get(pk=task.pk).status == "succeeded"
    task_writes = [s for s in seen if "weft_task" in s and ("INSERT INTO" in s or "UPDATE" in s)]
    # the submit's insert, the claim's update (to running) and the record's (to succeeded): none bypasses the hook
    assert len(task_writes) >= 3 and "INSERT INTO" in task_writes[0], task_writes
    assert sum("UPDATE" in s for s in task_writes) >= 2, task_writes


def test_a_wrapper_that_refuses_stops_the_fast_statement(settings: Any) -> None:
    settings.WEFT_FAST_PATH = True

    class Refused(Exception):
        pass

    def refuse(run: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        if "INSERT INTO weft_task" in " ".join(sql.split()):
            raise Refused(sql[:40])
        return run(sql, params, many, context)

    before = Task.objects.count()
    with connection.execute_wrapper(refuse), pytest.raises(Refused):
        service.submit("t.add", {"a": 1, "b": 2})
    assert Task.objects.count() == before
