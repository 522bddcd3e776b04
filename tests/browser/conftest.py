"""The browser tier's fixtures: Debian's Chromium driven by Playwright, and a page logged in to a live
server's admin as a superuser."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# What the machine's closed network needs (see the env notes): no background connections at all.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


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


@pytest.fixture
def ops(browser: Browser, live_server: Any) -> Iterator[tuple[Page, str]]:
    """A page logged in to the live server's admin as the superuser ``ops``, and the server's URL."""
    User.objects.create_superuser("ops", "ops@example.com", "pw")
    page = browser.new_page(viewport={"width": 1300, "height": 1100})
    try:
        login(page, live_server.url)
        yield page, live_server.url
    finally:
        # Playwright's sync API switches greenlets, and Django keeps connections per context: the
        # connection this test opened would otherwise outlive it and block dropping the test database.
        connection.close()
