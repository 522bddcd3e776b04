"""Routing by capability with real processes: ``manage.py weft_agent`` claims and completes a task over HTTP
(against a live server) and is killed off a lease it lost; a Celery worker started with ``--capabilities`` gets a
routed task that a worker without them never sees."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psutil
import pytest
from django.utils import timezone

from tests.conftest import WorkerProcess, purge_broker, wait_for, worker_env
from tests.perms import member
from weft_django import service
from weft_django.lifecycle import recover
from weft_django.models import Attempt, Task, Worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROUTED = ("weft+gpu",)  # what a gpu task is sent to: nobody reads it in most tests, so each test empties it


@pytest.fixture(autouse=True)
def _routed_queue_empty() -> Iterator[None]:
    purge_broker(ROUTED)
    yield
    purge_broker(ROUTED)


def weft_agent(url: str, name: str, *argv: str, extra: tuple[str, ...] = ()) -> WorkerProcess:
    member(f"{name}-user", "weft.act_as_agent")
    cmd = [sys.executable, "-m", "django", "weft_agent", "--url", f"{url}/api/weft/", "--name", name,
           "--capabilities", "gpu", "--user", f"{name}-user", "--poll", "0.2", *extra, "--", *argv]
    return WorkerProcess(cmd, worker_env(None, WEFT_AGENT_PASSWORD="pw"), name)


def task_of(job: Any) -> Task:
    return Task.objects.get(job=job)


def test_external_agents__weft_agent_claims_runs_and_reports_a_task_over_http(live_server: Any) -> None:
    job = service.submit("t.gpu_echo", {"text": "a b; $(nothing)"})
    agent = weft_agent(live_server.url, "box", "echo", "agent says", "{text}", extra=("--max-tasks", "1"))
    try:
        wait_for(lambda: task_of(job).status == "succeeded", 60, 0.1, "the agent to finish the task")
        wait_for(lambda: not agent.alive(), 30, 0.1, "weft_agent to exit after --max-tasks 1")
    finally:
        agent.stop()
    t = task_of(job)
    assert t.result == {"exit_code": 0, "stdout": "agent says a b; $(nothing)\n"}  # one argv element, no shell
    attempt = Attempt.objects.get(task=t)
    assert (attempt.worker, attempt.outcome, attempt.exit_code) == ("agent:box", "succeeded", 0)
    assert (attempt.pid, agent.proc.returncode) == (agent.pid, 0)  # the agent's process, not the server's
    assert "1 task(s) done" in agent.log_text()


def test_external_agents__a_lost_lease_kills_the_command_and_its_report_is_discarded(
        live_server: Any, settings: Any) -> None:
    settings.WEFT_HEARTBEAT_INTERVAL = 0.3  # the live server (this process) tells the agent to beat that often
    job = service.submit("t.gpu_echo", {"text": "30"})
    agent = weft_agent(live_server.url, "slow", "sleep", "{text}")
    try:
        attempt = wait_for(lambda: Attempt.objects.filter(task=task_of(job), outcome="running").first(), 60, 0.1,
                           "the agent to claim the task")
        sleeper = wait_for(lambda: [p for p in psutil.Process(agent.pid).children(recursive=True)
                                    if p.name() == "sleep"], 30, 0.1, "the command to start")[0]
        # The lease runs out (the agent is taken for dead) and the sweep recovers the task: attempt 1 is lost.
        Task.objects.filter(pk=task_of(job).pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        assert recover.expired(task_of(job).pk) == "retried"
        wait_for(lambda: not sleeper.is_running() or sleeper.status() == psutil.STATUS_ZOMBIE, 30, 0.1,
                 "the agent to kill its command at its next heartbeat")
        wait_for(lambda: Attempt.objects.get(pk=attempt.pk).outcome == "discarded", 30, 0.1,
                 "the late report to close the lost attempt as discarded")
    finally:
        agent.stop()
    assert "discarded" in agent.log_text()
    assert Attempt.objects.get(pk=attempt.pk).error_message.startswith("the lease was lost")


def test_external_agents__a_worker_with_the_capability_gets_the_routed_task_one_without_never_does(
        worker: WorkerProcess) -> None:
    gpu = service.submit("t.gpu_add", {"a": 20, "b": 22})
    assert task_of(gpu).queue == "weft+gpu"
    plain = service.submit("t.add", {"a": 1, "b": 1})  # sent after it, to the queue the worker reads
    assert service.result(plain.pk, timeout=60) == 2
    assert task_of(gpu).status == "queued" and not Attempt.objects.filter(task=task_of(gpu)).exists()
    argv = [sys.executable, "-m", "django", "weft_worker", "-Q", "weft", "--capabilities", "gpu,cuda", "-c", "1",
            "-n", f"capable-{worker.pid}@%h"]
    capable = WorkerProcess(argv, worker_env(None), f"capable-{worker.pid}")
    try:
        capable.wait_ready()
        assert service.result(gpu.pk, timeout=60) == 42
    finally:
        capable.stop()
    assert Attempt.objects.get(task=task_of(gpu)).worker.startswith(f"capable-{worker.pid}@")
    queues = Worker.objects.get(hostname__startswith=f"capable-{worker.pid}@").queues
    assert {"weft", "weft+gpu", "weft+cuda", "weft+cuda+gpu"} <= set(queues)
