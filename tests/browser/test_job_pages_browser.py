"""A job's page and a task's page as an operator reads them, in Debian's Chromium driven by Playwright: the
graph and the timeline of a DAG job, a task's attempts and its traceback, an action asked first."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, Route

from tests.browser.test_admin_browser import INPROC, keep_screenshots
from weft_django import service
from weft_django.execution.runner import execute
from weft_django.models import Attempt, Job, Task

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def run_all(job: Job) -> None:
    """Run the job's ready tasks in this process until none is left (retries included: the runner claims a
    task whatever its backoff)."""
    for _ in range(60):
        ready = list(Task.objects.filter(job=job, status="queued").order_by("pk").values_list("pk", "attempts"))
        if not ready:
            return
        for pk, token in ready:
            execute(pk, token)


def dag() -> Job:
    """a (fails once, then succeeds) -> b and c; c always fails; d needs b and c (so it is skipped)."""
    job = service.submit_job({"name": "dag", "tasks": [
        {"key": "a", "skill": "t.flaky", "params": {"succeed_on": 2}, "queue": INPROC},
        {"key": "b", "skill": "t.add", "params": {"a": 1, "b": 2}, "depends_on": ["a"], "queue": INPROC},
        {"key": "c", "skill": "t.always_fails", "depends_on": ["a"], "queue": INPROC},
        {"key": "d", "skill": "t.noop", "depends_on": ["b", "c"], "queue": INPROC},
    ]})
    run_all(job)
    return job


def test_job_page__graph_and_timeline_of_a_dag(ops: tuple[Page, str], tmp_path: Path) -> None:
    page, base = ops
    job = dag()
    assert Job.objects.get(pk=job.pk).status == "failed"
    tasks = {t.key: t for t in Task.objects.filter(job=job)}

    page.goto(f"{base}/admin/weft/job/{job.pk}/change/")
    assert page.locator("#job-status").inner_text() == "failed"
    assert "task 'c' failed on attempt 4" in page.locator("#job-cause").inner_text()
    # The graph: a node per task, coloured by its state, linking to its page; an edge per dependency.
    nodes = page.locator("#graph-svg a.node")
    assert nodes.count() == 4
    drawn = {n.get_attribute("data-task"): n.get_attribute("data-status") for n in nodes.all()}
    assert drawn == {str(t.pk): t.status for t in tasks.values()}
    assert {tasks[k].status for k in "abcd"} == {"succeeded", "failed", "skipped"}
    assert page.locator("#graph-svg path.edge").count() == 4
    at = {k: (page.locator(f"#graph-svg a[data-task='{tasks[k].pk}']").bounding_box() or {"x": -1.0})["x"]
          for k in "abcd"}
    assert 0 <= at["a"] < at["b"] == at["c"] < at["d"]  # layers left to right
    # The timeline: a bar per attempt on its task's row (a's retry beside its first try), by outcome.
    bars = page.locator("#timeline-svg rect.bar")
    assert bars.count() == Attempt.objects.filter(job=job).count() == 2 + 1 + 4
    outcomes = [(b.get_attribute("data-task"), b.get_attribute("data-number"), b.get_attribute("data-outcome"))
                for b in bars.all()]
    assert (str(tasks["a"].pk), "1", "failed") in outcomes and (str(tasks["a"].pk), "2", "succeeded") in outcomes
    assert sum(1 for t, _, o in outcomes if t == str(tasks["c"].pk) and o == "failed") == 4
    first, retry = (page.locator(f"#timeline-svg rect.bar[data-task='{tasks['a'].pk}'][data-number='{n}']")
                    for n in (1, 2))
    assert first.get_attribute("y") == retry.get_attribute("y")  # the same row
    assert float(retry.get_attribute("x") or 0) >= float(first.get_attribute("x") or 0) + 2  # after it
    page.screenshot(path=str(tmp_path / "job_page.png"), full_page=True)

    # A node leads to its task's page.
    page.click(f"#graph-svg a[data-task='{tasks['c'].pk}']")
    page.wait_for_selector("#task-attempts")
    assert page.url.endswith(f"/admin/weft/task/{tasks['c'].pk}/change/")
    keep_screenshots(tmp_path, "job_page.png")


def test_task_page__attempts_and_traceback_once(ops: tuple[Page, str], tmp_path: Path) -> None:
    page, base = ops
    job = dag()
    c = Task.objects.get(job=job, key="c")

    page.goto(f"{base}/admin/weft/task/{c.pk}/change/")
    assert page.locator(".weft-attempt").count() == 4
    first = page.locator("#attempt-1")
    assert "ValueError: this skill always fails" in first.locator(".weft-error").inner_text()
    tb = first.locator("details.traceback pre").inner_text()
    assert "Traceback" in tb and 'raise ValueError("this skill always fails")' in tb
    # The same traceback is shown once, and named on the attempts after.
    assert page.locator("details.traceback").count() == 1
    assert "The same traceback as attempt 1." in page.locator("#attempt-4").inner_text()
    # The tasks around it, both ways.
    assert page.locator("#upstream li").all_inner_texts()[0].startswith("a")
    assert page.locator("#downstream li").all_inner_texts()[0].startswith("d")
    assert page.locator("#task-decisions tbody tr").count() >= 4
    page.screenshot(path=str(tmp_path / "task_page.png"), full_page=True)
    keep_screenshots(tmp_path, "task_page.png")


def test_job_page__cancel_asks_first(ops: tuple[Page, str]) -> None:
    page, base = ops
    job = service.submit("t.noop", queue=INPROC, name="to-cancel")
    page.goto(f"{base}/admin/weft/job/{job.pk}/change/")
    page.click("#act-cancel")
    assert "Cancel this job?" in page.locator("#question").inner_text()
    assert Job.objects.get(pk=job.pk).status == "running"  # asking changed nothing
    page.click("#confirm")
    page.wait_for_selector(f"text=Job {job.pk} cancelled.")
    assert Job.objects.get(pk=job.pk).status == "cancelled"
    assert page.locator("#act-cancel").count() == 0  # a finished job offers no cancel


@pytest.mark.parametrize(("page_path", "ready"), [("docs", ".swagger-ui .info .title"),
                                                  ("redoc", "h1")])
def test_api_docs__load_offline(ops: tuple[Page, str], tmp_path: Path, page_path: str, ready: str) -> None:
    page, base = ops
    elsewhere: list[str] = []

    def refuse(route: Route) -> None:  # anything not from the live server is recorded and refused
        if route.request.url.startswith(base):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", refuse)
    page.goto(f"{base}/api/weft/{page_path}/")
    title = page.wait_for_selector(ready, timeout=20_000)
    assert title is not None and "weft_django" in title.inner_text()
    assert page.get_by_text("/jobs/{id}/explain/").first.is_visible() or page_path == "redoc"
    assert elsewhere == []
    page.screenshot(path=str(tmp_path / f"api_{page_path}.png"))
    keep_screenshots(tmp_path, f"api_{page_path}.png")
