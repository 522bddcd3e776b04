"""The job and task pages of the admin: a job of 10,000 tasks reads in as many queries as one of 300 (its
graph summarised, its tasks paged), a task's attempts in human units, actions that ask first and warn when
they changed nothing, and the lists' filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from weft_django import service
from weft_django.execution.runner import execute
from weft_django.models import Attempt, Dependency, Job, Task
from weft_django.reports.pages import GRAPH_TASKS, TASKS_PER_PAGE

pytestmark = pytest.mark.django_db
INPROC = "weft-inprocess-tests"


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "pw"))
    return client


def big_job(n: int) -> Job:
    """A job of ``n`` tasks in a chain of fan-outs (every task after the first 10 depends on one of them),
    some made by a parent, and an attempt for each of the first 100."""
    job = service.submit("t.noop", queue=INPROC)
    tasks = Task.objects.bulk_create(
        Task(job=job, key=f"k{i:05}", skill_name="t.add" if i % 3 else "t.square", skill_version="1", queue=INPROC,
             status="succeeded" if i % 7 else "failed") for i in range(n - 1))
    Dependency.objects.bulk_create(Dependency(upstream=tasks[i % 10], downstream=t) for i, t in enumerate(tasks)
                                   if i >= 10)
    now = timezone.now()
    Attempt.objects.bulk_create(Attempt(task=t, job=job, number=1, outcome="succeeded", started_at=now,
                                        finished_at=now + timedelta(seconds=1), duration=1.0) for t in tasks[:100])
    Job.objects.filter(pk=job.pk).update(tasks_total=n, tasks_open=1)
    return job


def page_queries(staff: Client, job: Job) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        r = staff.get(f"/admin/weft/job/{job.pk}/change/")
    assert r.status_code == 200
    return len(queries), r.content.decode()


def test_job_page__ten_thousand_tasks_in_bounded_queries(staff: Client) -> None:
    small, big = big_job(GRAPH_TASKS + 100), big_job(10_000)
    page_queries(staff, small)  # the first page of a process reads and caches the content types
    n_small, _ = page_queries(staff, small)
    n_big, page = page_queries(staff, big)
    # The same queries whatever the size: nothing is read per task.
    assert n_big == n_small <= 30, (n_small, n_big)
    assert "Graph, by skill" in page and "t.add \u00d7 6666" in page and "t.square \u00d7 3333" in page
    assert page.count('class="bar ') == 60  # the timeline's first 60 tasks
    # The tasks table: the first page, and the next one from its link.
    assert f"<td>k{TASKS_PER_PAGE - 2:05}</td>" in page and f"<td>k{TASKS_PER_PAGE - 1:05}</td>" not in page
    last = Task.objects.filter(job=big).order_by("pk")[TASKS_PER_PAGE - 1].pk
    assert f'href="?after={last}"' in page
    nxt = staff.get(f"/admin/weft/job/{big.pk}/change/?after={last}").content.decode()
    assert f"<td>k{TASKS_PER_PAGE - 1:05}</td>" in nxt and "<td>k00000</td>" not in nxt
    assert len(page) < 400_000, len(page)


def test_job_page__a_small_job_draws_every_task(staff: Client) -> None:
    job = service.submit_job({"tasks": [{"key": "a", "skill": "t.noop", "queue": INPROC},
                                        {"key": "b", "skill": "t.noop", "depends_on": ["a"], "queue": INPROC}]})
    _, page = page_queries(staff, job)
    a, b = Task.objects.filter(job=job).order_by("pk")
    assert page.count('class="node c-') == 2 and f'data-task="{a.pk}"' in page and f'data-task="{b.pk}"' in page
    assert page.count('class="edge dependency"') == 1 and "No attempt yet." in page


def test_task_page__attempts_in_human_units(staff: Client) -> None:
    job = service.submit("t.always_fails", queue=INPROC)
    task = Task.objects.get(job=job)
    execute(task.pk, 0)
    Attempt.objects.filter(task=task).update(peak_rss_mb=203.4765625, cost=0.07200000000000001, exit_code=-9,
                                             cpu_seconds=1.23456, duration=185.25, stdout="hello out")
    page = staff.get(f"/admin/weft/task/{task.pk}/change/").content.decode()
    for shown in ("203 MB", "0.072", "killed by SIGKILL", "1.2 s", "3 min 5 s", "hello out",
                  "ValueError: this skill always fails", f'href="/admin/weft/job/{job.pk}/change/"'):
        assert shown in page, shown
    for raw in ("203.4765625", "0.07200000000000001", "-9", "1.23456", "185.25"):
        assert raw not in page, raw
    assert page.count("Traceback (most recent call last)") == 1


def test_actions__ask_first_and_warn_when_nothing_changed(staff: Client) -> None:
    job = service.submit("t.noop", queue=INPROC)
    asked = staff.get(f"/admin/weft/job/{job.pk}/do/cancel/")
    assert asked.status_code == 200 and "Cancel this job?" in asked.content.decode()
    assert Job.objects.get(pk=job.pk).status == "running"
    done = staff.post(f"/admin/weft/job/{job.pk}/do/cancel/", follow=True)
    assert Job.objects.get(pk=job.pk).status == "cancelled"
    assert [(m.level_tag, m.message) for m in get_messages(done.wsgi_request)] == [
        ("success", f"Job {job.pk} cancelled.")]
    again = staff.post(f"/admin/weft/job/{job.pk}/do/cancel/", follow=True)
    assert [(m.level_tag, m.message) for m in get_messages(again.wsgi_request)] == [
        ("warning", f"Job {job.pk} was not cancelled: it had already finished.")]
    # The list action: nothing cancelled is a warning naming why, not a green success.
    listed = staff.post("/admin/weft/job/", {"action": "cancel_jobs", "_selected_action": [job.pk]}, follow=True)
    assert [(m.level_tag, m.message) for m in get_messages(listed.wsgi_request)] == [
        ("warning", f"0 jobs cancelled. Left as they were (already finished): job {job.pk}.")]
    assert staff.get(f"/admin/weft/job/{job.pk}/do/explode/").status_code == 404


def test_actions__approve_from_the_task_page(staff: Client) -> None:
    task = Task.objects.get(job=service.submit("t.guarded", queue=INPROC))
    assert "act-approve" in staff.get(f"/admin/weft/task/{task.pk}/change/").content.decode()
    r = staff.post(f"/admin/weft/task/{task.pk}/do/approve/", follow=True)
    assert Task.objects.get(pk=task.pk).status == "queued"
    assert [(m.level_tag, m.message) for m in get_messages(r.wsgi_request)] == [
        ("success", f"Task {task.pk} approved.")]
    r = staff.post(f"/admin/weft/task/{task.pk}/do/reject/", follow=True)
    assert [(m.level_tag, m.message) for m in get_messages(r.wsgi_request)] == [
        ("warning", f"Task {task.pk} was not rejected: not waiting for approval.")]


def test_lists__filters_and_columns(staff: Client) -> None:
    alice = User.objects.create_user("alice")
    mine = service.submit("t.square", {"x": 2}, queue=INPROC, owner=alice)
    labelled = service.submit_job({"labels": {"team": "red"}, "tasks": [{"key": "a", "skill": "t.noop"}]})
    failed = service.submit("t.always_fails", queue=INPROC)
    Task.objects.filter(job=failed).update(status="failed", error="ValueError: boom")
    Job.objects.filter(pk=failed.pk).update(created_at=timezone.now() - timedelta(days=3))

    def ids(query: str) -> set[int]:
        r = staff.get(f"/admin/weft/job/?{query}")
        assert r.status_code == 200, query
        return {j.pk for j in r.context["cl"].result_list}

    assert ids("owner=alice") == {mine.pk}
    assert ids("label=team%3Dred") == ids("label=team") == {labelled.pk}
    assert ids("skill=t.square") == {mine.pk}
    assert ids("created_at_within=86400") == {mine.pk, labelled.pk}
    day = (timezone.localdate() - timedelta(days=3)).isoformat()
    assert ids(f"created_at_since={day}&created_at_until={day}") == {failed.pk}
    assert staff.get("/admin/weft/job/?created_at_since=yesterday")["Location"].endswith("?e=1")
    page = staff.get("/admin/weft/job/").content.decode()
    assert "ValueError: boom" in page and "t.square" in page and " ago" in page
    tasks = staff.get("/admin/weft/task/").content.decode()
    assert f'<a href="/admin/weft/job/{mine.pk}/change/">{mine.pk}</a>' in tasks


def test_job_list__reads_each_rows_tasks_through_the_job_index() -> None:
    """The job list's skill and error columns find a job's tasks by the (job, status) index, never by walking
    the primary key and filtering on the job (the whole table, for the newest job's tasks)."""
    from weft_django.reports import lists

    big_job(10_000)
    big_job(300)
    with connection.cursor() as c:
        c.execute("ANALYZE weft_task")
        sql, params = lists.job_rows(Job.objects.order_by("-pk"))[:100].query.sql_with_params()
        c.execute("EXPLAIN " + sql, params)
        plan = "\n".join(r[0] for r in c.fetchall())
    assert plan.count("weft_task_job_status_idx") == 2 and "weft_task_pkey" not in plan, plan
