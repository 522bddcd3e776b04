"""(b) Celery + django-celery-results (result_backend="django-db"), persistent connections."""

from __future__ import annotations

import os

from celery import Celery

from bench import sidechannel, sqlcount

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_b")
sqlcount.install()

app = Celery("bench_b")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_default_queue = "bench"


@app.task(name="bench.noop")
def noop(stamp: bool = False, target: int = 0) -> None:
    sidechannel.body(stamp, target)
