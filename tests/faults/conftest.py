"""Fixtures of the fault tier: processes and private servers that are always stopped, and the measurements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import POOL, WorkerProcess, _live
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
    # An idle worker kept for later tests would take this test's messages (the sweep task, a redelivery) and
    # skew every timing: stopped here, whatever ran before (a later test that wants one starts it again).
    POOL.drain()
    if _live:
        pytest.fail(f"worker {_live[0].name} of an earlier test is still running; the fault tier needs the broker "
                    "to itself (a test must stop what it starts outside the worker/worker_factory fixtures)")
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
