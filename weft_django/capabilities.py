"""Capability labels and routing by capability (pure, no Django, no Celery).

A skill or a submission names the capabilities its tasks require (``capabilities=["gpu"]``, options.py). A task
that requires some is sent to the *routed queue* of its queue and its set: ``weft+gpu``, ``weft+gpu+python3.12``
(the labels sorted, joined by ``+``, which neither a queue name nor a label may contain, so the base queue is
always the part before the first ``+``). A Celery worker started with ``--capabilities gpu,python3.12`` reads,
beside each of its queues, the routed queue of every non-empty subset of its labels: it gets every task whose
requirements its capabilities cover, and no other. An agent outside Celery claims over HTTP by the same rule,
``requires <= has`` (lifecycle/external.py), from the database, whatever queue the task was sent to.

Limits, so that a routed queue name stays under the brokers' 255 bytes and a worker's list of queues stays small:
a label is at most ``MAX_LABEL`` characters, a task requires at most ``MAX_REQUIRED`` labels, a Celery worker
declares at most ``MAX_WORKER`` (2**6 - 1 = 63 routed queues per queue), an agent at most ``MAX_AGENT``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from itertools import combinations
from typing import Any

from .exceptions import InvalidInput
from .validators import text_list

LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,29}\Z")
MAX_LABEL = 30
MAX_REQUIRED = 4
MAX_WORKER = 6
MAX_AGENT = 50
SEPARATOR = "+"


def parse(value: Any, path: str, most: int = MAX_REQUIRED) -> tuple[str, ...]:
    """A list of capability labels, each once, sorted; InvalidInput naming ``path`` or the label at fault."""
    if value is None:
        return ()
    for i, label in enumerate(text_list(value, path, most, "capability labels")):
        if not LABEL_RE.match(label):
            shown = label[:40].encode("utf-8", "backslashreplace").decode("utf-8")
            raise InvalidInput(f"{path}[{i}]", f"must be 1-{MAX_LABEL} letters, digits or _.- (starting with a "
                                               f"letter or digit), got {shown!r}")
    return tuple(sorted(set(value)))


def check(value: Any, path: str) -> None:
    """``parse``'s refusal, if any (a task option's check)."""
    parse(value, path)


def parse_text(text: str, path: str, most: int) -> tuple[str, ...]:
    """Comma-separated labels (a command line's ``gpu,python3.12``)."""
    return parse([part.strip() for part in text.split(",") if part.strip()], path, most)


def routed_queue(queue: str, required: Collection[str]) -> str:
    """The queue a task of ``queue`` requiring ``required`` is sent to: ``queue`` itself when it requires none."""
    return SEPARATOR.join([queue, *sorted(set(required))]) if required else queue


def base_queue(queue: str) -> str:
    """The queue a routed queue was made from (``weft+gpu`` -> ``weft``); a plain queue is its own."""
    return queue.partition(SEPARATOR)[0]


def required_of(queue: str) -> tuple[str, ...]:
    """The labels a routed queue's tasks require (``weft+gpu`` -> ``("gpu",)``)."""
    return tuple(queue.split(SEPARATOR)[1:])


def worker_queues(queues: Sequence[str], has: Iterable[str]) -> list[str]:
    """What a Celery worker with capabilities ``has`` reads: each of ``queues``, and the routed queue of each
    non-empty subset of ``has`` for each (the tasks it can do), in that order."""
    labels = sorted(set(has))
    out = list(dict.fromkeys(queues))
    for queue in queues:
        for size in range(1, len(labels) + 1):
            out += [routed_queue(queue, subset) for subset in combinations(labels, size)]
    return list(dict.fromkeys(out))


def covers(has: Collection[str], required: Iterable[str]) -> bool:
    """Whether capabilities ``has`` cover every label of ``required`` (an empty requirement: always)."""
    return set(required) <= set(has)
