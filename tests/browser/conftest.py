"""Headless Chromium (Debian's `chromium`) driven by Playwright against the live test server."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    executable = _chromium()
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs Chromium for the browser tests: apt-get install chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    # CI runs the suite on two cores beside a live server: give assertions room, not sleeps.
    expect.set_options(timeout=15_000)

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # around it are plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield _CspWatchingBrowser(instance)
        instance.close()


# Chromium writes "Refused to execute inline script because it violates the following Content
# Security Policy directive …" to the console; every page the tests open is watched for it, and
# the test that caused one fails (issue #9, ADR 0018).
_CSP_VIOLATIONS: list[str] = []


def _watch_console(message: Any) -> None:
    # Files from wenxu.lib.private_files carry their own `default-src 'none'; sandbox`; Chrome's
    # viewer for an image opened on its own styles itself inline, which that policy refuses.
    if "Content Security Policy" in message.text and "'default-src 'none''" not in message.text:
        _CSP_VIOLATIONS.append(f"{message.text} ({message.location.get('url', '')})")


class _CspWatchingBrowser:
    """The Playwright browser, with every new context and page watched for CSP violations."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)

    # Service workers are blocked unless a test allows them (the offline capture's tests): a
    # registered worker fetches and keeps the app shell's pages and files in the background of
    # every signed-in page: about a tenth of the browser tests' time (three modules: 50 -> 45 s),
    # spent on what the offline tests test.
    def new_context(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("service_workers", "block")
        context = self._browser.new_context(*args, **kwargs)
        context.on("console", _watch_console)
        return context

    def new_page(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("service_workers", "block")
        page = self._browser.new_page(*args, **kwargs)
        page.on("console", _watch_console)
        return page


@pytest.fixture(autouse=True)
def _no_csp_violations() -> Iterator[None]:
    _CSP_VIOLATIONS.clear()
    yield
    found, _CSP_VIOLATIONS[:] = list(_CSP_VIOLATIONS), []
    assert not found, "the page broke its Content-Security-Policy:\n" + "\n".join(found)


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
