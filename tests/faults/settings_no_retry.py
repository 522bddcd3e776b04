"""The fault settings for a worker that must not reconnect: Celery stops it when its broker goes away."""

from __future__ import annotations

from tests.faults.settings import *  # noqa: F403

CELERY_BROKER_CONNECTION_RETRY = False
