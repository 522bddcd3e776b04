"""The HTTP API end to end: a job submitted over HTTP runs on a real Celery worker and reads back its story."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import WorkerProcess, wait_for
from tests.db.test_api import API, client_for, user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_api__a_job_submitted_over_http_runs_and_explains_itself(
        worker_factory: Callable[..., WorkerProcess]) -> None:
    # A worker of its own, not the session's: tests/api runs before tests/faults, which needs the broker alone.
    worker_factory()
    c = client_for(user("alice"))
    r = c.post(f"{API}/jobs/", {"tasks": [
        {"key": "sum", "skill": "t.add", "params": {"a": 2, "b": 3}},
        {"key": "flaky", "skill": "t.flaky", "params": {"succeed_on": 2}, "depends_on": ["sum"]},
    ]}, format="json")
    assert r.status_code == 201, r.json()
    job_id = r.json()["id"]

    wait_for(lambda: c.get(f"{API}/jobs/{job_id}/").json()["status"] != "running", 60, 0.1, "the job to end")
    assert c.get(f"{API}/jobs/{job_id}/status/").json()["tasks"] == {"succeeded": 2}
    results = c.get(f"{API}/jobs/{job_id}/results/").json()
    assert (results["complete"], results["tasks"]["sum"]["result"], results["tasks"]["flaky"]["result"]) == (
        True, 5, 2)
    flaky_id = next(t["id"] for t in c.get(f"{API}/jobs/{job_id}/tasks/").json()["results"] if t["key"] == "flaky")
    detail = c.get(f"{API}/tasks/{flaky_id}/").json()
    assert [(a["number"], a["outcome"]) for a in detail["attempt_list"]] == [(1, "failed"), (2, "succeeded")]
    assert [d["action"] for d in detail["decision_list"]] == ["retry", "succeed"]
    assert "succeeded" in c.get(f"{API}/jobs/{job_id}/explain/").json()["explain"]
