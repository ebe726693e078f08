"""Real-browser fixtures: headless Chromium (Playwright, sync API) and a live test app.

``chromium`` is one browser per test module; ``browser_context`` a fresh
context (cookies, storage) per test.  :class:`LiveApp` serves a Pyramid app
with pyramid_livehub and its widgets over real HTTP (waitress, in a thread),
pointed at a real crossbar node, with:

* ``GET /page?topic=..&field=..`` a page made only of live widgets;
* ``GET /blank`` a page with the loader and nothing else (for page JS);
* ``POST /publish/{topic}`` a view that publishes its JSON body as the event.

Chromium is the Debian one at /usr/bin/chromium: never ``playwright install``.
"""
import json
import threading
import urllib.request

import pytest
from chameleon import PageTemplate
from pyramid.config import Configurator

from pyramid_livehub.testing import launch_chromium


WIDGET_PAGE = PageTemplate('''<!doctype html>
<html><head><meta charset="utf-8"><title>livehub test page</title>
${w.loader(max_retry_delay=0.5)}</head>
<body>
<p>${w.status(id='status')}</p>
<p>${w.value(topic, field=field, id='value', initial='none yet')}</p>
${w.feed(topic, field=field, id='feed', limit=limit)}
</body></html>''')

BLANK_PAGE = PageTemplate('''<!doctype html>
<html><head><meta charset="utf-8"><title>livehub blank page</title>
${w.loader(max_retry_delay=0.5)}</head><body></body></html>''')

#: JS condition: connected and every subscription confirmed on the current session.
SUBSCRIBED = ("window.livehub && livehub.state === 'connected' && "
              "livehub.session.subscriptions.length >= %d && "
              "livehub.session.subscriptions.every(function (s) { return s.active; })")


_shared = {}


def shared_chromium():
    """The process's one Playwright and Chromium, started on first use.

    One per process, not per fixture: every test module that imports the
    ``chromium`` fixture gets its own copy of it, and a second sync
    Playwright cannot start while the first one runs.
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


def widget_page_view(request):
    """A page of live widgets for ``?topic=`` (and ``field``, ``limit``)."""
    body = WIDGET_PAGE(w=request.livehub_widgets,
                       topic=request.params.get('topic', 'demo.test'),
                       field=request.params.get('field') or None,
                       limit=int(request.params.get('limit', '20')))
    request.response.text = body
    return request.response


def blank_page_view(request):
    """Just the loader: tests drive livehub.js from page JS."""
    request.response.text = BLANK_PAGE(w=request.livehub_widgets)
    return request.response


def module_page_view(request):
    """A page that uses the ES module (no plain script tag at all)."""
    request.response.text = '''<!doctype html><html><head><meta charset="utf-8">
<script type="module">
import livehub from '%s';
window.received = [];
const session = await livehub.connect();
await session.subscribe('demo.module', (args, kwargs, details) => {
  window.received.push({args, kwargs, topic: details.topic});
});
window.moduleReady = true;
</script></head><body></body></html>''' % request.static_path('pyramid_livehub:static/livehub.mjs')
    return request.response


def publish_view(request):
    """Publish the JSON body on ``{topic}``; answers once it reached the router."""
    topic = request.matchdict['topic']
    request.livehub.publish(topic, request.json_body)
    request.livehub.flush(5)
    return {'published': topic}


def make_test_app(raw_settings, configure=None):
    """The WSGI app of :class:`LiveApp`; ``configure(config)`` adds more."""
    config = Configurator(settings=dict(raw_settings))
    config.include('pyramid_livehub.widgets')
    config.add_route('page', '/page')
    config.add_view(widget_page_view, route_name='page')
    config.add_route('blank', '/blank')
    config.add_view(blank_page_view, route_name='blank')
    config.add_route('module', '/module')
    config.add_view(module_page_view, route_name='module')
    config.add_route('publish', '/publish/{topic}')
    config.add_view(publish_view, route_name='publish', request_method='POST', renderer='json')
    if configure is not None:
        configure(config)
    return config.make_wsgi_app()


class LiveApp:
    """A Pyramid app served over HTTP from a thread, for the browser to load."""

    def __init__(self, raw_settings, configure=None):
        from waitress import create_server
        self.app = make_test_app(raw_settings, configure)
        self.server = create_server(self.app, host='127.0.0.1', port=0, threads=4)
        self.url = 'http://127.0.0.1:%s' % self.server.effective_port
        self.thread = threading.Thread(target=self.server.run, name='livehub-test-http',
                                       daemon=True)
        self.thread.start()

    @property
    def publisher(self):
        """The app's pyramid_livehub publisher."""
        from pyramid_livehub import get_publisher
        return get_publisher(self.app.registry)

    def publish(self, topic, payload):
        """POST ``payload`` to the publishing view (a real HTTP request)."""
        request = urllib.request.Request(
            self.url + '/publish/' + topic, data=json.dumps(payload).encode('utf-8'),
            headers={'Content-Type': 'application/json'}, method='POST')
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def close(self):
        """Stop serving and close the publisher."""
        self.server.close()
        # Keep-alive connections of the browser keep waitress's loop alive;
        # the thread is a daemon, so do not wait for it long.
        self.thread.join(0.5)
        self.publisher.close(2)


@pytest.fixture
def live_app(router_raw_settings, router):
    """A :class:`LiveApp` pointed at the session's shared router."""
    app = LiveApp(router_raw_settings)
    yield app
    app.close()


def open_widget_page(context, app, topic, field=None, limit=20):
    """Open ``/page`` for ``topic`` and wait until its widgets are subscribed."""
    page = context.new_page()
    query = 'topic=%s&limit=%d' % (topic, limit) + ('&field=%s' % field if field else '')
    page.goto(app.url + '/page?' + query)
    page.wait_for_function(SUBSCRIBED % 2)
    return page
