"""(d) weft_django: the app, its beat dependency and the bench skill (bench/skills.py)."""

from __future__ import annotations

import os

from bench.settings_base import *  # noqa: F403

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_celery_beat",
    "weft_django",
    "bench",
]
CELERY_TASK_IGNORE_RESULT = True
# weft's execute task acks late; its system check (weft.W030) asks for prefetch 1.
CELERY_WORKER_PREFETCH_MULTIPLIER = int(os.environ.get("BENCH_WEFT_PREFETCH", "1"))
WEFT_CELERY_APP = "bench.celery_d:app"
# bench/run.py --weft-batch-size N sets BENCH_WEFT_BATCH_SIZE: WEFT_BATCH_SIZE of the workers and the producer
# (unset: weft's own default; 1 turns batched execution off).
if os.environ.get("BENCH_WEFT_BATCH_SIZE"):
    WEFT_BATCH_SIZE = int(os.environ["BENCH_WEFT_BATCH_SIZE"])
