"""Fault-test machinery: private Redis and PostgreSQL servers to restart, the sweep loop, and the checker.

Servers that a test restarts are always private (started here, on a free port, stopped at the end):
other test runs share the machine's own PostgreSQL and Redis and must never see them go away.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, cast

import dj_database_url
import psutil

from tests.conftest import WorkerProcess, log_dir, start_worker, wait_for, worker_env
from weft_django.models import Attempt, Task
from weft_django.states import FINAL_TASK_STATES

LEASE = 3.0
HEARTBEAT = 1.0
SWEEP = 1.0
REDISPATCH = 5.0
# Everything a worker or the sweep loop of a fault test needs to differ from the ordinary test settings.
FAULT_ENV = {
    "DJANGO_SETTINGS_MODULE": "tests.faults.settings",
    "WEFT_LEASE_SECONDS": str(LEASE),
    "WEFT_HEARTBEAT_INTERVAL": str(HEARTBEAT),
    "WEFT_SWEEP_INTERVAL": str(SWEEP),
    "WEFT_REDISPATCH_AFTER": str(REDISPATCH),
    "WEFT_WORKER_OFFLINE_AFTER": "5",
}
# Seconds on top of lease + sweep interval that a recovery may take on a busy 2-core machine: the sweep
# run itself, publishing, the worker receiving the message, and the claim. Generous but bounded.
MARGIN = 4.0
PG_BIN = Path("/usr/lib/postgresql/15/bin")

MEASURED: dict[str, Any] = {}


def measure(name: str, value: Any) -> None:
    """Keep a number for the end-of-run summary (and print it, for ``-s``)."""
    MEASURED[name] = value
    print(f"[measured] {name}: {value}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_ready_at: dict[int, float] = {}


def fault_worker(**env: str) -> WorkerProcess:
    """A real ``celery worker`` (prefork) with the fault settings: lease 3 s, heartbeat 1 s."""
    concurrency = int(env.pop("concurrency", "2"))
    return note_ready(start_worker(concurrency=concurrency, env=worker_env(None, **{**FAULT_ENV, **env})))


def note_ready(w: WorkerProcess) -> WorkerProcess:
    """Remember when ``w`` became ready (for ``warm_up``)."""
    _ready_at[w.pid] = time.monotonic()
    return w


def warm_up(w: WorkerProcess, seconds: float = 2.0) -> None:
    """Let a new worker settle before a test kills one of its pool processes.

    Measured with Celery 5.7: Celery notices a dead pool process either at once (its exit sentinel) or
    on its 5 s pool maintenance timer, and a pool process that died in the first instant after the
    worker said "ready" always waits for the timer. Tests that time how fast a dead pool process is
    noticed (weft's and plain Celery's alike) start from a settled worker.
    """
    time.sleep(max(0.0, _ready_at.get(w.pid, 0.0) + seconds - time.monotonic()))


def start_sweeper(**env: str) -> WorkerProcess:
    """``manage.py weft_sweep --loop`` every second, in its own process (a beat-less, worker-less sweep)."""
    argv = [sys.executable, "-m", "django", "weft_sweep", "--loop", "--interval", str(SWEEP)]
    name = f"sweep-{free_port()}"
    return WorkerProcess(argv, worker_env(None, **{**FAULT_ENV, **env}), name)


def kill_pid(pid: int, sig: int = signal.SIGKILL) -> float:
    """Send ``sig``; return the time it was sent (epoch seconds, comparable with the database's now())."""
    os.kill(pid, sig)
    return time.time()


# ---------------------------------------------------------------- reading the outcome


def attempts_of(task_id: int) -> list[Attempt]:
    return list(Attempt.objects.filter(task_id=task_id).order_by("number"))


def running_attempt(task_id: int, number: int = 1, timeout: float = 60.0) -> Attempt:
    """Wait until attempt ``number`` of the task is running (its pid is the pool process that runs it)."""
    return wait_for(lambda: Attempt.objects.filter(task_id=task_id, number=number, outcome="running").first(),
                    timeout, 0.05, f"attempt {number} of task {task_id} to start")


def all_final(task_ids: Iterable[int]) -> bool:
    ids = list(task_ids)
    return Task.objects.filter(pk__in=ids, status__in=FINAL_TASK_STATES).count() == len(ids)


def check_history(task_ids: Iterable[int]) -> Counter[str]:
    """The checker: every task final, no attempt left open, and at most one success per task.

    Returns the attempt outcomes counted over all the tasks.
    """
    ids = list(task_ids)
    states = Counter(Task.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert sum(states[s] for s in FINAL_TASK_STATES) == len(ids), f"tasks not final: {states}"
    outcomes: Counter[str] = Counter()
    succeeded_by_task: Counter[int] = Counter()
    for task_id, outcome in Attempt.objects.filter(task_id__in=ids).values_list("task_id", "outcome"):
        outcomes[outcome] += 1
        if outcome == "succeeded":
            succeeded_by_task[task_id] += 1
    assert outcomes["running"] == 0, f"attempts left running: {outcomes}"
    twice = {t: n for t, n in succeeded_by_task.items() if n > 1}
    assert not twice, f"tasks that succeeded more than once: {twice}"
    succeeded = set(Task.objects.filter(pk__in=ids, status="succeeded").values_list("pk", flat=True))
    assert succeeded == set(succeeded_by_task), "a succeeded task without exactly one succeeded attempt"
    return outcomes


# ---------------------------------------------------------------- private servers


class RabbitServer:
    """A throw-away RabbitMQ node of its own (node name, ports, data folder) that a test may crash and start again.

    Its queues are durable and Celery's messages persistent, so a crash loses only what RabbitMQ had not
    written yet; the sweep re-sends those.
    """

    def __init__(self) -> None:
        self.port, self.dist_port = free_port(), free_port()
        self.node = f"weft{self.port}@localhost"
        self.dir = Path(tempfile.mkdtemp(prefix="weft-rabbit-"))  # not under log_dir(): rabbitmq must reach it
        if os.geteuid() == 0:  # rabbitmq-server run as root drops to the rabbitmq user, which must own it
            shutil.chown(self.dir, "rabbitmq", "rabbitmq")
        self.start()

    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict[str, str]:
        return {**os.environ, "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"), "RABBITMQ_LOG_BASE": str(self.dir / "log"),
                "RABBITMQ_PID_FILE": str(self.dir / "pid"), "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "plugins"),
                "RABBITMQ_CONFIG_FILE": str(self.dir / "none"), "ERL_EPMD_ADDRESS": "127.0.0.1"}

    def start(self) -> None:
        subprocess.run(["rabbitmq-server", "-detached"], env=self._env(), check=True, capture_output=True, timeout=60)
        wait_for(self.answers, 60, 0.2, f"rabbitmq node {self.node}")

    def answers(self) -> bool:
        import kombu

        try:
            with kombu.Connection(self.url(), connect_timeout=2) as conn:
                conn.connect()
            return True
        except Exception:
            return False

    def pid(self) -> int | None:
        try:
            return int((self.dir / "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def crash(self) -> None:
        """SIGKILL the node: no goodbye to its clients, nothing flushed."""
        pid = self.pid()
        if pid is not None:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with suppress(psutil.Error):
                psutil.Process(pid).wait(20)

    def restart_after_crash(self) -> float:
        """Crash the node and start it again on its data; returns how long RabbitMQ was away."""
        began = time.monotonic()
        self.crash()
        self.start()
        return time.monotonic() - began

    def stop(self) -> None:
        self.crash()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """A throw-away redis-server (no persistence) that a test may shut down and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.log_path = log_dir() / f"redis-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--daemonize", "no"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        wait_for(self.ping, 20, 0.05, f"redis on port {self.port}")

    def ping(self) -> bool:
        done = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True, timeout=5)
        return done.stdout.strip() == "PONG"

    def shutdown(self) -> None:
        """``redis-cli shutdown nosave``: every queued message is gone."""
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown", "nosave"], capture_output=True, timeout=10)
        assert self.proc is not None
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> float:
        """Shut down without saving and start again, empty; returns how long Redis was away."""
        began = time.monotonic()
        self.shutdown()
        self.start()
        return time.monotonic() - began

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.shutdown()


class PostgresServer:
    """A private PostgreSQL 15 cluster (initdb in a temporary folder) that a test may crash-restart."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="weft-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.data.mkdir()
        shutil.chown(self.data, "postgres", "postgres")
        self.log_path = self.root / "server.log"
        self.log_path.touch()
        shutil.chown(self.log_path, "postgres", "postgres")
        self._pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    def _pg(self, tool: str, *args: str) -> None:
        # Output to a file, never a pipe: a postmaster that pg_ctl starts would inherit the pipe and keep
        # it open, and we would wait for its end forever.
        out = self.root / f"{tool}.out"
        with out.open("wb") as f:
            done = subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / tool), *args], stdout=f,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=120, cwd=self.root)
        text = out.read_text(errors="replace")
        assert done.returncode == 0, f"{tool} failed:\n{text}\n{self.log_text()[-3000:]}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def url(self, db: str = "weft") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def _ctl(self, *args: str) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-w", "-t", "60", "-o",
                 f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
                 *args)

    def start(self) -> None:
        self._ctl("start")

    def restart_immediate(self) -> float:
        """``pg_ctl restart -m immediate``: a crash (no checkpoint), then recovery; returns the downtime."""
        began = time.monotonic()
        self._ctl("-m", "immediate", "restart")
        return time.monotonic() - began

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        with suppress(AssertionError, subprocess.TimeoutExpired):
            self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def migrate(database_url: str) -> None:
    """Create weft's schema in a private database (a subprocess: this process keeps its own database)."""
    env = worker_env(None, **FAULT_ENV, WEFT_TEST_DATABASE_URL=database_url)
    env.pop("WEFT_WORKER_DB_NAME", None)
    done = subprocess.run([sys.executable, "-m", "django", "migrate", "--no-input", "-v", "0"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"migrate failed:\n{done.stdout}\n{done.stderr}"


@contextmanager
def database(url: str) -> Iterator[None]:
    """Point this process's default database connection at ``url`` for the with-block."""
    from django.db import connection

    parsed = cast(dict[str, Any], dj_database_url.parse(url))
    current = cast(dict[str, Any], connection.settings_dict)
    keys = ("NAME", "HOST", "PORT", "USER", "PASSWORD")
    saved = {k: current[k] for k in keys}
    connection.close()
    current.update({k: parsed[k] for k in keys})
    try:
        yield
    finally:
        connection.close()
        current.update(saved)


@contextmanager
def broker(url: str) -> Iterator[None]:
    """Publish from this process to ``url`` for the with-block (the private Redis of a test)."""
    from weft_django.dispatch import celery_app

    app = celery_app()

    def point(to: str) -> None:
        app.conf.update(broker_url=to)
        # Celery caches its connection and producer pools on first use; drop them so the next
        # publish builds new ones for the new URL.
        app._pool = None  # type: ignore[attr-defined]
        app.amqp._producer_pool = None  # type: ignore[attr-defined]

    saved = app.conf.broker_url
    point(url)
    try:
        yield
    finally:
        point(saved)


def titles(w: WorkerProcess, prefix: str) -> list[tuple[int, str]]:
    """(pid, process title) of the worker's processes whose title starts with ``prefix`` (as ``ps`` shows it)."""
    found = []
    for p in w.descendants():
        with suppress(psutil.Error):
            line = " ".join(p.cmdline()).strip()  # setproctitle pads the title with spaces
            if line.startswith(prefix):
                found.append((p.pid, line))
    return found


def write_measurements() -> Path:
    path = log_dir() / "fault-measurements.json"
    path.write_text(json.dumps(MEASURED, indent=2, sort_keys=True, default=str))
    return path
