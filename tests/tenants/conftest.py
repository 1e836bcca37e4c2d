"""Fixtures of the tenant admin tests: a headless Chromium for the admin's browser test (the same Debian chromium and
Playwright set-up as tests/registry/web/conftest.py; test modules never import a conftest, so it is repeated here
rather than shared by import)."""

from __future__ import annotations

import os

import pytest

CHROMIUM = (
    "/usr/bin/chromium"  # Debian's package (.ci/run installs it); Playwright's own download is never used
)
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session; each test opens its own contexts (cookies do not leak).

    Playwright's sync API keeps an asyncio loop registered in this thread and Django refuses ORM calls from such a
    thread; the test thread stays synchronous (Playwright switches greenlets), so Django's documented escape hatch
    is safe here, for the browser session only."""
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_context(chromium, live_server):
    """`browser_context()` → a fresh context on the live server. The server threads' database connections must not
    outlive a request (CONN_MAX_AGE 0): one still open at the end makes dropping the test database fail."""
    from django.db import connections

    database = connections.settings["default"]
    previous = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    contexts = []

    def make():
        context = chromium.new_context(base_url=live_server.url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    database["CONN_MAX_AGE"] = previous
