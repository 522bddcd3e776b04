"""One typed settings object: ``conf.settings.X`` reads ``settings.WEFT_X`` live, else the default here."""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed


class Settings:
    DEFAULT_QUEUE: str = "weft"
    """Celery queue for skills that name none."""
    DEFAULT_PRIORITY: int = 5
    """Priority 0 (first) to 9 (last) for skills that name none."""
    DEFAULT_RETRY: dict[str, Any] = {"max_attempts": 3, "backoff": 1.0, "factor": 2.0, "max_delay": 300.0}
    """Retry policy for skills that name none (see RetryPolicy)."""
    DEFAULT_TIMEOUT: float | None = 3600.0
    """Seconds an attempt may run when neither skill nor task sets a timeout."""
    MAX_TIMEOUT: float = 86400.0
    """Ceiling on any timeout a skill or a submission asks for."""
    LIMIT_CEILINGS: dict[str, float] = {
        "memory_mb": 16384,
        "cpu_seconds": 86400,
        "cpu_percent": 800,
        "wall_seconds": 86400,
        "open_files": 65536,
    }
    """Ceilings that no skill or task limit may exceed."""
    LIMIT_POLICY: dict[str, str] = {}
    """Per-limit override of what to do when it is hit: "retry" or "fail"."""
    LEASE_SECONDS: float = 30.0
    """How long a claim holds before the sweep may recover the task."""
    HEARTBEAT_INTERVAL: float = 10.0
    """How often a running attempt renews its lease; at most a third of LEASE_SECONDS."""
    SWEEP_INTERVAL: float = 15.0
    """How often the beat sweep runs."""
    REDISPATCH_AFTER: float = 60.0
    """Seconds a queued task may go unclaimed before the sweep sends it again."""
    WORKER_OFFLINE_AFTER: float = 60.0
    """Seconds without a worker heartbeat before the worker is marked offline."""
    MONITOR_INTERVAL: float = 0.2
    """Seconds between samples of a running attempt (limits, cancel, lease)."""
    OUTPUT_LIMIT: int = 20000
    """Characters of stdout/stderr (each) kept on an attempt: the tail."""
    OUTPUT_FLUSH_SECONDS: float = 1.0
    """How often a running attempt's output so far is written to its row (live output); 0: as often as sampled."""
    AUTODISCOVER_MODULE: str = "skills"
    """Module of each installed app that registers skills."""
    SWEEP_QUEUE: str | None = None
    """Queue the beat sends the sweep to; default WEFT_DEFAULT_QUEUE (give it its own worker if tasks run long)."""
    SWEEP_BATCH: int = 1000
    """Most rows each step of one sweep handles; the next run takes the rest."""
    SWEEP_KEEP_RUNS: int = 1000
    """How many SweepRun rows (the sweep's own log) to keep."""
    INSTALL_SCHEDULE: bool = True
    """Create or update the django-celery-beat PeriodicTask "weft-sweep" after each migrate."""
    FAST_PATH: bool = True
    """On PostgreSQL, submit/claim/succeed lone tasks in one statement each (see lifecycle/pg.py)."""
    BATCH_SIZE: int = 20
    """Most tasks of one queue one Celery message carries when several are ready at once (a fan-out, a bulk
    job, a burst): the worker claims them in one statement and records their successes together. 1: off."""
    BATCH_FLUSH_MS: float = 20.0
    """Milliseconds a batched success waits for others before the worker's monitor records it (sooner when the
    chunk is done or WEFT_BATCH_SIZE are waiting); the monitor looks every WEFT_MONITOR_INTERVAL."""
    SUBMIT_GROUP_MS: float = 0.0
    """Milliseconds a busy producer's lone submissions may wait to be published together (one message for up to
    WEFT_BATCH_SIZE tasks, claimed and recorded as a chunk); a process not submitting back to back publishes at
    once. 0: off (grouping.py; docs/performance.md says what it costs in latency)."""
    PREPARED_STATEMENTS: bool = True
    """Run the fast path's statements as prepared statements (off behind a transaction-mode PgBouncer < 1.21)."""
    CELERY_APP: str | None = None
    """Dotted path to the project's Celery app ("proj.celery:app"); default: Celery's current app."""
    MAX_DEADLINE_DAYS: float = 366.0
    """Ceiling on a job's deadline, in days from its submission (a later one is refused)."""
    SUBMIT_MANY_MAX: int = 1000
    """Most submissions one POST /api/weft/jobs/bulk/ (service.submit_many_by) may carry; more is a 400."""
    MAX_RETRY_ATTEMPTS: int = 100
    """Ceiling on max_attempts of any retry policy (a skill's or a submission's)."""
    MIN_RETRY_BACKOFF: float = 0.05
    """Floor, in seconds, on backoff and max_delay of any retry policy: the shortest wait before a retry."""
    ALLOW_SELF_APPROVAL: bool = False
    """Let an approver approve or reject tasks of their own jobs (off: someone else must decide)."""
    MAX_RESULT_BYTES: int | None = 16 * 1024 * 1024
    """Largest result, and largest artifact, an attempt may store (bytes of UTF-8 JSON); None: no cap."""
    SKILL_LIMITS: dict[str, dict[str, Any]] = {}
    """Per skill name: ``{"concurrency": ..., "rate": ...}`` over what its code declares (docs/governance.md)."""
    QUEUE_CONCURRENCY: dict[str, int] = {}
    """Per queue: at most this many of its tasks running at once, across every worker."""
    QUEUES: list[str] | None = None
    """The queues your workers read; skills and submissions naming another are refused. None: any queue."""
    RETENTION: dict[str, float] | None = None
    """Days to keep finished jobs, by final status ({"succeeded": 30, "failed": 90}); weft_prune deletes older ones."""
    PRUNE_BATCH: int = 2000
    """Task rows weft_prune deletes per transaction (whole jobs; a larger job is deleted alone)."""
    NOTIFICATIONS: list[dict[str, Any]] | None = None
    """Subscriptions besides the admin's rows: [{"events": [...], "target": "https://..." or "mailto:...", ...}]."""
    NOTIFY_TIMEOUT: float = 10.0
    """Seconds a webhook delivery waits for its receiver before it counts as a failed (retried) attempt."""
    NOTIFY_CACHE_SECONDS: float = 5.0
    """Seconds a process reuses its list of subscriptions (a new one is seen within this time)."""
    METRICS_TOKEN: str | None = None
    """Bearer token the Prometheus view (weft_django.metrics.view) requires; None: it answers anyone."""
    LLM: dict[str, Any] | None = None
    """weft_django.llm: provider ("openai" or "anthropic"), model, base_url, api_key_env, prices (docs/agents.md)."""

    POLICIES: list[dict[str, Any]] = []
    """Policy rules (docs/governance.md), besides those of WEFT_POLICY_FILE and the Policy rows of the admin."""
    POLICY_FILE: str | None = None
    """Path of a YAML file of policy rules (a list, or a mapping with the list under "policies")."""
    POLICY_CACHE_SECONDS: float = 5.0
    """How long a process keeps the rules it read (the file and the Policy rows) before reading them again."""

    def __getattribute__(self, name: str) -> Any:
        if name.isupper():
            # Resolved once per settings object: a worker reads a few of these per task, and an unset
            # WEFT_X costs an AttributeError inside Django's LazySettings on every read.
            # override_settings and pytest-django's settings fixture install a new settings object (and send
            # setting_changed), so a changed setting is still seen at once. The (source, values) pair is
            # replaced whole, so a thread still filling the old dict never writes into the new one.
            global _cache
            src = source()
            cached, values = _cache
            if cached is not src:
                values = {}
                _cache = (src, values)
            try:
                return values[name]
            except KeyError:
                value = values[name] = getattr(django_settings, f"WEFT_{name}", super().__getattribute__(name))
                return value
        return super().__getattribute__(name)


MAX_SECONDS = 10**9  # about 31 years: past any interval anyone sets, and within what time.sleep takes


def usable_seconds(value: Any) -> bool:
    """Whether ``value`` is a number of seconds above 0 that ``time.sleep`` takes (a bool is no number here;
    NaN and infinity are not usable)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= MAX_SECONDS


def seconds(name: str) -> float:
    """WEFT_<name> (a number of seconds) if usable, else its default: the threads that renew leases and mark
    workers alive read it live, and must not die over a value the checks already report (weft.E002-E007)."""
    value = getattr(settings, name)
    return float(value) if usable_seconds(value) else float(getattr(Settings, name))


def source() -> object:
    """The Django settings object in force now; caches of values derived from settings compare it."""
    return django_settings._wrapped  # type: ignore[misc]  # LazySettings, which the stubs type as Settings


_cache: tuple[object, dict[str, Any]] = (None, {})


def _forget(**kwargs: Any) -> None:
    global _cache
    _cache = (None, {})


setting_changed.connect(_forget, dispatch_uid="weft_conf_forget")

settings = Settings()
