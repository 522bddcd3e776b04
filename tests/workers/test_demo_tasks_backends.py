"""The demo project's Django Tasks framework functions (demo/framework_tasks.py) on the framework's database
backend and on weft's, switched by one setting (WEFT_DEMO_TASKS_BACKEND, read into TASKS by the demo's
settings): the same calls, the same results, each backend's rows and nothing in the other's.

In subprocesses with the demo's zero-setup settings (SQLite, kombu's filesystem broker), like test_demo_stack.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest import ROOT, WorkerProcess, start_worker
from tests.workers.test_demo_stack import demo_env, manage

pytestmark = pytest.mark.integration

ENQUEUE = """
import json
import time

from demo_project.demo import framework_tasks as tasks

results = [tasks.word_count.enqueue("one setting switches the backend"),
           tasks.monthly_report.enqueue("2026-11", [1.5, 2.5])]
deadline = time.monotonic() + 60
for r in results:
    while not r.is_finished and time.monotonic() < deadline:
        time.sleep(0.2)
        r.refresh()
print("RESULT " + json.dumps([[r.id, r.status, r.return_value if r.is_finished else None, r.attempts]
                              for r in results]))
"""


@pytest.mark.parametrize("backend", ["database", "weft"])
def test_demo_tasks__one_setting_switches_between_the_database_backend_and_weft(tmp_path: Path,
                                                                                backend: str) -> None:
    env = {**demo_env(tmp_path), "WEFT_DEMO_TASKS_BACKEND": backend}
    manage(env, "migrate", "--no-input", "-v", "0")
    if backend == "weft":
        worker = start_worker(app="demo_project", concurrency=1, queues="weft,reports", env=env)
    else:  # the framework's database worker: it polls the table (and logs no " ready.")
        worker = WorkerProcess([sys.executable, str(ROOT / "manage.py"), "db_worker", "--queue-name", "*",
                                "--interval", "0.2", "--no-startup-delay"], env, f"db-worker-{tmp_path.name}")
    try:
        out = manage(env, "shell", "--no-imports", "-c", ENQUEUE)
    finally:
        worker.stop()
    [line] = [x for x in out.splitlines() if x.startswith("RESULT ")]
    results = json.loads(line.removeprefix("RESULT "))
    assert [r[1:] for r in results] == [
        ["SUCCESSFUL", {"words": 5, "characters": 32}, 1],
        ["SUCCESSFUL", {"month": "2026-11", "total": 4.0, "attempt": 1}, 1],
    ], worker.log_text()[-3000:]

    with closing(sqlite3.connect(tmp_path / "db.sqlite3")) as db:
        tables = {t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        weft_jobs = db.execute("SELECT id, status FROM weft_job ORDER BY id").fetchall()
        if backend == "weft":
            assert weft_jobs == [(int(r[0]), "succeeded") for r in results]
            assert "django_tasks_database_dbtaskresult" not in tables
        else:
            assert weft_jobs == []
            rows = db.execute("SELECT id, status FROM django_tasks_database_dbtaskresult").fetchall()
            assert sorted(rows) == sorted((r[0].replace("-", ""), "SUCCESSFUL") for r in results)
