"""Browser fixtures: Debian's chromium, driven by Playwright, against pytest-flask's live server.

The fixtures are named ``cf_*`` so they coexist with pytest-playwright's (``browser``, ``page``...), which
would want a browser downloaded by ``playwright install``; here there is no download, only
``/usr/bin/chromium``. Without it the tests are skipped, except under ``CI=true`` where they fail.

The live server is another process (forked): data the browser must see is committed (``committed``
fixture, truncated after), and the e-mail job is run by a real worker in the test process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DEFAULT_TIMEOUT_MS = 10_000


class LiveSite:
    """Where the browser reaches the live server, and how links the app builds map onto it."""

    def __init__(self, app: Flask, base_url: str) -> None:
        self.app = app
        self.base_url = base_url.rstrip("/")
        self.public_base_url = app.config["PUBLIC_BASE_URL"].rstrip("/")

    def url(self, path: str) -> str:
        """The live server's address of ``path`` (``/partners``)."""
        return f"{self.base_url}{path}"

    def local(self, public_url: str) -> str:
        """``public_url`` (built from PUBLIC_BASE_URL, as in an e-mail) rewritten onto the live server."""
        assert public_url.startswith(self.public_base_url + "/"), public_url
        return self.base_url + public_url[len(self.public_base_url) :]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """Keep the call-phase report on the item, so ``cf_page`` can save a screenshot of a failure."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.cf_call_report = report  # type: ignore[attr-defined]


@pytest.fixture
def server_name_guard(app: Flask) -> Iterator[None]:
    """pytest-flask's live_server "restores" SERVER_NAME to localhost.localdomain when it was unset,
    which would move every later test client's cookies to that domain. Set up before the live server,
    this puts the real value back after the live server's own teardown."""
    server_name = app.config["SERVER_NAME"]
    yield
    app.config["SERVER_NAME"] = server_name


@pytest.fixture
def cf_site(server_name_guard: None, committed: Any, app: Flask, request: pytest.FixtureRequest) -> LiveSite:
    """The app served over real HTTP by pytest-flask's ``live_server`` (started here, stopped after)."""
    # The server is a fork of this process: a pooled connection it inherited would be shared by both
    # processes and corrupt the protocol. Emptying the pool first gives the child none.
    committed.engine.dispose()
    live_server = request.getfixturevalue("live_server")
    return LiveSite(app, live_server.url(""))


@pytest.fixture
def cf_chromium() -> Path:
    """Debian's chromium: skipped when missing (before any server starts), a failure under CI=true."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def cf_playwright(cf_chromium: Path, cf_site: LiveSite) -> Iterator[Any]:
    """Playwright's sync API, started after the live server so the fork happens without its threads."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def cf_browser(cf_playwright: Any, cf_chromium: Path) -> Iterator[Any]:
    """Debian's chromium, headless; never a browser downloaded by ``playwright install``."""
    browser = cf_playwright.chromium.launch(executable_path=str(cf_chromium), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def cf_locale() -> str:
    """The browser's language (Accept-Language); a test overrides it with ``parametrize`` or a fixture."""
    return "fr-FR"


@pytest.fixture
def cf_page(cf_browser: Any, cf_locale: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh page in its own context (no cookies); a failing test leaves a screenshot in tmp_path."""
    context = cf_browser.new_context(locale=cf_locale)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    yield page
    report = getattr(request.node, "cf_call_report", None)
    if report is not None and report.failed:
        shot = tmp_path / "failure.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failing page: {shot} (at {page.url})")
    context.close()
