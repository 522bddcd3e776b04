"""The grouping of a busy producer's publishes (grouping.py): Nagle's rule, by count and by window."""

from __future__ import annotations

import threading

from pytest_django import Settings

from tests.conftest import wait_for
from weft_django import grouping
from weft_django.grouping import Grouper
from weft_django.handoff import Delivery, Ready


class Broker:
    def __init__(self, error: str = "") -> None:
        self.groups: list[list[int]] = []
        self.error = error
        self.sent = threading.Event()

    def __call__(self, items: list[Ready]) -> tuple[int, str]:
        self.groups.append([r.task_id for r in items])
        self.sent.set()
        return (0, self.error) if self.error else (len(items), "")


def ready(i: int) -> Ready:
    return Ready(i, 0, "weft", 5)


def test_grouping__an_idle_process_publishes_at_once_and_a_busy_one_groups_by_count(settings: Settings) -> None:
    settings.WEFT_SUBMIT_GROUP_MS = 60_000  # the window never ends in this test: only the count flushes
    now = [100.0]
    broker = Broker()
    g = Grouper(broker, clock=lambda: now[0])
    deliveries = [Delivery(1) for _ in range(7)]
    for i, d in enumerate(deliveries):
        g.offer(ready(i), d, 60.0, 3)
    # The first two went alone (the process was not busy yet); the next ones in threes, the last two waiting.
    assert broker.groups == [[0], [1], [2, 3, 4]]
    assert all(d.sent == 1 and not d.failed for d in deliveries[:5])
    assert deliveries[5].sent is None and deliveries[6].sent is None


def test_grouping__submissions_apart_go_alone_and_a_burst_groups_after_two(settings: Settings) -> None:
    now = [100.0]
    broker = Broker()
    g = Grouper(broker, clock=lambda: now[0])
    for i in range(4):  # one task after another's end, 3 ms apart: never busy
        g.offer(ready(i), Delivery(1), 0.02, 20)
        now[0] += 0.003
    assert broker.groups == [[0], [1], [2], [3]]
    for i in range(4, 9):  # back to back, 0.5 ms apart: the first two alone, then the process is busy
        g.offer(ready(i), Delivery(1), 0.02, 20)
        now[0] += 0.0005
    assert broker.groups == [[0], [1], [2], [3], [4], [5]]
    g.flush()
    assert broker.groups[-1] == [6, 7, 8]
    now[0] += 0.050  # quiet: the next goes at once again
    g.offer(ready(9), Delivery(1), 0.02, 20)
    assert broker.groups[-1] == [9]


def test_grouping__the_thread_publishes_what_waits_when_the_window_ends(settings: Settings) -> None:
    settings.WEFT_SUBMIT_GROUP_MS = 30
    broker = Broker()
    g = Grouper(broker)
    first, later = [Delivery(1), Delivery(1)], [Delivery(1) for _ in range(4)]
    for i, d in enumerate(first):
        g.offer(ready(i), d, 0.03, 20)
    for i, d in enumerate(later, 2):
        g.offer(ready(i), d, 0.03, 20)
    assert broker.groups == [[0], [1]] and all(d.sent == 1 for d in first)
    assert all(d.sent is None for d in later)  # waiting for the window
    wait_for(lambda: len(broker.groups) == 3, 5, 0.005, "the thread to publish the window's group")
    assert broker.groups == [[0], [1], [2, 3, 4, 5]]
    assert all(d.sent == 1 for d in later)


def test_grouping__a_broker_error_marks_the_group_unsent_for_the_sweep(settings: Settings) -> None:
    now = [100.0]
    broker = Broker("ConnectionError: down")
    g = Grouper(broker, clock=lambda: now[0])
    ds = [Delivery(1) for _ in range(3)]
    for i, d in enumerate(ds):
        g.offer(ready(i), d, 60.0, 2)
    g.offer(ready(3), Delivery(1), 60.0, 2)
    assert broker.groups == [[0], [1], [2, 3]]
    assert all(d.failed and d.error == "ConnectionError: down" for d in ds)


def test_grouping__flush_sends_what_waits(settings: Settings) -> None:
    now = [100.0]
    broker = Broker()
    g = Grouper(broker, clock=lambda: now[0])
    for i in range(4):
        g.offer(ready(i), Delivery(1), 60.0, 20)
    assert broker.groups == [[0], [1]]
    g.flush()
    assert broker.groups == [[0], [1], [2, 3]]


def test_grouping__off_by_default_and_never_for_a_delayed_or_a_many_task_submission(settings: Settings) -> None:
    assert grouping.groupable([ready(1)]) is False  # WEFT_SUBMIT_GROUP_MS defaults to 0
    settings.WEFT_SUBMIT_GROUP_MS = 5
    assert grouping.groupable([ready(1)]) is True
    assert grouping.groupable([Ready(1, 0, "weft", 5, countdown=2.0)]) is False
    assert grouping.groupable([ready(1), ready(2)]) is False


def test_grouping__a_publish_that_raises_reports_the_group_unsent_and_the_thread_goes_on(settings: Settings) -> None:
    calls: list[list[int]] = []

    def broken(items: list[Ready]) -> tuple[int, str]:
        calls.append([r.task_id for r in items])
        if len(calls) == 3:
            raise ImportError("no module named 'proj.celery'")
        return len(items), ""

    g = Grouper(broken)
    ds = [Delivery(1) for _ in range(4)]
    for i, d in enumerate(ds):
        g.offer(ready(i), d, 0.01, 20)
    wait_for(lambda: ds[2].sent is not None, 5, 0.005, "the thread to report the group it could not publish")
    assert calls == [[0], [1], [2, 3]]
    assert ds[2].failed and ds[3].failed and "proj.celery" in ds[2].error
    g.offer(ready(4), Delivery(1), 0.01, 20)  # the grouper goes on: the next submission is published
    g.flush()
    assert calls[-1] == [4]
