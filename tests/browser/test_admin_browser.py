"""The admin as an operator uses it, in Debian's Chromium driven by Playwright: log in, read why a job
ended as it did, cancel a waiting job with the admin action."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from playwright.sync_api import Browser, Page, sync_playwright

from weft_django import service
from weft_django.execution.runner import execute
from weft_django.models import Job, Task

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# What the machine's closed network needs (see the env notes): no background connections at all.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
INPROC = "weft-inprocess-tests"  # no worker consumes it: this test runs the task itself


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test itself are
    # plain synchronous code and safe here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


def login(page: Page, base: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_selector("text=Site administration")


def test_admin_browser__explains_a_job_and_cancels_another(browser: Browser, live_server: Any,
                                                          tmp_path: Path) -> None:
    try:
        run_operator_session(browser, live_server.url, tmp_path)
    finally:
        # Playwright's sync API switches greenlets, and Django keeps connections per context: the
        # connection this test opened would otherwise outlive it and block dropping the test database.
        connection.close()


def run_operator_session(browser: Browser, base: str, tmp_path: Path) -> None:
    User.objects.create_superuser("ops", "ops@example.com", "pw")
    flaky = service.submit("t.flaky", {"succeed_on": 2}, queue=INPROC)
    task = Task.objects.get(job=flaky)
    execute(task.pk, 0)  # attempt 1 fails and is retried
    execute(task.pk, 1)  # attempt 2 succeeds
    waiting = service.submit("t.noop", queue=INPROC, name="waiting-job")

    page = browser.new_page(viewport={"width": 1300, "height": 1100})
    login(page, base)

    page.goto(f"{base}/admin/weft/job/{flaky.pk}/change/")
    explanation = page.locator(".field-explanation pre")
    assert "succeeded" in explanation.inner_text()
    assert "attempt 1 of 5 failed with ConnectionError; retrying in" in explanation.inner_text()
    assert page.locator("select, textarea").count() == 0  # a view, not a form
    page.screenshot(path=str(tmp_path / "job.png"), full_page=True)

    page.goto(f"{base}/admin/weft/job/")
    page.check(f"input[name=_selected_action][value='{waiting.pk}']")
    page.select_option("select[name=action]", "cancel_jobs")
    page.click("button[name=index]")
    page.wait_for_selector("text=1 job cancelled.")
    page.screenshot(path=str(tmp_path / "jobs.png"), full_page=True)
    if os.environ.get("WEFT_SCREENSHOTS"):
        for name in ("job.png", "jobs.png"):
            shutil.copy(tmp_path / name, Path(os.environ["WEFT_SCREENSHOTS"]) / name)

    assert Job.objects.get(pk=waiting.pk).status == "cancelled"
    assert Task.objects.get(job=waiting).status == "cancelled"
