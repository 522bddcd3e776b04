"""Fixtures of the fault tier: processes and private servers that are always stopped, and the measurements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import WorkerProcess, _live
from tests.faults.harness import MEASURED, PostgresServer, RabbitServer, RedisServer, write_measurements


class Processes:
    """Workers and sweep loops of one test; stopped (SIGKILL at worst) when the test ends."""

    def __init__(self) -> None:
        self.started: list[WorkerProcess] = []

    def add(self, w: WorkerProcess) -> WorkerProcess:
        self.started.append(w)
        return w

    def stop_all(self) -> None:
        for w in reversed(self.started):
            w.stop(timeout=5)
        self.started.clear()


@pytest.fixture
def procs(transactional_db: None) -> Iterator[Processes]:
    """Depends on the database fixture so that processes stop before the tables are flushed."""
    if _live:  # it would take this test's messages (the sweep task, a redelivery) and skew every timing
        pytest.fail(f"worker {_live[0].name} of an earlier test is still running; the fault tier needs the broker "
                    "to itself (use worker_factory, not the session's worker, in tests collected before tests/faults)")
    p = Processes()
    try:
        yield p
    finally:
        p.stop_all()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def rabbit_server() -> Iterator[RabbitServer]:
    server = RabbitServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server
    finally:
        server.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not MEASURED:
        return
    path = write_measurements()
    terminalreporter.section("fault tier: measured")
    for name, value in sorted(MEASURED.items()):
        terminalreporter.write_line(f"{name}: {value}")
    terminalreporter.write_line(f"(also in {path})")
