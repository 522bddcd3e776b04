"""Shared fixtures: test tiers, real Celery worker subprocesses (reused), broker purging, polling with a deadline.

A test's tier is the folder it sits in, right under tests/ (TIERS below); pytest gets the tier's marker
from the folder, so ``-m db`` and ``tests/db`` select the same tests. A file lives in the folder of the
heaviest thing any of its tests needs, and collection fails when a test needs more than its folder says.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import suppress
from itertools import count
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
# Folder under tests/ -> what its tests may use. Each is also a pytest marker (pyproject.toml).
TIERS = {
    "unit": "no database, no broker, no worker",
    "db": "PostgreSQL (and the broker), no worker process",
    "workers": "real Celery worker subprocesses",
    "faults": "workers and servers that get killed or restarted (private Redis/PostgreSQL)",
    "browser": "Chromium driven by Playwright against a live server",
    "install": "a fresh venv built from this tree",
}
TIERS_WITH_WORKERS = frozenset({"workers", "faults", "browser", "install"})
WORKER_FIXTURES = frozenset({"worker", "worker_factory", "procs"})
DB_FIXTURES = frozenset({"db", "transactional_db", "django_db_setup", "live_server", "client", "admin_client",
                         "admin_user", "django_user_model"})

# No per-example deadline or too_slow health check on a shared, busy 2-core machine: correctness, not
# speed, is what the properties check. Loaded here so that every tier runs them the same way.
hypothesis_settings.register_profile(
    "weft", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True,
)
hypothesis_settings.load_profile("weft")
READY_TIMEOUT = 60.0  # a cold worker imports Django and Celery on a busy 2-core machine
STOP_TIMEOUT = 10.0
_names = count(1)
_live: list[WorkerProcess] = []
_started: list[WorkerProcess] = []  # every worker of this run, for the logs of a failed test
_log_dir: list[Path] = []


def log_dir() -> Path:
    """One temporary folder per pytest run for worker logs (kept, so a failure can be read afterwards)."""
    if not _log_dir:
        _log_dir.append(Path(tempfile.mkdtemp(prefix="weft-test-workers-")))
    return _log_dir[0]


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.05, message: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {message or predicate!r}")
        time.sleep(interval)


class WorkerProcess:
    """A ``celery worker`` subprocess in its own process group, with its log in a file."""

    def __init__(self, argv: list[str], env: Mapping[str, str], name: str, cwd: Path = ROOT) -> None:
        _require_worker_tier()
        self.name = name
        self.log_path = log_dir() / f"{name}.log"
        with self.log_path.open("wb") as log:
            # Own session: stop/kill reach the pool children without touching the pytest process.
            self.proc = subprocess.Popen(argv, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        _live.append(self)
        _started.append(self)
        self.key: tuple[Any, ...] | None = None  # set when the pool may hand this worker to a later test
        self.signalled = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def descendants(self) -> list[psutil.Process]:
        """Pool children and anything they started (command skills run in their own sessions)."""
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return []

    def pool_pids(self) -> set[int]:
        try:
            return {p.pid for p in psutil.Process(self.pid).children()}
        except psutil.Error:
            return set()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        def ready() -> bool:
            if not self.alive():
                pytest.fail(f"worker {self.name} exited with {self.proc.returncode}:\n{self.log_text()[-4000:]}")
            return " ready." in self.log_text()

        wait_for(ready, timeout, 0.1, f"worker {self.name} to be ready (log: {self.log_path})")

    def send_signal(self, sig: int) -> None:
        """Signal the worker's main process only (SIGTERM: warm shutdown, SIGQUIT: cold, ...)."""
        self.signalled = True
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL the worker, its pool and their children at once: a crash, no chance to clean up."""
        victims = self.descendants()
        if self.alive():
            victims.insert(0, psutil.Process(self.pid))
        self._kill_all(victims)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL whatever is left after ``timeout`` seconds."""
        victims = self.descendants()  # before the main process exits and its children get orphaned
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        if self.alive():
            victims.insert(0, psutil.Process(self.pid))
        self._kill_all(victims + self.descendants())

    def _kill_all(self, victims: list[psutil.Process]) -> None:
        for p in victims:
            with suppress(psutil.Error):  # psutil refuses a pid that was reused meanwhile
                p.kill()
        self.proc.wait(STOP_TIMEOUT)
        psutil.wait_procs(victims, timeout=STOP_TIMEOUT)
        self._forget()

    def _forget(self) -> None:
        if self in _live:
            _live.remove(self)


def worker_env(base: Mapping[str, str] | None = None, **overrides: str) -> dict[str, str]:
    """The environment of a test worker: ours, pointed at the pytest-django test database."""
    from django.db import connection

    env = dict(os.environ if base is None else base)
    env["PYTHONUNBUFFERED"] = "1"
    if base is None:
        env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
        env["WEFT_WORKER_DB_NAME"] = str(connection.settings_dict["NAME"])
    env.update(overrides)
    return env


def start_worker(*, app: str = "tests.celery_app", concurrency: int = 2, pool: str = "prefork",
                 queues: str = "weft", env: Mapping[str, str] | None = None, wait: bool = True,
                 cwd: Path = ROOT, **env_overrides: str) -> WorkerProcess:
    """Start a real ``celery worker`` subprocess and (by default) wait until it is ready.

    ``env`` replaces the inherited environment (the demo-stack test uses it); ``env_overrides``
    (``WEFT_LEASE_SECONDS="2"``, ...) are applied on top. Call after ``django_db_setup``.
    """
    STARTS["cold"] += 1
    name = f"w{next(_names)}-{os.getpid()}"
    argv = [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queues, "-c", str(concurrency),
            "-P", pool, "-l", "info", "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
            "--without-heartbeat"]
    w = WorkerProcess(argv, worker_env(env, **env_overrides), name, cwd)
    if wait:
        try:
            w.wait_ready()
        except BaseException:
            w.stop(timeout=0)
            raise
    return w


class WorkerPool:
    """Workers that outlive the test that started them, for the next test that asks for the same ones.

    A cold worker takes seconds to import Django and Celery; most tests only need one to be running.
    A test gets a worker of the same configuration (``start_worker``'s arguments, environment included)
    if one is idle, else a new one. When the test ends, its worker goes back to the pool only if it is
    exactly as the test found it: alive, never signalled, stopped or killed through ``WorkerProcess``,
    the same pool processes (none killed or replaced), none of them stopped (SIGSTOP), and with no
    message delivered and not yet acknowledged (weft acks late: a task still running). Anything else is
    stopped, as every worker was before. Tests that need the broker to themselves (``procs``) call ``drain``.
    """

    def __init__(self) -> None:
        self.idle: list[WorkerProcess] = []
        self.pool_pids: dict[int, set[int]] = {}

    def acquire(self, **kwargs: Any) -> WorkerProcess:
        env = kwargs.get("env")
        key = (tuple(sorted((k, v) for k, v in kwargs.items() if k != "env")),
               None if env is None else tuple(sorted(env.items())))
        for w in self.idle:
            if w.key == key and w.alive():
                self.idle.remove(w)
                STARTS["reused"] += 1
                break
        else:
            w = start_worker(**kwargs)
            w.key = key
        self.pool_pids[w.pid] = w.pool_pids()
        return w

    def release(self, w: WorkerProcess) -> None:
        """End of the test that used ``w``: keep it for the next one if it is as the test found it."""
        if w.key is not None and w.alive() and not w.signalled and self._untouched(w) and not _unacked():
            self.idle.append(w)
        else:
            w.stop()

    def _untouched(self, w: WorkerProcess) -> bool:
        if w.pool_pids() != self.pool_pids.get(w.pid):
            return False
        try:
            return all(p.status() != psutil.STATUS_STOPPED for p in w.descendants())
        except psutil.Error:
            return False

    def drain(self) -> None:
        """Stop every idle worker: the test that follows needs the broker to itself."""
        while self.idle:
            self.idle.pop().stop()


POOL = WorkerPool()
STARTS = {"cold": 0, "reused": 0}


def _unacked() -> int:
    """Messages delivered to a worker and not yet acknowledged (0 when the broker is not Redis)."""
    import redis
    from django.conf import settings

    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        return 0
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        return int(client.hlen("unacked"))
    finally:
        client.close()


@pytest.fixture(scope="session")
def _worker_pool(django_db_setup: None) -> Iterator[WorkerPool]:
    """The pool of this run; its workers stop before the test database is dropped."""
    yield POOL
    POOL.drain()


@pytest.fixture
def worker(_worker_pool: WorkerPool) -> Iterator[WorkerProcess]:
    """A ready worker (``-c 2``) for this test, reused from an earlier test when one is idle."""
    w = _worker_pool.acquire()
    yield w
    _worker_pool.release(w)


@pytest.fixture
def worker_factory(_worker_pool: WorkerPool) -> Iterator[Callable[..., WorkerProcess]]:
    """``start_worker`` for one test (idle workers of the same arguments are reused); released at its end."""
    started: list[WorkerProcess] = []

    def factory(**kwargs: Any) -> WorkerProcess:
        w = _worker_pool.acquire(**kwargs)
        started.append(w)
        return w

    yield factory
    for w in started:
        _worker_pool.release(w)


# The kombu Redis transport keeps a queue as one list per priority band ("weft", "weft\x06\x163", ...)
# and messages delivered but not acked in "unacked"/"unacked_index".
PRIORITY_SEP = "\x06\x16"


def purge_broker(queues: tuple[str, ...] = ("weft",)) -> None:
    """Drop every message of our own test broker database (never FLUSHDB: bindings must stay)."""
    import redis
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        return
    client = redis.Redis.from_url(url)
    try:
        keys = [*queues, *(f"{q}{PRIORITY_SEP}{p}" for q in queues for p in range(10)), "unacked", "unacked_index"]
        client.delete(*keys)
    finally:
        client.close()


def broker_backlog(queue: str = "weft") -> int:
    """Messages waiting in ``queue`` plus messages delivered to a worker and not yet acked."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        waiting = sum(int(client.llen(k)) for k in [queue, *(f"{queue}{PRIORITY_SEP}{p}" for p in range(10))])
        return waiting + int(client.hlen("unacked"))
    finally:
        client.close()


@pytest.fixture(autouse=True)
def _purge_broker_for_integration(request: pytest.FixtureRequest) -> None:
    """A message left over by one test with workers must not run in the next one."""
    if _with_workers(request.node):
        purge_broker()


def tier_of(item: pytest.Item) -> str | None:
    """The tier folder ``item`` sits in (the first folder under tests/), or None."""
    try:
        parts = Path(str(item.path)).resolve().relative_to(TESTS).parts
    except ValueError:
        return None
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else None


def _with_workers(item: pytest.Item) -> bool:
    return tier_of(item) in TIERS_WITH_WORKERS or item.get_closest_marker("integration") is not None


def _tier_error(item: pytest.Item) -> str | None:
    """Why ``item`` is in the wrong folder for what it uses, or None."""
    tier = tier_of(item)
    if tier is None:
        return f"is in no tier folder: move its file to tests/<tier>/, one of {', '.join(TIERS)}"
    fixtures = set(getattr(item, "fixturenames", ()))
    uses_db = item.get_closest_marker("django_db") is not None or bool(fixtures & DB_FIXTURES)
    uses_workers = bool(fixtures & WORKER_FIXTURES)
    if tier == "unit" and (uses_db or uses_workers):
        return "uses the database (django_db or a database fixture): its file belongs in tests/db/ (or heavier)"
    if tier not in TIERS_WITH_WORKERS and uses_workers:
        return (f"uses {', '.join(sorted(fixtures & WORKER_FIXTURES))} (real worker processes): its file belongs in "
                "tests/workers/ (or tests/faults/)")
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its folder's tier; a test in a folder too light for what it uses fails collection."""
    errors = []
    for item in items:
        tier = tier_of(item)
        if tier is not None:
            item.add_marker(getattr(pytest.mark, tier))
        error = _tier_error(item)
        if error:
            errors.append(f"{item.nodeid} {error}")
    if errors:
        raise pytest.UsageError("tests in the wrong tier folder (tests/conftest.py, TIERS):\n  " + "\n  ".join(errors))


_running: list[pytest.Item] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    _running[:] = [item]
    try:
        return (yield)
    finally:
        _running.clear()


def _require_worker_tier() -> None:
    """A worker process started by a test whose folder says it needs none (the fixtures are checked at collection;
    this catches ``start_worker``/``WorkerProcess`` called directly)."""
    if _running and not _with_workers(_running[0]):
        pytest.fail(f"{_running[0].nodeid} starts a worker process but its tier is {tier_of(_running[0])}: "
                    "move its file to tests/workers/")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if STARTS["cold"] or STARTS["reused"]:
        terminalreporter.write_line(f"worker processes: {STARTS['cold']} started cold, {STARTS['reused']} reused from "
                                    "an earlier test")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None],
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and _with_workers(item):
        # Workers alive now or that logged during this phase (a test may have stopped its own already).
        for w in _started:
            if w in _live or w.log_path.stat().st_mtime >= call.start:
                report.sections.append((f"worker {w.name} log (tail, {w.log_path})", w.log_text()[-6000:]))
    return report


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """Skills registered by a test vanish after it, so listings elsewhere see only the real ones."""
    from weft_django import registry

    registry.autodiscover()  # first, or the restore below would drop skills discovered during the test
    before = dict(registry._skills)  # every version under "name@version", the newest also under "name"
    yield
    with registry._lock:
        registry._skills.clear()
        registry._skills.update(before)
