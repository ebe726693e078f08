"""A page whose AutobahnJS is missing says so, in real Chromium.

The app serves livehub.js from a static folder without ``vendor/`` (as after
``pip install`` when nobody copied AutobahnJS in), so the real Pyramid static
view answers 404 for ``vendor/autobahn.min.js``.
"""
import os
import shutil
import time

import pytest

import pyramid_livehub
from tests.support.browser import LiveApp

pytestmark = pytest.mark.browser

PAGE = '''<!doctype html>
<html><head><meta charset="utf-8"><title>no AutobahnJS</title>
<script>
  window.errors = [];
  document.addEventListener('livehub:error', e => window.errors.push(e.detail));
</script>
<script src="/broken/vendor/autobahn.min.js"></script>
<script src="/broken/livehub.js" data-config-url="/livehub/config.json"></script>
</head><body><p>%s</p></body></html>'''

MISSING = "document.querySelector('#status').dataset.error === 'autobahn_missing'"


@pytest.fixture
def broken_app(router, router_raw_settings, tmp_path):
    """A LiveApp whose ``/broken/`` static folder has livehub.js and no vendor/."""
    static = os.path.join(os.path.dirname(pyramid_livehub.__file__), 'static', 'livehub.js')
    shutil.copy(static, tmp_path / 'livehub.js')

    def page_view(request):
        request.response.text = PAGE % request.livehub_widgets.status(id='status')
        return request.response

    def configure(config):
        config.add_static_view('broken', str(tmp_path))
        config.add_route('no_autobahn', '/no-autobahn')
        config.add_view(page_view, route_name='no_autobahn')

    app = LiveApp(router_raw_settings, configure=configure)
    yield app
    app.close()


def _wait_for_console_error(messages, needle, timeout=15.0):
    """The first console error containing ``needle`` (Playwright delivers them asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in messages if needle in m]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError('no console error with %r; console errors: %r' % (needle, messages))


def test_missing_autobahn_is_reported_with_the_fix(browser_context, broken_app):
    page = browser_context.new_page()
    console_errors = []
    page.on('console', lambda m: console_errors.append(m.text) if m.type == 'error' else None)
    page.goto(broken_app.url + '/no-autobahn')

    # The widget autostart connects; the status badge says what is wrong.
    page.wait_for_function(MISSING, timeout=20000)
    status = page.locator('#status')
    assert status.get_attribute('data-state') == 'offline'
    assert 'AutobahnJS missing' in status.inner_text()
    assert 'make install' in status.get_attribute('title')

    detail = page.evaluate('({code: errors[0].code, message: errors[0].message})')
    assert detail['code'] == 'autobahn_missing'
    message = detail['message']
    assert '/broken/vendor/autobahn.min.js answered HTTP 404' in message
    for fix in ('make install', 'npm install autobahn-browser', 'static/vendor/',
                'livehub.configure({autobahnUrl'):
        assert fix in message, fix
    assert message in _wait_for_console_error(console_errors, 'AutobahnJS is missing')

    # connect() rejects with the same error instead of never settling.
    assert page.evaluate("livehub.connect().then(() => 'connected', e => e.code)") == (
        'autobahn_missing')


def test_page_connects_once_autobahn_is_there(browser_context, broken_app):
    page = browser_context.new_page()
    page.goto(broken_app.url + '/no-autobahn')
    page.wait_for_function(MISSING, timeout=20000)

    # The page loads AutobahnJS by other means and connects again: the error is gone.
    page.add_script_tag(url='/livehub/static/vendor/autobahn.min.js')
    assert page.evaluate("livehub.connect().then(() => livehub.state)") == 'connected'
    page.wait_for_function("document.querySelector('#status').dataset.state === 'connected'",
                           timeout=20000)
    assert page.locator('#status').get_attribute('data-error') is None
    assert page.locator('#status').inner_text() == 'connected'
