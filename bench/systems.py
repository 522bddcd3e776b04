"""The four systems as the producer sees them: how to enqueue one no-op task and how to see it done.

Each adapter is imported only in the producer process of its own system (one Django settings module
per process). ``finished`` and ``is_done`` read the system's own record of completion (result or job
rows for (b), (c) and (d); (a) keeps none, the Redis counter is all there is). ``finished`` is polled
at the end of a throughput run, so it must stay cheap as the table grows: it asks an index whether
anything is still open rather than counting what is done.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol


class System(Protocol):
    name: str
    database: str | None

    def enqueue(self, stamp: bool, target: int) -> Any: ...

    def finished(self, enqueued: int) -> bool:
        """Has every one of the ``enqueued`` tasks sent so far been recorded as done?"""

    def is_done(self, handle: Any) -> bool: ...


@dataclass(frozen=True)
class Spec:
    """How run.py starts one system: settings, database, and the worker command lines."""

    name: str
    title: str
    settings: str | None
    database: str | None
    workers: list[list[str]]


def specs(python: str, prefork: int = 2, db_suffix: str = "") -> dict[str, Spec]:
    celery = [python, "-m", "celery"]
    common = ["worker", "-c", str(prefork), "-P", "prefork", "--without-gossip", "--without-mingle",
              "--without-heartbeat", "-l", "warning"]
    return {
        "a": Spec("a", "plain Celery (no result backend)", None, None,
                  [[*celery, "-A", "bench.celery_a", *common, "-Q", "bench", "-n", "bench-a@%h"]]),
        "b": Spec("b", "Celery + django-celery-results", "bench.settings_b", f"bench_b{db_suffix}",
                  [[*celery, "-A", "bench.celery_b", *common, "-Q", "bench", "-n", "bench-b@%h"]]),
        # Two processes of concurrency 1 each: two workers that can each run one task at a time, as
        # Celery's two pool processes do.
        "c": Spec("c", "procrastinate (Django integration)", "bench.settings_c", f"bench_c{db_suffix}",
                  [[python, "-m", "bench.procrastinate_worker", "1"] for _ in range(prefork)]),
        "d": Spec("d", "weft_django", "bench.settings_d", f"bench_d{db_suffix}",
                  [[*celery, "-A", "bench.celery_d", *common, "-Q", "weft", "-n", "bench-d@%h"]]),
        # The same workers; the producer groups its publishes (WEFT_SUBMIT_GROUP_MS, bench/settings_e.py).
        "e": Spec("e", "weft_django, submits grouped", "bench.settings_e", f"bench_e{db_suffix}",
                  [[*celery, "-A", "bench.celery_d", *common, "-Q", "weft", "-n", "bench-e@%h"]]),
    }


class PlainCelery:
    name = "a"
    database: str | None = None

    def __init__(self) -> None:
        from bench.celery_a import noop

        self.task = noop

    def enqueue(self, stamp: bool, target: int) -> Any:
        return self.task.apply_async(kwargs={"stamp": stamp, "target": target})

    def finished(self, enqueued: int) -> bool:
        return True  # the caller has seen the Redis counter reach its target: that is all (a) records

    def is_done(self, handle: Any) -> bool:
        return True  # the caller has already seen the Redis counter move: that is all (a) records


class CeleryResults:
    name = "b"
    database: str | None = os.environ.get("BENCH_DB")

    def __init__(self) -> None:
        import django

        django.setup()
        from django_celery_results.models import TaskResult

        from bench.celery_b import noop

        self.task, self.model = noop, TaskResult

    def enqueue(self, stamp: bool, target: int) -> Any:
        return self.task.apply_async(kwargs={"stamp": stamp, "target": target}).id

    def finished(self, enqueued: int) -> bool:
        return bool(self.model.objects.filter(status="SUCCESS").count() >= enqueued)  # rows appear when done

    def is_done(self, handle: Any) -> bool:
        return bool(self.model.objects.filter(task_id=handle, status="SUCCESS").exists())


class Procrastinate:
    name = "c"
    database: str | None = os.environ.get("BENCH_DB")

    def __init__(self) -> None:
        import django

        django.setup()
        from procrastinate.contrib.django.models import ProcrastinateJob

        from bench.procrastinate_app import noop

        self.task: Any = noop
        self.model: Any = ProcrastinateJob

    def enqueue(self, stamp: bool, target: int) -> Any:
        return self.task.defer(stamp=stamp, target=target)

    def finished(self, enqueued: int) -> bool:
        return not self.model.objects.filter(status__in=("todo", "doing")).exists()  # a partial index

    def is_done(self, handle: Any) -> bool:
        return bool(self.model.objects.filter(id=handle, status="succeeded").exists())


class Weft:
    name = "d"
    database: str | None = os.environ.get("BENCH_DB")

    def __init__(self) -> None:
        import django

        django.setup()
        import bench.celery_d  # noqa: F401  (the app dispatch publishes through)
        import weft_django
        from weft_django.models import Job

        self.submit, self.model = weft_django.submit, Job

    def enqueue(self, stamp: bool, target: int) -> Any:
        return self.submit("bench.noop", {"stamp": stamp, "target": target}).pk

    def finished(self, enqueued: int) -> bool:
        return not self.model.objects.filter(status="running").exists()  # weft_job_running_deadline_idx

    def is_done(self, handle: Any) -> bool:
        return bool(self.model.objects.filter(pk=handle, status="succeeded").exists())


class WeftGrouped(Weft):
    name = "e"


def load(name: str) -> System:
    factories: dict[str, type[System]] = {"a": PlainCelery, "b": CeleryResults, "c": Procrastinate, "d": Weft,
                                          "e": WeftGrouped}
    return factories[name]()
