"""The README's install, exactly as a new user does it: a fresh virtualenv, ``pip install "<checkout>[postgres,redis]"``
(not editable, no dev extras), then a real worker and beat from that virtualenv against PostgreSQL and Redis,
and one submit -> result.

The project is the demo project copied out of the checkout, so that nothing can import the checkout's own
``weft_django`` or anything the development virtualenv has (dj-database-url, pytest, ...): a dependency the
package forgets to declare fails here, as ``packaging`` did (kombu's Redis transport imports it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import ROOT, WorkerProcess, wait_for

pytestmark = pytest.mark.integration

PIP_TIMEOUT = 600  # a cold pip cache on a slow machine; with a warm cache it takes a minute or so
SETTINGS = """
from demo_project.settings import *  # noqa: F403

# A queue of this run's own: no worker of another test (on the same Redis database) takes its messages.
WEFT_DEFAULT_QUEUE = {queue!r}
"""


def run(argv: list[str | Path], *, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{' '.join(map(str, argv))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def server_url(database: str) -> str:
    """WEFT_TEST_DATABASE_URL with another database name."""
    base = os.environ.get("WEFT_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/weft")
    return base.rsplit("/", 1)[0] + "/" + database


@pytest.fixture
def database() -> Iterator[str]:
    """A database of its own on the test server, created empty and dropped afterwards; yields its URL."""
    name = f"weft_install_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_url(name)
    finally:
        with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_install__the_readme_install_runs_a_worker_and_beat_end_to_end(tmp_path: Path, database: str) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], timeout=300)
    python, celery = venv / "bin" / "python", venv / "bin" / "celery"
    run([python, "-m", "pip", "install", "--quiet", f"{ROOT}[postgres,redis]"], timeout=PIP_TIMEOUT)
    assert "Location: " + str(venv) in run([python, "-m", "pip", "show", "weft-django"]).stdout  # not editable
    assert not (ROOT / "build").exists() and not list(ROOT.glob("*.egg-info"))  # pip wrote nothing in the checkout

    project = tmp_path / "project"
    shutil.copytree(ROOT / "demo_project", project / "demo_project", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", project)
    queue = f"install-{uuid.uuid4().hex[:8]}"
    (project / "install_settings.py").write_text(SETTINGS.format(queue=queue))
    env = {
        "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(tmp_path),
        "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "PYTHONNOUSERSITE": "1",
        "DJANGO_SETTINGS_MODULE": "install_settings", "WEFT_DEMO_DATA": str(tmp_path / "data"),
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": os.environ.get("WEFT_TEST_BROKER_URL", "redis://127.0.0.1:6379/15"),
        "WEFT_SWEEP_INTERVAL": "1",  # migrate installs beat's schedule for the sweep at this interval
    }
    manage = [python, project / "manage.py"]
    run([*manage, "migrate", "--no-input", "-v", "0"], env=env, cwd=project)

    processes: list[WorkerProcess] = []
    try:
        worker = WorkerProcess([str(a) for a in [*manage, "weft_worker", "-c", "1", "-n", f"{queue}@%h"]], env,
                               f"install-worker-{queue}", cwd=project)
        processes.append(worker)
        beat = WorkerProcess([str(celery), "-A", "demo_project", "beat", "-l", "info", "--max-interval", "1",
                              "-S", "django_celery_beat.schedulers:DatabaseScheduler", "--pidfile="], env,
                             f"install-beat-{queue}", cwd=project)
        processes.append(beat)
        worker.wait_ready()

        done = run([*manage, "weft_run", "demo.greet", "-p", "name=Install", "--wait", "--timeout", "90", "--json"],
                   env=env, cwd=project, timeout=150)
        out = json.loads(done.stdout)
        assert out["status"] == "succeeded" and out["result"] == "Hello, Install!", out

        with psycopg.connect(database, autocommit=True) as db:
            job = db.execute("SELECT status FROM weft_job WHERE id = %s", (out["id"],)).fetchall()
            attempts = db.execute("SELECT number, outcome, worker FROM weft_attempt WHERE job_id = %s",
                                  (out["id"],)).fetchall()
            assert job == [("succeeded",)]
            assert [(n, o) for n, o, _ in attempts] == [(1, "succeeded")]
            assert attempts[0][2].startswith(f"{queue}@")  # run by the worker from the fresh virtualenv

            # beat (from the same virtualenv) sends the sweep, the worker runs it and records it
            def swept() -> bool:
                return bool(db.execute("SELECT count(*) FROM weft_sweeprun").fetchone()[0])  # type: ignore[index]

            wait_for(swept, 90, 0.5, "a sweep sent by beat and run by the worker")
        assert worker.alive() and beat.alive()
    except BaseException:
        for p in processes:
            print(f"---- {p.name} log ----\n{p.log_text()[-6000:]}")
        raise
    finally:
        for p in reversed(processes):
            p.stop()


SMOKE = """
import time

from demo_project.demo import framework_tasks as tasks

result = tasks.word_count.enqueue("a wheel without its checkout")
deadline = time.monotonic() + 90
while not result.is_finished and time.monotonic() < deadline:
    time.sleep(0.2)
    result.refresh()
print(result.id, result.status, result.return_value if result.status == "SUCCESSFUL" else result.errors)
"""


def tracked(folder: str) -> set[str]:
    """The files git tracks under ``folder`` of the checkout: what a distribution must carry."""
    out = run(["git", "ls-files", folder], cwd=ROOT).stdout.split()
    return {name for name in out if "__pycache__" not in name}


def test_install__the_built_wheel_and_sdist_carry_everything_and_run_without_the_checkout(
        tmp_path: Path, database: str) -> None:
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--outdir", dist, ROOT], timeout=PIP_TIMEOUT)  # sdist, then wheel from it
    assert not (ROOT / "build").exists() and not list(ROOT.glob("*.egg-info"))
    [wheel], [sdist] = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    package = tracked("weft_django")  # modules, migrations, templates (and static files, should there be any)
    assert {n for n in package if "/migrations/0" in n} and {n for n in package if "/templates/" in n}
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    assert package <= in_wheel, sorted(package - in_wheel)
    assert any(n.endswith("licenses/LICENSE") for n in in_wheel)
    with tarfile.open(sdist) as tar:
        in_sdist = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert package | {"pyproject.toml", "README.md", "LICENSE"} <= in_sdist, sorted(package - in_sdist)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], timeout=300)
    python = venv / "bin" / "python"
    run([python, "-m", "pip", "install", "--quiet", f"{wheel}[postgres,redis,tasks]"], timeout=PIP_TIMEOUT)
    project = tmp_path / "project"
    shutil.copytree(ROOT / "demo_project", project / "demo_project", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", project)
    queue = f"wheel-{uuid.uuid4().hex[:8]}"
    (project / "install_settings.py").write_text(SETTINGS.format(queue=queue))
    env = {
        "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(tmp_path),
        "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "PYTHONNOUSERSITE": "1",
        "DJANGO_SETTINGS_MODULE": "install_settings", "WEFT_DEMO_DATA": str(tmp_path / "data"),
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": os.environ.get("WEFT_TEST_BROKER_URL", "redis://127.0.0.1:6379/15"),
    }
    manage = [python, project / "manage.py"]
    run([*manage, "migrate", "--no-input", "-v", "0"], env=env, cwd=project)
    worker = WorkerProcess([str(a) for a in [*manage, "weft_worker", "-c", "1", "-n", f"{queue}@%h"]], env,
                           f"wheel-worker-{queue}", cwd=project)
    try:
        worker.wait_ready()
        done = run([*manage, "weft_run", "demo.greet", "-p", "name=Wheel", "--wait", "--timeout", "90", "--json"],
                   env=env, cwd=project, timeout=150)
        assert json.loads(done.stdout)["result"] == "Hello, Wheel!"
        # Django's Tasks framework on weft, from the wheel: a demo @task enqueued, run by the worker.
        smoke = run([*manage, "shell", "--no-imports", "-c", SMOKE], env=env, cwd=project, timeout=150)
        out = smoke.stdout.strip().split(maxsplit=2)
        assert out[1:] == ["SUCCESSFUL", "{'words': 5, 'characters': 28}"], out
        with psycopg.connect(database, autocommit=True) as db:
            row = db.execute("SELECT t.skill_name, a.worker FROM weft_task t JOIN weft_attempt a ON a.task_id = t.id "
                             "WHERE t.job_id = %s", (int(out[0]),)).fetchall()
        assert [(s, w.split("@")[0]) for s, w in row] == [("demo_project.demo.framework_tasks.word_count", queue)]
        assert worker.alive()
    except BaseException:
        print(f"---- {worker.name} log ----\n{worker.log_text()[-6000:]}")
        raise
    finally:
        worker.stop()
