"""weft_submit / weft_cancel / weft_explain: bad job files get one precise error and write nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from weft_django.jobspec import JobSpec
from weft_django.management import cli
from weft_django.models import Job, Task

pytestmark = pytest.mark.django_db


def submit_file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", errors="surrogateescape")  # "\udcff" writes the byte 0xff
    out = io.StringIO()
    call_command("weft_submit", "--file", str(path), "--json", stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(("name", "text", "message"), [
    ("bad.yaml", "tasks:\n  - key: a\n    skill: t.noop\n   depends_on: [b]\n", "invalid YAML at line 4"),
    ("bad.json", '{"tasks": [\n {"key": "a",\n "skill": "t.noop"\n ]}', "invalid JSON at line 4"),
    ("dup.yaml", "tasks:\n  - {key: a, skill: t.noop}\n  - {key: a, skill: t.noop}\n",
     "tasks[1].key: duplicate key 'a' (also tasks[0])"),
    ("unknown.yaml", "tasks:\n  - {key: a, skill: t.noop, depends_on: [zz]}\n",
     "tasks.a.depends_on: unknown task key 'zz'"),
    ("cycle.yaml",
     "tasks:\n  - {key: a, skill: t.noop, depends_on: [b]}\n  - {key: b, skill: t.noop, depends_on: [a]}\n",
     "dependency cycle: a -> b -> a"),
    ("self.yaml", "tasks:\n  - {key: a, skill: t.noop, depends_on: [a]}\n", "task 'a' depends on itself"),
    ("budget.yaml", "budget: {max_attempts: 0}\ntasks:\n  - {key: a, skill: t.noop}\n",
     "budget.max_attempts: must be greater than 0"),
    ("cost.yaml", "budget: {max_cost: -1}\ntasks:\n  - {key: a, skill: t.noop}\n", "budget.max_cost: must be greater"),
    ("tokens.yaml", "budget: {max_tokens: 0.5}\ntasks:\n  - {key: a, skill: t.noop}\n", "budget.max_tokens: must be"),
    ("deadline.yaml", "budget: {deadline: -5}\ntasks:\n  - {key: a, skill: t.noop}\n", "budget.deadline"),
    ("skill.yaml", "tasks:\n  - {key: a, skill: t.nope}\n", "unknown skill 't.nope'"),
    ("params.yaml", "tasks:\n  - {key: a, skill: t.add, params: {a: 1}}\n", "tasks[0].params.b: 'b' is a required"),
    # Each was a traceback: a date YAML's own type refuses, and a file that is not UTF-8.
    ("month.yaml", "budget: {deadline: 2026-13-45}\ntasks:\n  - {key: a, skill: t.noop}\n",
     "invalid YAML value: month must be in 1..12"),
    ("binary.yaml", "\udcff\udcfe tasks", "not UTF-8 text (byte 0)"),
])
def test_weft_submit__bad_file_is_one_error_and_writes_nothing(
    tmp_path: Path, name: str, text: str, message: str,
) -> None:
    with pytest.raises(CommandError, match=None) as err:
        submit_file(tmp_path, name, text)
    assert message in str(err.value)
    assert err.value.returncode == (2 if "unknown skill" in message else 1)
    assert Job.objects.count() == 0 and Task.objects.count() == 0


def test_weft_submit__valid_file_creates_the_job(tmp_path: Path) -> None:
    out = submit_file(tmp_path, "ok.yaml", "name: pair\nbudget: {max_attempts: 4, deadline: 600}\ntasks:\n"
                      "  - {key: a, skill: t.add, params: {a: 1, b: 2}}\n"
                      "  - {key: b, skill: t.noop, depends_on: [a]}\n")
    data = json.loads(out)
    job = Job.objects.get(pk=data["id"])
    assert (job.name, job.tasks_total, job.max_attempts) == ("pair", 2, 4)
    assert dict(Task.objects.filter(job=job).values_list("key", "status")) == {"a": "queued", "b": "pending"}


def test_weft_cancel_and_explain__unknown_id_exit_2() -> None:
    for command in ("weft_cancel", "weft_explain"):
        with pytest.raises(CommandError) as err:
            call_command(command, "987654")
        assert err.value.returncode == 2
        assert "no job with id" in str(err.value)


def test_weft_cancel__cancels_idle_job_and_explain_says_so(tmp_path: Path) -> None:
    data = json.loads(submit_file(tmp_path, "j.json", json.dumps({"tasks": [{"key": "a", "skill": "t.noop"}]})))
    out = io.StringIO()
    call_command("weft_cancel", str(data["id"]), stdout=out)
    assert "cancel requested" in out.getvalue()
    assert Job.objects.get(pk=data["id"]).status == "cancelled"
    out = io.StringIO()
    call_command("weft_explain", str(data["id"]), stdout=out)
    assert f"Cause: cancelled by {cli.operator()}" in out.getvalue()


def test_jobspec__deadline_must_have_a_zone() -> None:
    from weft_django.exceptions import InvalidInput

    with pytest.raises(InvalidInput, match="needs a zone"):
        JobSpec.parse({"budget": {"deadline": "2099-01-01T00:00:00"}, "tasks": [{"key": "a", "skill": "t.noop"}]})


# ---------------------------------------------------------------- a huge job: results and explain are bounded pages

HUGE = 4000  # tasks: big enough that reading them whole is what a page must not do
IDLE = "weft_test_nobody"  # no worker reads it (and these tests roll back: nothing is published)


@pytest.fixture
def huge_job() -> Job:
    return make_huge_job(HUGE)


def make_huge_job(size: int) -> Job:
    """A job of ``size`` tasks that ran: each with a result and an attempt, every tenth failed, one artifact each
    on the first and last task; the job failed (its first failure is on task 't3990', whose id is near the end)."""
    from django.utils import timezone

    from weft_django import service
    from weft_django.models import Artifact, Attempt, Decision

    job = service.submit_job({"name": "huge", "tasks": [{"key": f"t{i}", "skill": "t.noop", "queue": IDLE}
                                                        for i in range(size)]})
    tasks = list(Task.objects.filter(job=job).order_by("pk").values_list("pk", "key"))
    now = timezone.now()
    failed = {key for _, key in tasks if int(key[1:]) % 10 == 0}
    Attempt.objects.bulk_create(Attempt(task_id=pk, job_id=job.pk, number=1, started_at=now, finished_at=now,
                                        duration=0.5, outcome="failed" if key in failed else "succeeded",
                                        error_message="boom" if key in failed else "")
                                for pk, key in tasks)
    attempts = dict(Attempt.objects.filter(job=job).values_list("task_id", "pk"))
    order = sorted(tasks, key=lambda t: (t[1] != "t3990", t[0]))  # t3990's failure is decided first
    Decision.objects.bulk_create(Decision(job_id=job.pk, task_id=pk, attempt_id=attempts[pk], reason=f"{key} done",
                                          action="fail" if key in failed else "succeed") for pk, key in order)
    Decision.objects.create(job_id=job.pk, action="stop_job", reason="too many failures")
    Artifact.objects.create(job=job, task_id=tasks[0][0], name="first", value=1)
    Artifact.objects.create(job=job, task_id=tasks[-1][0], name="last", value=2)
    for status, keys in (("failed", failed), ("succeeded", {k for _, k in tasks} - failed)):
        Task.objects.filter(job=job, key__in=keys).update(status=status, attempts=1, result={"ok": True})
    Job.objects.filter(pk=job.pk).update(status="failed", tasks_open=0, stop_reason="too many failures")
    return job


def test_results__pages_of_a_huge_job_are_bounded_and_get_every_task(huge_job: Job,
                                                                     django_assert_max_num_queries: Any) -> None:
    from weft_django import reports

    keys: list[str] = []
    after = None
    pages = 0
    while True:
        with django_assert_max_num_queries(3):  # job, a page of tasks, their artifacts: whatever the job's size
            page = reports.results(huge_job.pk, limit=1000, after=after)
        assert len(page["tasks"]) <= 1000 and page["status"] == "failed"
        keys += page["tasks"]
        pages += 1
        after = page["next_after"]
        if after is None:
            break
    assert pages == 4 and keys == [f"t{i}" for i in range(HUGE)]
    whole = reports.results(huge_job.pk)  # the Python API without a limit reads everything, as before
    assert list(whole["tasks"]) == keys and whole["next_after"] is None
    assert whole["tasks"]["t0"]["artifacts"] == {"first": 1} and whole["tasks"][f"t{HUGE - 1}"]["artifacts"] == {
        "last": 2}
    last = reports.results(huge_job.pk, limit=1, after=Task.objects.get(job=huge_job, key=f"t{HUGE - 2}").pk)
    assert last["tasks"][f"t{HUGE - 1}"]["artifacts"] == {"last": 2} and last["next_after"] is None


@pytest.mark.parametrize(("limit", "after", "field"), [(0, None, "limit"), (-1, None, "limit"), ("5", None, "limit"),
                                                       (True, None, "limit"), (10, -1, "after"), (10, "x", "after")])
def test_results_and_explain__refuse_a_bad_page(limit: Any, after: Any, field: str) -> None:
    from weft_django import reports, service
    from weft_django.exceptions import InvalidInput

    job = service.submit("t.noop", queue=IDLE)
    for read in (reports.results, reports.explain):
        with pytest.raises(InvalidInput) as err:
            read(job.pk, limit=limit, after=after)
        assert err.value.field == field


def test_explain__pages_of_a_huge_job_keep_the_cause_and_cover_every_attempt(
        huge_job: Job, django_assert_max_num_queries: Any) -> None:
    from weft_django import reports

    whole = reports.explain(huge_job.pk)
    assert "Cause: too many failures" in whole
    seen: list[str] = []
    after = None
    while True:
        with django_assert_max_num_queries(7):  # bounded whatever the job's size (the 7th: its loops, if any)
            page = reports.explain_page(huge_job.pk, limit=500, after=after)
        lines = page["explain"].splitlines()
        assert len(lines) < 2 * 500 + 12, len(lines)
        assert lines[0] == f"Job {huge_job.pk} (huge) failed: too many failures"
        assert lines[1] == "Cause: too many failures"
        assert ("  - job: stop_job: too many failures" in lines) == (after is None)  # the job's own: first page
        seen += [line for line in lines if line.startswith("  - 't")]
        after = page["next_after"]
        if after is None:
            assert "More tasks follow" not in page["explain"]
            break
        assert lines[-1] == f"More tasks follow: the next page starts after task {after}."
    assert sorted(seen) == sorted(line for line in whole.splitlines() if line.startswith("  - 't"))
    assert len(seen) == HUGE


def test_explain__a_page_names_the_first_failure_though_it_is_on_another_page(huge_job: Job) -> None:
    from weft_django import reports

    Decision = reports.Decision
    Decision.objects.filter(job=huge_job, task__isnull=True).delete()  # no stop: the cause is the first failure
    Job.objects.filter(pk=huge_job.pk).update(stop_reason="")
    whole = reports.explain(huge_job.pk).splitlines()[1]
    assert whole.startswith("Cause: task 't3990' failed on attempt 1: t3990 done")
    assert reports.explain(huge_job.pk, limit=10).splitlines()[1] == whole


def test_http_results_and_explain__a_huge_job_is_paged(huge_job: Job) -> None:
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(User.objects.create_user("root", is_staff=True, is_superuser=True))
    Job.objects.filter(pk=huge_job.pk).update(owner=User.objects.get(username="root"))
    base = f"/api/weft/jobs/{huge_job.pk}"

    first = client.get(f"{base}/results/").json()
    assert len(first["tasks"]) == 100 and first["next"].endswith(f"?limit=100&after={first['next_after']}")
    keys: list[str] = []
    url: str | None = f"{base}/results/?limit=1000"
    while url:
        page = client.get(url).json()
        keys += page["tasks"]
        url = page["next"]
    assert keys == [f"t{i}" for i in range(HUGE)]

    explained = client.get(f"{base}/explain/?limit=50").json()
    assert explained["next_after"] and len(explained["explain"].splitlines()) < 120
    for query, field in (("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"), ("after=-3", "after"),
                         ("after=99999999999999999999", "after")):
        for what in ("results", "explain"):
            r = client.get(f"{base}/{what}/?{query}")
            assert r.status_code == 400 and r.json()["field"] == field, (what, query, r.content)


def test_weft_explain_and_weft_result__print_a_page_of_a_huge_job(huge_job: Job) -> None:
    out = io.StringIO()
    call_command("weft_explain", str(huge_job.pk), stdout=out)
    text = out.getvalue()
    assert len(text.splitlines()) < 2 * 200 + 14 and text.rstrip().endswith(" --after " + text.split()[-1][:-1] + ")")
    out = io.StringIO()
    call_command("weft_explain", str(huge_job.pk), "--limit", "3000", "--json", stdout=out)
    first = json.loads(out.getvalue())
    out = io.StringIO()
    call_command("weft_explain", str(huge_job.pk), "--after", str(first["next_after"]), "--limit", "3000", "--json",
                 stdout=out)
    second = json.loads(out.getvalue())
    assert second["next_after"] is None
    assert sum(1 for p in (first, second) for line in p["explain"].splitlines() if line.startswith("  - 't")) == HUGE

    Job.objects.filter(pk=huge_job.pk).update(status="succeeded", stop_reason="")
    out, err = io.StringIO(), io.StringIO()
    call_command("weft_result", str(huge_job.pk), "--limit", "2500", "--json", stdout=out, stderr=err)
    reply = json.loads(out.getvalue())
    assert len(reply["result"]) == 2500 and reply["next_after"]
    out = io.StringIO()
    call_command("weft_result", str(huge_job.pk), "--json", "--after", str(reply["next_after"]), "--limit", "2000",
                 stdout=out)
    rest = json.loads(out.getvalue())
    assert len(rest["result"]) == HUGE - 2500 and "next_after" not in rest
    out, err = io.StringIO(), io.StringIO()
    call_command("weft_result", str(huge_job.pk), stdout=out, stderr=err)
    assert len(json.loads(out.getvalue())) == 1000 and "weft_result" in err.getvalue() and "--after" in err.getvalue()


def test_result__a_failed_huge_job_names_its_first_failures_and_counts_the_rest(huge_job: Job) -> None:
    from weft_django import service

    Job.objects.filter(pk=huge_job.pk).update(stop_reason="")
    Task.objects.filter(job=huge_job, status="failed").update(error="ValueError: boom")
    with pytest.raises(service.JobFailed) as err:
        service.result(huge_job.pk, timeout=0)
    assert err.value.error == "; ".join(f"t{i}: ValueError: boom" for i in range(0, 50, 10)) + (
        f"; and {HUGE // 10 - 5} more")
