"""The Celery app the integration tests' workers run."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

app = Celery("weft_tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["weft_django"])
