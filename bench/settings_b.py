"""(b) Celery with django-celery-results storing every result in PostgreSQL."""

from __future__ import annotations

from bench.settings_base import *  # noqa: F403

INSTALLED_APPS = ["django_celery_results"]
CELERY_RESULT_BACKEND = "django-db"
CELERY_TASK_IGNORE_RESULT = False
