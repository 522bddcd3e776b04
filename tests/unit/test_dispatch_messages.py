"""Which messages carry a hand-off's ready tasks (dispatch.messages): chunks of tasks due now, by queue and
priority; a task with a countdown, or alone, in a message of its own."""

from __future__ import annotations

from weft_django.dispatch import messages
from weft_django.handoff import Ready


def ids(batches: list[list[Ready]]) -> list[list[int]]:
    return [[r.task_id for r in m] for m in batches]


def test_messages__chunks_by_queue_and_priority_in_task_order() -> None:
    items = [Ready(i, 0, "weft" if i % 2 else "other", 5) for i in range(10, 0, -1)]
    assert ids(messages(items, 3)) == [[2, 4, 6], [8, 10], [1, 3, 5], [7, 9]]  # groups in the order first seen


def test_messages__a_countdown_or_a_lone_task_goes_alone() -> None:
    items = [Ready(1, 0, "weft", 5), Ready(2, 1, "weft", 5, countdown=2.0), Ready(3, 0, "weft", 5),
             Ready(4, 0, "weft", 1)]
    assert ids(messages(items, 20)) == [[2], [1, 3], [4]]


def test_messages__batching_off_or_one_task_one_message_each() -> None:
    items = [Ready(i, 0, "weft", 5) for i in range(3)]
    assert ids(messages(items, 1)) == [[0], [1], [2]]
    assert ids(messages(items[:1], 20)) == [[0]]


def test_direct__only_a_queue_on_a_direct_exchange_is_published_to_without_its_bindings() -> None:
    from celery import Celery
    from kombu import Exchange, Queue

    from weft_django.dispatch import _direct

    app = Celery("t", broker="memory://", set_as_current=False)
    app.conf.task_queues = [Queue("plain"), Queue("routed", Exchange("events", type="topic"), routing_key="a.*")]
    assert _direct(app, "plain") is True
    assert _direct(app, "routed") is False  # its bindings route the message: declared on every publish
    assert _direct(app, "missing") is True  # Celery creates it on a direct exchange of its name
