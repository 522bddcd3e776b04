"""Test settings: PostgreSQL and Redis on loopback by default (WEFT_TEST_DATABASE_URL, WEFT_TEST_BROKER_URL)."""

from __future__ import annotations

import os

import dj_database_url

from demo_project.settings import *  # noqa: F403
from demo_project.settings import INSTALLED_APPS

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("WEFT_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/weft"), conn_max_age=None,
    )
}
# A worker subprocess started by the tests connects straight to the test database.
if os.environ.get("WEFT_WORKER_DB_NAME"):
    DATABASES["default"]["NAME"] = os.environ["WEFT_WORKER_DB_NAME"]

CELERY_BROKER_URL = os.environ.get("WEFT_TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
# The RabbitMQ tests run their workers with WEFT_TEST_CELERY_APP=tests.celery_amqp:app, so that what a
# worker publishes itself (retries, the sweep, fan-out chunks) goes to the same broker.
WEFT_CELERY_APP = os.environ.get("WEFT_TEST_CELERY_APP", "tests.celery_app:app")
WEFT_DEFAULT_RETRY = {"max_attempts": 3, "backoff": 0.05, "factor": 2.0, "max_delay": 1.0}
WEFT_LEASE_SECONDS = float(os.environ.get("WEFT_LEASE_SECONDS", 30))
WEFT_HEARTBEAT_INTERVAL = float(os.environ.get("WEFT_HEARTBEAT_INTERVAL", 5))
# A subscription a test adds is seen by the pooled workers at once (notifications.py caches the list).
WEFT_NOTIFY_CACHE_SECONDS = 0.0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Django's Tasks framework on weft (tests/testapp/tasks.py): "default" is WEFT_DEFAULT_QUEUE.
TASKS = {"default": {
    "BACKEND": "weft_django.backends.WeftBackend", "QUEUES": ["default", "weft-other"], "OPTIONS": {"timeout": 60}}}
# The workers tests with a model (tests/workers/test_llm_loops.py) start a fake OpenAI-compatible server on
# 127.0.0.1 (weft_django.fake_model) and their worker with its address; never a real provider.
WEFT_LLM = {"provider": "openai", "model": "fake-1", "api_key": "sk-test-never-stored",
            "base_url": os.environ.get("WEFT_TEST_LLM_URL", "http://127.0.0.1:9/v1"),
            "prices": {"fake-1": {"input": 1.0, "output": 2.0}}, "backoff": 0.05, "max_retries": 2,
            "breaker_failures": 3, "breaker_reset": 2.0, "timeout": 10}
