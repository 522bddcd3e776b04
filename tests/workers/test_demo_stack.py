"""The demo settings (SQLite and kombu's filesystem broker, no servers) run tasks end to end on a real worker.

Everything runs in subprocesses so that the demo settings never mix with this pytest process's Django.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest import ROOT, start_worker
from weft_django import fake_model

pytestmark = pytest.mark.integration

SUBMIT = """
import json
import weft_django
greet = weft_django.submit("demo.greet", {"name": "Weft"})
flaky = weft_django.submit("demo.flaky", {"succeed_on": 3})
haiku = weft_django.submit_job({"tasks": [{"key": "haiku", "skill": "demo.haiku", "params": {"topic": "tasks"}}],
                                "budget": {"max_tokens": 5000}})
plan = weft_django.submit("demo.plan")
print("RESULT " + json.dumps({
    "greet": [greet.pk, weft_django.result(greet.pk, timeout=60)],
    "flaky": [flaky.pk, weft_django.result(flaky.pk, timeout=60)],
    "haiku": [haiku.pk, weft_django.result(haiku.pk, timeout=60), weft_django.status(haiku.pk)["loops"]],
    "plan": [plan.pk, weft_django.result(plan.pk, timeout=60)],
}))
"""


def demo_env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "WEFT_WORKER_DB_NAME") and not k.startswith("WEFT_TEST_")}
    env.update(DJANGO_SETTINGS_MODULE="demo_project.settings", WEFT_DEMO_DATA=str(data), PYTHONUNBUFFERED="1")
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_demo_stack__runs_tasks_end_to_end_without_servers(tmp_path: Path) -> None:
    # The agent examples' model: the demo's fake server and script (scripts/demo.sh starts the same one).
    model, server = fake_model.start(json.loads((ROOT / "demo_project" / "fake_model.json").read_text()))
    env = {**demo_env(tmp_path), "WEFT_DEMO_LLM_URL": model.openai_url}
    manage(env, "migrate", "--no-input", "-v", "0")
    worker = start_worker(app="demo_project", concurrency=1, env=env)
    try:
        out = manage(env, "shell", "-c", SUBMIT)
    finally:
        worker.stop()
        server.shutdown()
        server.server_close()
    [line] = [x for x in out.splitlines() if x.startswith("RESULT ")]
    results = json.loads(line.removeprefix("RESULT "))
    assert results["greet"][1] == "Hello, Weft!"
    assert results["flaky"][1] == {"succeeded_on_attempt": 3}
    # The agent example passes on its third iteration, offline; the cascade runs three levels of loops.
    assert results["haiku"][1].count("\n") == 2
    assert results["haiku"][2] == {"haiku": "iteration 3 of 5: validation passed; 216 of 2,000 tokens used"}
    assert results["plan"][1] == ["demo.plan/spec1", "demo.plan/spec2"]
    assert len(model.requests) == 3
    assert "Task weft_django.execute[" in worker.log_text()

    with closing(sqlite3.connect(tmp_path / "db.sqlite3")) as db:
        def rows(sql: str, job: int) -> list[tuple[object, ...]]:
            return db.execute(sql, (job,)).fetchall()

        greet, flaky = results["greet"][0], results["flaky"][0]
        assert rows("SELECT status FROM weft_job WHERE id = ?", greet) == [("succeeded",)]
        assert rows("SELECT number, outcome FROM weft_attempt WHERE job_id = ? ORDER BY number", greet) == [
            (1, "succeeded")]
        assert rows("SELECT status FROM weft_job WHERE id = ?", flaky) == [("succeeded",)]
        assert rows("SELECT number, outcome, error_type FROM weft_attempt WHERE job_id = ? ORDER BY number",
                    flaky) == [(1, "failed", "ConnectionError"), (2, "failed", "ConnectionError"),
                               (3, "succeeded", "")]
        decisions = rows("SELECT action, reason FROM weft_decision WHERE job_id = ? AND action != 'finish_job' "
                         "ORDER BY id", flaky)
        assert [a for a, _ in decisions] == ["retry", "retry", "succeed"]
        assert str(decisions[0][1]).startswith("attempt 1 of 5 failed with ConnectionError; retrying in ")
