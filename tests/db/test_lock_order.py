"""Lock order: a blocked report that adds needs and a job being stopped at the same moment both finish.

``graph.stop_job`` locks a job's live tasks in id order, then the job. A report of ``blocked`` with needs
used to lock its own task first (blocking it) and an existing upstream of a need next: with the upstream's
id lower, the two waited on each other and PostgreSQL killed one (a cancel answered with an error, or a
report retried). Two real connections, paused at the point where the old order went wrong.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections, transaction

from weft_django import service
from weft_django.lifecycle import claim as claiming
from weft_django.lifecycle import graph, report, rows
from weft_django.models import Task
from weft_django.outcomes import Observation, Outcome

pytestmark = pytest.mark.django_db(transaction=True)


def in_thread(call: Callable[[], Any], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            call()
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def waiting_on_a_lock(exclude_pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> %s",
                       [exclude_pid])
        return bool(cursor.fetchone()[0])


def test_a_blocked_report_with_needs_and_a_stop_of_its_job_do_not_deadlock(monkeypatch: pytest.MonkeyPatch) -> None:
    job = service.submit_job({"tasks": [{"key": "up", "skill": "t.noop"}, {"key": "t", "skill": "t.add",
                                                                             "params": {"a": 1, "b": 2}}]})
    up, t = (Task.objects.get(job_id=job.pk, key=k) for k in ("up", "t"))
    assert up.pk < t.pk  # the upstream sorts first, as stop_job takes them
    claimed = claiming.claim(t.pk, 0)
    assert claimed is not None

    paused, resume = threading.Event(), threading.Event()
    real_add = rows.add_tasks

    def add_after_a_pause(*args: Any, **kwargs: Any) -> Any:
        paused.set()  # the report holds its task's lock (and, in the right order, the upstream's) here
        assert resume.wait(20)
        return real_add(*args, **kwargs)

    monkeypatch.setattr(rows, "add_tasks", add_after_a_pause)
    needs = [{"key": "n", "skill": "t.add", "params": {"a": 1, "b": 1}, "depends_on": ["up"]}]
    errors: list[BaseException] = []
    reporter = in_thread(lambda: report.record(claimed, Observation(Outcome.blocked("needs n", needs=needs),
                                                                    "blocked")), errors)
    assert paused.wait(20)

    def stop() -> None:
        with transaction.atomic():
            graph.stop_job(job.pk, "stopped by the test")

    stopper = in_thread(stop, errors)
    me = connection.cursor().connection.info.backend_pid
    deadline = time.monotonic() + 20
    while not waiting_on_a_lock(me):  # the stop waits for a lock the report holds
        assert time.monotonic() < deadline, "the stop never waited"
        time.sleep(0.05)
    resume.set()
    reporter.join(30)
    stopper.join(30)
    assert errors == []
    states = dict(Task.objects.filter(job_id=job.pk).values_list("key", "status"))
    assert states == {"up": "cancelled", "t": "cancelled", "n": "cancelled"}
