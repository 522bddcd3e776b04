"""An operator acting from a task's page, in Debian's Chromium driven by Playwright: retry one failed task (its
skipped dependent waits for it again), unblock a task blocked without ``needs``, and watch a command's output
appear on the page while it runs, without reloading it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import Page

from tests.browser.test_admin_browser import INPROC, keep_screenshots
from tests.browser.test_job_pages_browser import run_all
from weft_django import service, tallies
from weft_django.execution.runner import execute
from weft_django.models import Attempt, Decision, Job, Task

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def confirm(page: Page, base: str, task: Task, verb: str, done: str, note: str = "") -> None:
    page.goto(f"{base}/admin/weft/task/{task.pk}/change/")
    page.click(f"#act-{verb}")
    page.wait_for_selector("#question")
    if note:
        page.fill("#id_note", note)
    page.click("#confirm")
    page.wait_for_selector(f"text={done}")


def test_retry_one_failed_task_from_its_page(ops: tuple[Page, str], tmp_path: Path) -> None:
    page, base = ops
    job = service.submit_job({"name": "retry-one", "tasks": [
        {"key": "bad", "skill": "t.fatal", "queue": INPROC},
        {"key": "after", "skill": "t.noop", "depends_on": ["bad"], "queue": INPROC},
    ]})
    run_all(job)
    bad, after = (Task.objects.get(job=job, key=k) for k in ("bad", "after"))
    assert (bad.status, after.status, Job.objects.get(pk=job.pk).status) == ("failed", "skipped", "failed")

    confirm(page, base, bad, "retry", f"Task {bad.pk} retried.")
    bad.refresh_from_db()
    after.refresh_from_db()
    assert (bad.status, after.status, Job.objects.get(pk=job.pk).status) == ("queued", "pending", "running")
    assert Decision.objects.filter(task=bad).order_by("pk").last().reason == "run again by ops (it had failed)"  # type: ignore[union-attr]
    assert page.locator("#task-status").inner_text() == "queued"  # the page shows it, no retry offered now
    assert page.locator("#act-retry").count() == 0
    page.screenshot(path=str(tmp_path / "task_retried.png"), full_page=True)
    keep_screenshots(tmp_path, "task_retried.png")


def test_unblock_a_task_blocked_without_needs(ops: tuple[Page, str]) -> None:
    page, base = ops
    job = service.submit_job({"tasks": [{"key": "gate", "skill": "t.guarded", "queue": INPROC},  # not stuck: it waits
                                        {"key": "stall", "skill": "t.blocked", "queue": INPROC}]})
    run_all(job)
    task = Task.objects.get(job=job, key="stall")
    assert (task.status, task.blocked_reason) == ("blocked", "waiting for approval")

    confirm(page, base, task, "unblock", f"Task {task.pk} unblocked.", note="the licence was renewed")
    task.refresh_from_db()
    assert task.status == "queued"
    assert "the licence was renewed" in Decision.objects.filter(task=task).order_by("pk").last().reason  # type: ignore[union-attr]


def test_live_output_appears_on_the_task_page_while_the_command_runs(ops: tuple[Page, str], tmp_path: Path) -> None:
    page, base = ops
    job = service.submit("t.ticks", queue=INPROC)
    task = Task.objects.get(job=job)
    page.goto(f"{base}/admin/weft/task/{task.pk}/change/")
    assert page.locator("#task-attempts").get_attribute("data-status") == "queued"
    page.evaluate("window.weftMark = 1")

    def work() -> None:  # the worker, in this process: the command runs, its output is written as it comes
        try:
            execute(task.pk, 0)
        finally:
            connection.close()

    runner = threading.Thread(target=work)
    runner.start()
    try:
        page.wait_for_function("document.querySelector('#task-attempts details.stdout pre') && "
                               "document.querySelector('#task-attempts details.stdout pre').innerText"
                               ".includes('tick 2')", timeout=15_000)
        assert page.evaluate("window.weftMark") == 1  # shown in place: the page was not loaded again
        attempt = Attempt.objects.get(task=task)
        assert attempt.outcome == "running" and "tick 6" not in attempt.stdout  # while it runs
        page.screenshot(path=str(tmp_path / "live_output.png"), full_page=True)
    finally:
        runner.join(30)
    # Once it has ended, the page loads itself once more: the final status and the whole output.
    page.wait_for_function("(document.querySelector('#task-status') || {}).innerText === 'succeeded'",
                           timeout=15_000)
    assert "tick 6" in page.locator("#task-attempts details.stdout pre").inner_text()
    keep_screenshots(tmp_path, "live_output.png")


def test_the_dashboards_last_hour_chart_updates_in_place(ops: tuple[Page, str], tmp_path: Path) -> None:
    page, base = ops
    run_all(service.submit("t.noop", queue=INPROC))
    page.goto(f"{base}/weft/")
    assert page.locator("#chart tr[data-skill='t.noop']").count() == 1
    assert page.locator("#chart tr[data-skill='t.fatal']").count() == 0
    page.evaluate("window.weftMark = 1; window.scrollTo(0, 200)")
    scrolled = page.evaluate("window.scrollY")
    run_all(service.submit("t.fatal", queue=INPROC))  # finishes while the page is open
    for i in range(3):
        service.submit("t.add", {"a": i, "b": 1}, queue=INPROC)
    tallies.sample_queued()  # the sweep's sample of the backlog
    page.wait_for_selector("#chart tr[data-skill='t.fatal']", timeout=15_000)
    row = page.locator("#chart tr[data-skill='t.fatal']").inner_text()
    assert "100.0 % (1 failed)" in row, row
    assert "3 now" in page.locator("#chart tr[data-skill='t.add']").inner_text()
    assert page.locator("#chart tr[data-skill='t.fatal'] path.bars").get_attribute("d")
    assert page.evaluate("window.weftMark") == 1 and page.evaluate("window.scrollY") == scrolled
    page.locator("#chart").screenshot(path=str(tmp_path / "dashboard_chart.png"))
    keep_screenshots(tmp_path, "dashboard_chart.png")
