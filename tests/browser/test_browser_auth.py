"""livehub.js ticket authentication, in Chromium against a real crossbar node.

When ``config.json`` says ``"auth": {"method": "ticket", "ticket_url": ...}``
livehub.js must GET a fresh ticket (same origin, with cookies) before every
connect and answer the router's ticket challenge with it.  The app side
here is a stub ticket view; the router's browser path accepts only WAMP
ticket auth for one static principal, so a connection proves the ticket
was used.
"""
import pytest

from tests.support.browser import SUBSCRIBED, LiveApp, open_widget_page
from tests.support.services import router_settings
from pyramid_livehub._views import add_client_config
from pyramid_livehub.router import process
from pyramid_livehub.router.process import RouterProcess
from pyramid_livehub.settings import parse_settings

pytestmark = pytest.mark.browser

GOOD_TICKET = 'open-sesame'


def ticket_only_node_config(render, allow_anonymous=False):
    """Wrap ``render_node_config``: the browser WebSocket path takes tickets (only)."""
    def render_with_tickets(settings):
        node = render(settings)
        for transport in node['workers'][0]['transports']:
            if transport.get('id') == 'browsers':
                for path in transport['paths'].values():
                    if path.get('type') == 'websocket':
                        anonymous = path['auth'] if allow_anonymous else {}
                        path['auth'] = dict(anonymous, ticket={'type': 'static', 'principals': {
                            'alice': {'ticket': GOOD_TICKET, 'role': 'anonymous'}}})
        return node
    return render_with_tickets


@pytest.fixture
def ticket_router(tmp_path, monkeypatch):
    """A router whose browser transport refuses anything but alice's ticket."""
    monkeypatch.setattr(process, 'render_node_config',
                        ticket_only_node_config(process.render_node_config))
    raw = router_settings()
    node = RouterProcess(parse_settings(raw), str(tmp_path / 'router'))
    node.start()
    yield raw
    node.stop()


class StubTicketView:
    """Hands out tickets like the real ``/livehub/ticket``: the first one is stale."""

    def __init__(self):
        self.requests = []

    def __call__(self, request):
        self.requests.append(request.cookies.get('session'))
        ticket = 'expired-ticket' if len(self.requests) == 1 else GOOD_TICKET
        return {'authid': 'alice', 'ticket': ticket}

    def include(self, config):
        config.add_route('stub.ticket', '/stub/ticket')
        config.add_view(self, route_name='stub.ticket', renderer='json')
        add_client_config(config, lambda request, settings: {
            'auth': {'method': 'ticket', 'ticket_url': request.route_path('stub.ticket')}})


def test_ticket_is_fetched_before_every_connect_and_a_refused_one_is_retried(
        browser_context, ticket_router):
    tickets = StubTicketView()
    app = LiveApp(ticket_router, configure=tickets.include)
    try:
        browser_context.add_cookies([{'name': 'session', 'value': 'alice-cookie',
                                      'url': app.url}])
        page = open_widget_page(browser_context, app, 'demo.auth.news', field='text')
        # The first (expired) ticket was refused, the second one accepted.
        assert tickets.requests == ['alice-cookie', 'alice-cookie']
        assert page.evaluate('livehub.hub.sessionCount') == 1
        assert page.evaluate('livehub.hub.details.authmethod') == 'ticket'
        assert page.evaluate('livehub.hub.details.authid') == 'alice'

        app.publish('demo.auth.news', {'text': 'for ticket holders'})
        page.wait_for_function("document.querySelector('#value').textContent === "
                               "'for ticket holders'")

        # Drop the WebSocket: the reconnect must fetch a fresh ticket first.
        page.evaluate('livehub.hub.connection._transport.close()')
        page.wait_for_function('livehub.hub.sessionCount === 2')
        page.wait_for_function(SUBSCRIBED % 2)
        assert len(tickets.requests) == 3

        app.publish('demo.auth.news', {'text': 'after reconnect'})
        page.wait_for_function("document.querySelector('#value').textContent === "
                               "'after reconnect'")
    finally:
        app.close()


@pytest.fixture
def ticket_or_anonymous_router(tmp_path, monkeypatch):
    """A router whose browser transport takes alice's ticket or anonymous visitors."""
    monkeypatch.setattr(process, 'render_node_config', ticket_only_node_config(
        process.render_node_config, allow_anonymous=True))
    raw = router_settings()
    node = RouterProcess(parse_settings(raw), str(tmp_path / 'router'))
    node.start()
    yield raw
    node.stop()


def test_visitor_the_ticket_view_calls_anonymous_connects_as_anonymous(
        browser_context, ticket_or_anonymous_router):
    asked = []

    def anonymous_ticket_view(request):
        asked.append(True)
        request.response.status = 403
        return {'anonymous': True}

    def include(config):
        config.add_route('stub.ticket', '/stub/ticket')
        config.add_view(anonymous_ticket_view, route_name='stub.ticket', renderer='json')
        add_client_config(config, lambda request, settings: {
            'auth': {'method': 'ticket', 'ticket_url': '/stub/ticket'}})

    app = LiveApp(ticket_or_anonymous_router, configure=include)
    try:
        page = open_widget_page(browser_context, app, 'demo.auth.public', field='text')
        assert asked == [True]
        assert page.evaluate('livehub.hub.details.authmethod') == 'anonymous'
        app.publish('demo.auth.public', {'text': 'for everyone'})
        page.wait_for_function("document.querySelector('#value').textContent === "
                               "'for everyone'")
    finally:
        app.close()


def test_page_without_widgets_fetches_no_ticket(browser_context):
    tickets = StubTicketView()
    app = LiveApp(router_settings(), configure=tickets.include)  # no router needed
    try:
        page = browser_context.new_page()
        page.goto(app.url + '/blank')
        config = page.evaluate("fetch('/livehub/config.json').then(r => r.json())")
        assert config['auth'] == {'method': 'ticket', 'ticket_url': '/stub/ticket'}
        assert tickets.requests == []  # the blank page has no widgets: nothing connects
    finally:
        app.close()
