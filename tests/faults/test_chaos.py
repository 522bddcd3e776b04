"""Jepsen-lite: 300 tasks while a seeded nemesis kills pool processes and workers and restarts Redis.

The checker reads the history from the database afterwards: every task final, none succeeded twice,
no attempt left open. Replay a failure with the same WEFT_CHAOS_SEED.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter

import pytest

from tests.conftest import WorkerProcess, wait_for
from tests.faults.conftest import Processes
from tests.faults.harness import (
    RedisServer,
    all_final,
    broker,
    check_history,
    fault_worker,
    measure,
    start_sweeper,
)
from weft_django.lifecycle import submit as submission
from weft_django.models import Decision, Task
from weft_django.spec import TaskSpec

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SEED = int(os.environ.get("WEFT_CHAOS_SEED", "20261121"))
TASKS = 300
CHAOS_SECONDS = 40.0
MIN_ACTIONS = 8


def test_faults__chaos_nemesis_kills_workers_and_restarts_redis(redis_server: RedisServer, procs: Processes) -> None:
    rng = random.Random(SEED)
    url = redis_server.url()
    with broker(url):
        workers: list[WorkerProcess] = [procs.add(fault_worker(WEFT_TEST_BROKER_URL=url)) for _ in range(2)]
        procs.add(start_sweeper(WEFT_TEST_BROKER_URL=url))
        retry = {"max_attempts": 10, "backoff": 0.05, "max_delay": 1.0}
        job = submission.create_job([TaskSpec(skill="t.sleep", params={"seconds": round(rng.uniform(0, 1.0), 2)},
                                          key=f"c{i}", retry=retry) for i in range(TASKS)],
                                submission.JobOptions(name="chaos"))
        ids = list(Task.objects.filter(job=job).values_list("pk", flat=True))
        began = time.monotonic()
        history: list[str] = []
        # At least MIN_ACTIONS, however long a loaded machine takes to start a replacement worker.
        while (time.monotonic() - began < CHAOS_SECONDS or len(history) < MIN_ACTIONS) and not all_final(ids):
            time.sleep(rng.uniform(1.5, 4.0))
            action = rng.choice(["kill_pool", "kill_pool", "kill_pool", "kill_worker", "restart_redis"])
            i = rng.randrange(len(workers))
            if action == "kill_pool":
                pids = sorted(workers[i].pool_pids())
                if pids:
                    os.kill(rng.choice(pids), signal.SIGKILL)
            elif action == "kill_worker":
                workers[i].kill()
                workers[i] = procs.add(fault_worker(WEFT_TEST_BROKER_URL=url))
            else:
                redis_server.restart()
            target = "" if action == "restart_redis" else f" w{i}"
            history.append(f"{time.monotonic() - began:.1f}s {action}{target}")
        wait_for(lambda: all_final(ids), 180, 0.5, "every task to be final after the nemesis stopped")
        took = round(time.monotonic() - began, 1)

    outcomes = check_history(ids)
    states = Counter(Task.objects.filter(pk__in=ids).values_list("status", flat=True))
    measure("T8 chaos: seed / nemesis actions", f"{SEED} / {Counter(h.split()[1] for h in history)}")
    measure("T8 chaos: attempts by outcome", dict(outcomes))
    measure("T8 chaos: tasks by state / seconds until all final", f"{dict(states)} / {took}")
    measure("T8 chaos: messages re-sent by the sweep",
            Decision.objects.filter(task_id__in=ids, policy="recover.redispatch").count())
    print("\n".join(history))
    assert states == {"succeeded": TASKS}  # ten attempts each: no task is that unlucky
    assert len(history) >= MIN_ACTIONS  # the work outlasted the nemesis: it was tested, not idle
