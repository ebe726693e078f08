"""Real-browser fixtures: headless Chromium (Playwright, sync API) and a live test app.

``chromium`` is one browser per test module; ``browser_context`` a fresh
context (cookies, storage) per test; ``live_app`` a
:class:`tests.support.browser.LiveApp` on the session's shared router.

Chromium is the Debian one at /usr/bin/chromium: never ``playwright install``.
"""
import pytest

from pyramid_livehub.testing import launch_chromium
from tests.support.browser import LiveApp

_shared = {}


def shared_chromium():
    """The process's one Playwright and Chromium, started on first use.

    A second sync Playwright cannot start while the first one runs, so the
    browser is kept here rather than in the fixture's frame.
    """
    if 'browser' not in _shared:
        from playwright.sync_api import sync_playwright
        playwright = sync_playwright().start()
        _shared['playwright'] = playwright
        _shared['browser'] = launch_chromium(playwright)
    return _shared['browser']


def close_shared_chromium():
    """Close Chromium and stop Playwright (idempotent)."""
    browser = _shared.pop('browser', None)
    playwright = _shared.pop('playwright', None)
    if browser is not None:
        browser.close()
    if playwright is not None:
        playwright.stop()


@pytest.fixture(scope='module')
def chromium():
    """A headless Chromium for the test module.

    Module, not session, scope: while a sync Playwright runs, the test
    thread has a running asyncio loop, and other modules' tests may want
    ``asyncio.run()``.
    """
    yield shared_chromium()
    close_shared_chromium()


@pytest.fixture
def browser_context(chromium):
    """A fresh browser context (own cookies) for one test."""
    context = chromium.new_context()
    context.set_default_timeout(15000)
    yield context
    context.close()


@pytest.fixture
def live_app(router_raw_settings, router):
    """A :class:`LiveApp` pointed at the session's shared router."""
    app = LiveApp(router_raw_settings)
    yield app
    app.close()
