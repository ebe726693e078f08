"""Ticket auth in a real headless Chromium: Pyramid login -> /livehub/ticket -> crossbar.

The app logs users in with Pyramid's ``AuthTktCookieHelper`` (a real signed
cookie); livehub.js fetches a ticket with that cookie and connects with
WAMP-Ticket; the router's authenticator and authorizer decide.
"""
import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from pyramid_livehub.router.auth import READY_MESSAGE
from pyramid_livehub.router.process import RouterProcess
from pyramid_livehub.settings import parse_settings
from pyramid_livehub.testing import launch_chromium

from tests.support.auth import configure_login
from tests.support.bridges import wait_for_log
from tests.support.browser import LiveApp
from tests.support.services import router_settings

SECRET = 'bW5-nQ1xR7tY3uI9oP2aS6dF0gH4jK8lZ_cV'


@pytest.fixture(scope='module')
def secure_app(tmp_path_factory):
    """A crossbar node with auth on and a logged-in-capable app pointed at it."""
    raw = router_settings(**{
        'livehub.auth': 'true',
        'livehub.ticket_secret': SECRET,
        'livehub.publish_user': 'client.**',
        'livehub.ticket_cookie': 'auth_tkt',
    })
    node = RouterProcess(parse_settings(raw), str(tmp_path_factory.mktemp('secure-browser')))
    node.start(wait_for_log=READY_MESSAGE)
    app = LiveApp(raw, configure_login)
    app.node = node
    yield app
    app.close()
    node.stop()



class BrowserThread:
    """Headless Chromium driven from a thread of its own.

    Playwright's sync API refuses to start while another sync Playwright
    (the one of tests/browser/conftest.py) is active in the same thread, so these
    tests run theirs in a dedicated thread: ``run(fn)`` calls ``fn(browser)``
    there and returns its result (or raises its exception).
    """

    def __init__(self):
        self.executor = ThreadPoolExecutor(1, thread_name_prefix='security-chromium')
        self.executor.submit(self._start).result(60)

    def _start(self):
        from playwright.sync_api import sync_playwright
        self.playwright = sync_playwright().start()
        self.browser = launch_chromium(self.playwright)

    def _stop(self):
        self.browser.close()
        self.playwright.stop()

    def run(self, fn, timeout=90):
        return self.executor.submit(fn, self.browser).result(timeout)

    def close(self):
        self.executor.submit(self._stop).result(30)
        self.executor.shutdown()


@pytest.fixture(scope='module')
def chrome():
    thread = BrowserThread()
    yield thread
    thread.close()


def in_context(chrome, scenario):
    """Run ``scenario(context)`` in a fresh browser context (own cookies)."""
    def run(browser):
        context = browser.new_context()
        context.set_default_timeout(15000)
        try:
            return scenario(context)
        finally:
            context.close()
    return chrome.run(run)


def open_page(context, app, user=None):
    page = context.new_page()
    console = []
    page.on('console', lambda message: console.append(message.text))
    if user:
        page.goto(app.url + '/login?user=' + user)
    page.goto(app.url + '/blank')
    page.evaluate('() => { livehub.connect(); }')
    try:
        page.wait_for_function("livehub.state === 'connected'", timeout=10000)
    except Exception:
        pytest.fail('the page did not connect (%s); browser console: %s'
                    % (user or 'anonymous', ' | '.join(console[-3:])))
    return page


SUBSCRIBE = '''topic => livehub.session.subscribe(topic, (args) => {
        (window.received = window.received || []).push(args[0]);
    }).then(sub => 'subscribed', err => err.error || String(err))'''


def test_logged_in_page_receives_its_private_topic(chrome, secure_app):
    def scenario(context):
        page = open_page(context, secure_app, 'alice')
        assert page.evaluate(SUBSCRIBE, 'app.user.alice.inbox') == 'subscribed'
        secure_app.publish('app.user.alice.inbox', {'for': 'alice'})
        page.wait_for_function('window.received && window.received.length === 1')
        return page.evaluate('window.received')
    assert in_context(chrome, scenario) == [{'for': 'alice'}]
    wait_for_log(secure_app.node, ["accepted ticket of 'alice'"])


def test_anonymous_page_connects_but_cannot_subscribe_to_a_private_topic(chrome, secure_app):
    def scenario(context):
        page = open_page(context, secure_app)
        return (page.evaluate(SUBSCRIBE, 'app.user.alice.inbox'),
                page.evaluate(SUBSCRIBE, 'demo.public'))
    assert in_context(chrome, scenario) == ('wamp.error.not_authorized', 'subscribed')


def test_user_cannot_subscribe_to_another_users_topic(chrome, secure_app):
    def scenario(context):
        bob = open_page(context, secure_app, 'bob')
        assert bob.evaluate(SUBSCRIBE, 'app.user.alice.inbox') == 'wamp.error.not_authorized'
        assert bob.evaluate(SUBSCRIBE, 'app.user.bob.inbox') == 'subscribed'
        secure_app.publish('app.user.alice.inbox', {'for': 'alice'})
        secure_app.publish('app.user.bob.inbox', {'for': 'bob'})
        # The marker: alice's event, had it been let through, comes before it.
        secure_app.publish('app.user.bob.inbox', {'for': 'marker'})
        bob.wait_for_function('window.received && window.received.length >= 2')
        return bob.evaluate('window.received')
    assert in_context(chrome, scenario) == [{'for': 'bob'}, {'for': 'marker'}]


def test_browser_publish_to_server_topic_is_refused_and_client_topic_accepted(chrome, secure_app):
    publish = '''topic => livehub.session.publish(topic, ['hi'], {}, {acknowledge: true})
        .then(() => 'published', err => err.error || String(err))'''

    def scenario(context):
        page = open_page(context, secure_app, 'alice')
        return (page.evaluate(publish, 'app.orders.created'),
                page.evaluate(publish, 'client.chat.room1'))
    assert in_context(chrome, scenario) == ('wamp.error.not_authorized', 'published')


def test_ticket_used_in_another_browser_without_the_session_cookie_is_refused(chrome, secure_app):
    """A ticket bound to alice's auth_tkt cookie does not work on a WebSocket without it."""
    def fetch_ticket(context):
        page = open_page(context, secure_app, 'alice')
        return page.evaluate('''() => fetch('/livehub/ticket', {credentials: 'same-origin'})
            .then(r => r.json())''')

    def use_elsewhere(context):
        page = context.new_page()
        page.goto(secure_app.url + '/blank')
        page.evaluate('''() => window.autobahn || new Promise((resolve, reject) => {
            const tag = document.createElement('script');
            tag.src = '/livehub/static/vendor/autobahn.min.js';
            tag.onload = resolve; tag.onerror = reject;
            document.head.appendChild(tag);
        })''')
        config = json.loads(urllib.request.urlopen(secure_app.url + '/livehub/config.json').read())
        return page.evaluate('''([config, ticket]) => new Promise(resolve => {
            const connection = new autobahn.Connection({url: config.url, realm: config.realm,
                authmethods: ['ticket'], authid: ticket.authid, max_retries: 0,
                onchallenge: () => ticket.ticket});
            connection.onopen = () => resolve('joined');
            connection.onclose = (reason, details) => { resolve(details.reason || reason);
                                                        return true; };
            connection.open();
        })''', [config, ticket])

    ticket = in_context(chrome, fetch_ticket)
    assert ticket['authid'] == 'alice'
    assert in_context(chrome, use_elsewhere) == 'livehub.error.ticket_refused'
    # The worker's log line reaches node.log through the controller, maybe after the refusal
    wait_for_log(secure_app.node, ["ticket is bound to the 'auth_tkt' cookie"])
