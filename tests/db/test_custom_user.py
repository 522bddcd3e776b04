"""The commands under a custom user model that has no ``username`` (its USERNAME_FIELD is ``email``).

The test session runs with one AUTH_USER_MODEL (Django's), so this runs ``manage.py`` in subprocesses on
tests/settings_emailuser.py (tests/emailuser's model), against a database of its own, created and dropped here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import dj_database_url
import psycopg
import pytest

from tests.conftest import ROOT

IDLE_QUEUE = "weft_test_nobody"  # no worker consumes it: the jobs stay running
ANN, BOB = "ann@example.com", "bob@example.com"


def _url(name: str) -> str:
    cfg = dj_database_url.parse(os.environ.get("WEFT_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/weft"))
    password = f":{cfg['PASSWORD']}" if cfg.get("PASSWORD") else ""
    return f"postgresql://{cfg['USER']}{password}@{cfg['HOST']}:{cfg.get('PORT') or 5432}/{name}"


@pytest.fixture
def email_db() -> Iterator[str]:
    """A fresh database named after the test database, dropped afterwards."""
    base = dj_database_url.parse(os.environ.get("WEFT_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/weft"))
    name = f"{base['NAME']}_emailuser_{os.getpid()}"
    with psycopg.connect(_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(_url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(db: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings_emailuser", "WEFT_WORKER_DB_NAME": db,
           "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


def query(db: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(_url(db)) as conn:
        return conn.execute(sql, params).fetchall()


SETUP = f"""
import json
from django.contrib.auth import get_user_model
from weft_django import service
User = get_user_model()
ann, bob = User.objects.create_user({ANN!r}), User.objects.create_user({BOB!r})
jobs = [service.submit("t.noop", queue={IDLE_QUEUE!r}, owner=o).pk for o in (ann, ann, bob, None)]
print(json.dumps(jobs))
"""


def test_commands__a_user_model_without_username(email_db: str) -> None:
    ok(manage(email_db, "migrate", "--run-syncdb", "--no-input", "-v", "0"))
    assert query(email_db, "SELECT column_name FROM information_schema.columns WHERE table_name = "
                           "'emailuser_emailuser' AND column_name = 'username'") == []
    first, second, bobs, ownerless = json.loads(ok(manage(email_db, "shell", "-v", "0", "-c", SETUP)))

    # weft_list: the owner is the user's USERNAME_FIELD (email), and --owner takes it.
    rows = json.loads(ok(manage(email_db, "weft_list", "--json")))
    assert {r["id"]: r["owner"] for r in rows} == {first: ANN, second: ANN, bobs: BOB, ownerless: None}
    assert [r["id"] for r in json.loads(ok(manage(email_db, "weft_list", "--json", "--owner", ANN)))] == [second, first]
    assert ANN in ok(manage(email_db, "weft_list")).splitlines()[-1]

    # --user names a user by their USERNAME_FIELD; the decision names them by it.
    ok(manage(email_db, "weft_cancel", str(first), "--user", ANN))
    [task] = query(email_db, "SELECT id FROM weft_task WHERE job_id = %s", second)
    ok(manage(email_db, "weft_kill", str(task[0]), "--user", ANN))
    refused = manage(email_db, "weft_cancel", str(bobs), "--user", ANN)
    assert refused.returncode == 2 and f"no job with id {bobs}" in refused.stderr, refused.stderr  # not hers to see
    assert query(email_db, "SELECT job_id, action, reason FROM weft_decision WHERE action = 'cancel' ORDER BY id") == [
        (first, "cancel", f"cancelled by {ANN}"), (second, "cancel", f"cancelled by {ANN}")]
    assert query(email_db, "SELECT status FROM weft_job WHERE id = %s", bobs) == [("running",)]
