"""A broker that refuses connections (127.0.0.1, a port nobody listens on): a submission says its message was
not sent and when the sweep sends it, and a sweep re-send that fails is tried again at the next sweep
without counting as sent."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from django.db.models.functions import Now

from tests.conftest import ROOT, purge_broker, worker_env
from tests.db.test_sweep import IDLE_QUEUE, broker_messages, next_look, recover_decisions
from tests.faults.harness import broker, free_port
from weft_django import service, sweep
from weft_django.management.cli import EXIT_NOT_SENT
from weft_django.models import Job, Task

pytestmark = pytest.mark.integration


def refusing() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.mark.django_db(transaction=True)  # real commits: the publish runs when the submission commits
def test_submit__a_message_the_broker_refused_is_reported_on_the_job(settings: Any) -> None:
    settings.WEFT_REDISPATCH_AFTER, settings.WEFT_SWEEP_INTERVAL = 60.0, 15.0
    with broker(refusing()):
        lone = service.submit("t.noop", queue=IDLE_QUEUE)
        dag = service.submit_job({"tasks": [{"key": "a", "skill": "t.noop", "queue": IDLE_QUEUE},
                                            {"key": "b", "skill": "t.noop", "queue": IDLE_QUEUE}]})
    for job, total in ((lone, 1), (dag, 2)):
        assert job.delivery is not None
        assert job.delivery.failed and (job.delivery.total, job.delivery.sent) == (total, 0)
        assert "Connection refused" in job.delivery.error
        assert job.delivery.resend_within == 75.0
        # nothing is lost: the job and its tasks are written, queued, for the sweep to send
        assert list(Task.objects.filter(job_id=job.pk).values_list("status", flat=True)) == ["queued"] * total

    sent = service.submit("t.noop", queue=IDLE_QUEUE)  # the broker answers
    assert sent.delivery is not None and not sent.delivery.failed and sent.delivery.sent == 1
    assert Job.objects.get(pk=lone.pk).delivery is None  # a job read back knows nothing of it
    purge_broker((IDLE_QUEUE,))


@pytest.mark.django_db(transaction=True)  # the command runs in its own process and commits
def test_weft_run__a_message_the_broker_refused_exits_75_and_says_when_the_sweep_sends_it() -> None:
    env = worker_env(None, WEFT_TEST_BROKER_URL=refusing())
    done = subprocess.run([sys.executable, "manage.py", "weft_run", "t.noop", "--queue", IDLE_QUEUE, "--json"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_NOT_SENT == 75, done
    out = json.loads(done.stdout)
    assert out["status"] == "running" and out["sent"] is False and "Connection refused" in out["error"]
    line = done.stderr.strip().splitlines()[-1]  # after the log's warning, if logging goes to stderr
    assert line.startswith(f"Error: job {out['id']} is saved, but its task was not sent to the broker (")
    assert "the sweep sends it again within" in line
    assert Task.objects.get(job_id=out["id"]).status == "queued"  # written: the sweep will send it


@pytest.mark.django_db(transaction=True)  # the command runs in its own process and commits
def test_weft_submit__a_message_the_broker_refused_exits_75_like_weft_run(tmp_path: Any) -> None:
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"tasks": [{"key": k, "skill": "t.noop", "queue": IDLE_QUEUE} for k in "ab"]}))
    env = worker_env(None, WEFT_TEST_BROKER_URL=refusing())
    done = subprocess.run([sys.executable, "manage.py", "weft_submit", "--file", str(spec), "--json"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_NOT_SENT, done
    out = json.loads(done.stdout)
    assert (out["tasks"], out["sent"]) == (2, False) and "Connection refused" in out["error"]
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"Error: job {out['id']} is saved, but 2 of its tasks were not sent to the broker (")
    assert list(Task.objects.filter(job_id=out["id"]).values_list("status", flat=True)) == ["queued"] * 2


@pytest.mark.django_db
def test_sweep__a_resend_the_broker_refused_is_tried_again_at_the_next_sweep_and_not_counted(settings: Any) -> None:
    settings.WEFT_REDISPATCH_AFTER = 5.0
    task = Task.objects.get(job=service.submit("t.noop", queue=IDLE_QUEUE))
    Task.objects.filter(pk=task.pk).update(dispatched_at=Now() - timedelta(seconds=6))  # its message was lost
    purge_broker((IDLE_QUEUE, "weft"))

    with broker(refusing()):
        assert sweep.sweep() == {"redispatch_failed": 1}
    assert recover_decisions(task.pk) == []  # not sent, so not counted as a re-send
    assert next_look(task.pk) < 0  # due again: the next sweep tries again, not a doubled hold later

    assert sweep.sweep() == {"redispatched": 1}  # the broker is back
    assert broker_messages() == [("weft_django.execute", [task.pk, 0])]
    assert len(recover_decisions(task.pk)) == 1
    assert next_look(task.pk) == pytest.approx(10, abs=1)  # the hold after a first re-send, not a second
    purge_broker((IDLE_QUEUE, "weft"))
