"""The admin as an operator uses it, in Debian's Chromium driven by Playwright: log in, read why a job
ended as it did, cancel a waiting job with the admin action."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page

from weft_django import service
from weft_django.execution.runner import execute
from weft_django.models import Job, Task

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INPROC = "weft-inprocess-tests"  # no worker consumes it: this test runs the task itself


def test_admin_browser__explains_a_job_and_cancels_another(ops: tuple[Page, str], tmp_path: Path) -> None:
    page, base = ops
    flaky = service.submit("t.flaky", {"succeed_on": 2}, queue=INPROC)
    task = Task.objects.get(job=flaky)
    execute(task.pk, 0)  # attempt 1 fails and is retried
    execute(task.pk, 1)  # attempt 2 succeeds
    waiting = service.submit("t.noop", queue=INPROC, name="waiting-job")

    page.goto(f"{base}/admin/weft/job/{flaky.pk}/change/")
    explanation = page.locator(".field-explanation pre")
    assert "succeeded" in explanation.inner_text()
    assert "attempt 1 of 5 failed with ConnectionError; retrying in" in explanation.inner_text()
    assert page.locator("select, textarea").count() == 0  # a view, not a form
    page.screenshot(path=str(tmp_path / "job.png"), full_page=True)

    admin_action(page, f"{base}/admin/weft/job/", waiting.pk, "cancel_jobs", "1 job cancelled.")
    page.screenshot(path=str(tmp_path / "jobs.png"), full_page=True)
    keep_screenshots(tmp_path, "job.png", "jobs.png")

    assert Job.objects.get(pk=waiting.pk).status == "cancelled"
    assert Task.objects.get(job=waiting).status == "cancelled"


def test_admin_browser__the_dashboard_refreshes_and_an_approval_from_the_task_list_shows(
        ops: tuple[Page, str], tmp_path: Path) -> None:
    page, base = ops
    first = Task.objects.get(job=service.submit("t.guarded", {"n": 1}, queue=INPROC))

    page.goto(f"{base}/weft/")
    assert page.locator("#awaiting-count").inner_text() == "1"
    assert str(first.pk) in page.locator("#awaiting").inner_text()
    # Work that arrives while the page is open shows without a click, in place: the page is not loaded again
    # (a mark left on it survives) and keeps where it was scrolled to.
    page.evaluate("window.weftMark = 1; window.scrollTo(0, 120)")
    scrolled = page.evaluate("window.scrollY")
    second = Task.objects.get(job=service.submit("t.guarded", {"n": 2}, queue=INPROC))
    page.wait_for_function("document.querySelector('#awaiting-count').innerText === '2'", timeout=15_000)
    assert page.evaluate("window.weftMark") == 1
    assert page.evaluate("window.scrollY") == scrolled
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    # An approver approves one from the task list; the dashboard then shows one left.
    admin_action(page, f"{base}/admin/weft/task/?status__exact=blocked", second.pk, "approve_tasks",
                 "1 task approved.")
    assert Task.objects.get(pk=second.pk).status == "queued"
    page.goto(f"{base}/weft/")
    assert page.locator("#awaiting-count").inner_text() == "1"
    keep_screenshots(tmp_path, "dashboard.png")


def admin_action(page: Page, changelist: str, pk: int, action: str, done: str) -> None:
    """Select row ``pk`` on an admin change list, run ``action`` on it, wait for the message ``done``."""
    page.goto(changelist)
    page.check(f"input[name=_selected_action][value='{pk}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    page.wait_for_selector(f"text={done}")


def keep_screenshots(tmp_path: Path, *names: str) -> None:
    if os.environ.get("WEFT_SCREENSHOTS"):
        for name in names:
            shutil.copy(tmp_path / name, Path(os.environ["WEFT_SCREENSHOTS"]) / name)
