"""Demo settings. DATABASE_URL and CELERY_BROKER_URL choose real servers; unset, SQLite and a
filesystem broker (kombu's, which works across processes on one machine) need no server at all.

They need nothing beyond the README's install (``pip install ".[postgres,redis]"``): the database URL is
read here rather than with dj-database-url."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("WEFT_DEMO_DATA", BASE_DIR / "demo_data"))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_filters",  # the API's list filters (its browsable form needs the templates)
    "django_celery_beat",
    "weft_django",
    "demo_project.demo",
]
# Swagger UI and Redoc at /api/weft/docs/ and /redoc/, served offline, when drf-spectacular-sidecar is
# installed (the "docs" extra: pip install "weft_django[docs]").
if importlib.util.find_spec("drf_spectacular_sidecar"):
    INSTALLED_APPS.insert(INSTALLED_APPS.index("drf_spectacular") + 1, "drf_spectacular_sidecar")
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "demo_project.urls"
# weft's HTTP API describes itself with drf-spectacular (api/weft/schema/; weft.W040).
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [BASE_DIR / "templates"],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
STATIC_URL = "static/"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def database_from_url(url: str) -> dict[str, Any]:
    """A DATABASES entry from ``postgres://user:password@host:port/name`` or ``sqlite:///file`` (relative) /
    ``sqlite:////absolute/file``, read as dj-database-url reads them."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": unquote(parts.path[1:]), "CONN_MAX_AGE": None}
    if parts.scheme in ("postgres", "postgresql"):
        return {"ENGINE": "django.db.backends.postgresql", "NAME": unquote(parts.path.lstrip("/")),
                "USER": unquote(parts.username or ""), "PASSWORD": unquote(parts.password or ""),
                "HOST": parts.hostname or "", "PORT": str(parts.port or ""), "CONN_MAX_AGE": None}
    raise ValueError(f"DATABASE_URL: unsupported scheme {parts.scheme!r} (use postgres:// or sqlite:///)")


DATABASES: dict[str, Any] = {
    "default": database_from_url(os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}")),
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATA_DIR.mkdir(parents=True, exist_ok=True)  # SQLite creates its file, not the folder
    # Workers and the web process write concurrently; wait for the lock instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE",
                                       "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _queue_dir = DATA_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir), "data_folder_out": str(_queue_dir),
        "processed_folder": str(DATA_DIR / "broker-processed"), "store_processed": False,
        # kombu's default is "control" relative to the working directory.
        "control_folder": str(DATA_DIR / "broker-control"),
    }
    # kombu's filesystem transport lists these folders but never creates them.
    for _folder in (_queue_dir, DATA_DIR / "broker-processed", DATA_DIR / "broker-control"):
        _folder.mkdir(parents=True, exist_ok=True)
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# On RabbitMQ, queues with x-max-priority, so weft's priorities count (weft.W032); Redis ignores it.
CELERY_TASK_QUEUE_MAX_PRIORITY = 10
# Celery's Django fixup would otherwise close the database connection around every task.
CELERY_DB_REUSE_MAX = 1000
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

WEFT_LEASE_SECONDS = float(os.environ.get("WEFT_LEASE_SECONDS", 30))
WEFT_HEARTBEAT_INTERVAL = float(os.environ.get("WEFT_HEARTBEAT_INTERVAL", 10))
WEFT_SWEEP_INTERVAL = float(os.environ.get("WEFT_SWEEP_INTERVAL", 15))
# The agent examples (demo/agent_skills.py) ask a model: offline, the fake OpenAI-compatible server that
# scripts/demo.sh starts on 127.0.0.1 (python -m weft_django.fake_model --script demo_project/fake_model.json).
# For a real provider, point base_url elsewhere (or drop it) and set OPENAI_API_KEY in the environment.
# Only with the SDK installed (`pip install "weft-django[llm]"`; scripts/demo.sh's venv has it): a project
# installed without it runs every other example, and check (weft.E081) would refuse a provider it cannot load.
if importlib.util.find_spec("openai") is not None:
    WEFT_LLM = {"provider": "openai", "model": "demo-fake", "api_key_env": "WEFT_DEMO_LLM_KEY",
                "base_url": os.environ.get("WEFT_DEMO_LLM_URL", "http://127.0.0.1:8765/v1"),
                "prices": {"demo-fake": {"input": 0.15, "output": 0.60}}, "backoff": 0.2, "max_retries": 3}

# Django's Tasks framework (django.tasks on Django 6, the django-tasks backport on 5.2): the demo's @task
# functions (demo/framework_tasks.py) run on weft. This one setting switches them to the framework's database backend
# (django-tasks-db, whose worker is `manage.py db_worker`): WEFT_DEMO_TASKS_BACKEND=database.
TASKS_BACKENDS = {"weft": "weft_django.backends.WeftBackend", "database": "django_tasks_db.DatabaseBackend"}
TASKS: dict[str, dict[str, Any]] = {"default": {
    "BACKEND": TASKS_BACKENDS[os.environ.get("WEFT_DEMO_TASKS_BACKEND", "weft")], "QUEUES": ["default", "reports"]}}
if TASKS["default"]["BACKEND"].startswith("django_tasks_db."):
    INSTALLED_APPS.append("django_tasks_db")
