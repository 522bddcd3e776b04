"""Django settings shared by the benchmark's systems (b), (c) and (d); each picks its own apps.

BENCH_DB names the database (bench_b ...), BENCH_PG_URL the server, BENCH_REDIS_URL the broker.
DEBUG stays off: with it on Django keeps every query in memory, which would skew CPU and RSS.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

_pg = urlsplit(os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432"))

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("BENCH_DB", "bench"),
        "USER": _pg.username or "postgres",
        "PASSWORD": _pg.password or "",
        "HOST": _pg.hostname or "127.0.0.1",
        "PORT": _pg.port or 5432,
        # Persistent connections: a worker keeps its connection for its whole life.
        "CONN_MAX_AGE": None,
        # BENCH_SERVER_SIDE_BINDING=1: psycopg binds parameters on the server and prepares a statement once
        # it has run 5 times (Django disables that unless prepare_threshold is given), instead of Django's
        # default client-side binding, where the server parses and plans every statement anew.
        "OPTIONS": ({"server_side_binding": True, "prepare_threshold": 5}
                    if os.environ.get("BENCH_SERVER_SIDE_BINDING") == "1" else {}),
    }
}
CELERY_BROKER_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
CELERY_WORKER_PREFETCH_MULTIPLIER = int(os.environ.get("BENCH_PREFETCH", "4"))
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes the database connection before and after every task unless this is
# set (it then closes it every 2 x this many tasks): without it each task opens a new connection.
CELERY_DB_REUSE_MAX = int(os.environ.get("BENCH_DB_REUSE_MAX", "1000000")) or None
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "root": {"level": "WARNING", "handlers": ["console"]},
           "handlers": {"console": {"class": "logging.StreamHandler"}}}
