"""Shared fixtures: real Celery worker subprocesses, broker purging, and polling with a deadline."""

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

ROOT = Path(__file__).resolve().parent.parent
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
        self.name = name
        self.log_path = log_dir() / f"{name}.log"
        with self.log_path.open("wb") as log:
            # Own session: stop/kill reach the pool children without touching the pytest process.
            self.proc = subprocess.Popen(argv, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        _live.append(self)
        _started.append(self)

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


@pytest.fixture(scope="session")
def worker(django_db_setup: None) -> Iterator[WorkerProcess]:
    """One worker for the session (``-c 2``), stopped before the test database is dropped."""
    w = start_worker()
    yield w
    w.stop()


@pytest.fixture
def worker_factory(django_db_setup: None) -> Iterator[Callable[..., WorkerProcess]]:
    """``start_worker`` for one test; every worker it started is stopped at the end of the test."""
    started: list[WorkerProcess] = []

    def factory(**kwargs: Any) -> WorkerProcess:
        w = start_worker(**kwargs)
        started.append(w)
        return w

    yield factory
    for w in started:
        w.stop()


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
    """A message left over by one integration test must not run in the next one."""
    if request.node.get_closest_marker("integration") is not None:
        purge_broker()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None],
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and item.get_closest_marker("integration") is not None:
        # Workers alive now or that logged during this phase (a test may have stopped its own already).
        for w in _started:
            if w in _live or w.log_path.stat().st_mtime >= call.start:
                report.sections.append((f"worker {w.name} log (tail, {w.log_path})", w.log_text()[-6000:]))
    return report
