"""Ticket refresh against the real ticket view and the router's real authenticator (no stubs).

A logged-in page (signed auth_tkt cookie, ``/livehub/ticket`` of
:mod:`pyramid_livehub.security.views`) connects with a short-lived ticket;
once that ticket has expired the router restarts, and the page must come
back with a fresh one.  A page whose app signs tickets with another secret
than the router's must be told the ticket was refused, and why.
"""
import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pyramid_livehub.router.auth import READY_MESSAGE
from pyramid_livehub.router.process import RouterProcess
from pyramid_livehub.settings import parse_settings
from pyramid_livehub.testing import JoinRefused, join_as_browser
from tests.support.auth import configure_login
from tests.support.bridges import wait_for_log
from tests.support.browser import SUBSCRIBED, LiveApp
from tests.support.services import router_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SECRET = 'tR4-yU8iO2pA6sD0fG3hJ7kL1zX5cV9bN_mQ'
OTHER_SECRET = 'Zx9-cV3bN7mQ1wE5rT8yU2iO6pA0sD4fG_hJ'
TTL = 5  # the smallest livehub.ticket_ttl allowed
START_TIMEOUT = 120  # crossbar takes long to start on a busy machine


@pytest.fixture
def auth_router(tmp_path):
    """Raw settings and a private router with auth on and ``TTL``-second tickets."""
    raw = router_settings(**{'livehub.auth': 'true', 'livehub.ticket_secret': SECRET,
                             'livehub.ticket_ttl': str(TTL)})
    node = RouterProcess(parse_settings(raw), str(tmp_path / 'router'))
    node.start(wait_for_log=READY_MESSAGE, timeout=START_TIMEOUT)
    yield raw, node
    node.stop()


def ticket_requests(page):
    """A list that collects the page's responses from ``/livehub/ticket``."""
    responses = []
    page.on('response', lambda response: responses.append(response)
            if '/livehub/ticket' in response.url else None)
    return responses


def join_refusal(settings, authid, ticket):
    """The router's refusal of ``ticket`` (a :class:`JoinRefused`), or None if it joins."""
    async def attempt():
        try:
            session = await join_as_browser(settings.browser_url, settings.realm, authid, ticket)
        except JoinRefused as refused:
            return refused
        session.leave()
        return None
    # Not on the test's thread: Playwright's sync API keeps an event loop there.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(attempt(), 30)).result()


def wait_until_refused_as_expired(settings, authid, ticket, timeout=60):
    """Poll the router with ``ticket`` until it refuses it as expired."""
    deadline = time.monotonic() + timeout
    while True:
        refused = join_refusal(settings, authid, ticket)
        if refused is not None:
            assert refused.reason == 'livehub.error.ticket_refused', refused
            assert 'expired' in (refused.message or ''), refused
            return
        assert time.monotonic() < deadline, 'the ticket was still accepted after %ss' % timeout
        time.sleep(0.5)


def test_page_reconnects_with_a_fresh_ticket_from_the_real_view_after_its_ticket_expired(
        browser_context, auth_router):
    raw, node = auth_router
    app = LiveApp(raw, configure_login)
    try:
        page = browser_context.new_page()
        tickets = ticket_requests(page)
        page.goto(app.url + '/login?user=alice')
        page.goto(app.url + '/page?topic=app.user.alice.feed&field=text')
        page.wait_for_function(SUBSCRIBED % 2)
        assert page.evaluate('livehub.hub.details.authid') == 'alice'
        assert page.evaluate('livehub.hub.details.authrole') == 'user'
        first = tickets[0].json()
        assert len(tickets) == 1 and first['expires_in'] == TTL

        # The ticket the page connected with is now refused by the router.
        wait_until_refused_as_expired(node.settings, 'alice', first['ticket'])
        accepted_before = node.log_text().count("accepted ticket of 'alice'")

        node.stop()
        page.wait_for_function("document.querySelector('#status').dataset.state === "
                               "'reconnecting'")
        node.start(wait_for_log=READY_MESSAGE, timeout=START_TIMEOUT)
        page.wait_for_function(SUBSCRIBED % 2, timeout=30000)
        assert page.evaluate('livehub.hub.sessionCount') == 2
        assert page.evaluate('livehub.hub.details.authid') == 'alice'
        # Fresh tickets from the real view (one per attempt while the router was down).
        fresh = [response.json()['ticket'] for response in tickets[1:]]
        assert fresh and first['ticket'] not in fresh
        assert node.log_text().count("accepted ticket of 'alice'") > accepted_before

        app.publish('app.user.alice.feed', {'text': 'after the restart'})
        page.wait_for_function("document.querySelector('#value').textContent === "
                               "'after the restart'")
    finally:
        app.close()


def test_page_whose_ticket_the_router_refuses_reports_the_refusal_and_its_reason(
        browser_context, auth_router):
    raw, node = auth_router
    # The app's secret was changed, the router's was not: every ticket is refused.
    app = LiveApp(dict(raw, **{'livehub.ticket_secret': OTHER_SECRET}), configure_login)
    try:
        page = browser_context.new_page()
        tickets = ticket_requests(page)
        page.goto(app.url + '/login?user=alice')
        page.goto(app.url + '/page?topic=app.user.alice.feed&field=text')
        page.wait_for_function('livehub.hub.lastError && '
                               '/ticket_refused/.test(livehub.hub.lastError.message)')
        message = page.evaluate('livehub.hub.lastError.message')
        assert 'livehub.error.ticket_refused' in message and 'bad signature' in message, message
        assert page.evaluate('livehub.hub.sessionCount') == 0
        assert page.get_attribute('#status', 'data-state') != 'connected'
        # It keeps trying, each time with a fresh ticket from the view.
        page.wait_for_function('livehub.hub._retryCount >= 2')
        assert len(tickets) >= 2 and all(r.status == 200 for r in tickets)
        wait_for_log(node, ['refused ticket', 'bad signature'])  # relayed by the controller
    finally:
        app.close()
