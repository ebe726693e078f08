"""Test your own app without a router: ``config.include('pyramid_livehub.testing')``.

Like ``pyramid_mailer.testing``: the publisher is replaced by a
:class:`RecordingPublisher` whose ``outbox`` lists every event that would
have been published (after the transaction, when there is one)::

    config.include('pyramid_livehub.testing')
    ...
    outbox = get_publisher(request.registry).outbox
    assert outbox[0].topic == 'app.orders.created'

For tests against a real router, :func:`join_as_browser` opens a session
on the browser WebSocket the way ``livehub.js`` does, to check what your
topic rules let a user or an anonymous visitor do.
"""
import asyncio
import collections
import os
from urllib.parse import urlsplit

from pyramid_livehub.codec import prepare_event
from pyramid_livehub.interfaces import IPublisherFactory
from pyramid_livehub.publisher import PublisherStats
from pyramid_livehub.settings import LivehubSettings, parse_settings

RecordedEvent = collections.namedtuple('RecordedEvent', 'topic args kwargs')


class RecordingPublisher:
    """A publisher that records events in ``outbox`` instead of sending them."""

    def __init__(self, settings):
        if not isinstance(settings, LivehubSettings):
            settings = parse_settings(settings)
        self.settings = settings
        self.outbox = []
        self.stats = PublisherStats()

    def publish(self, topic, *args, **kwargs):
        """Check and record, like ``Publisher.publish``."""
        args, kwargs = prepare_event(topic, args, kwargs)
        self.enqueue(topic, args, kwargs)

    def enqueue(self, topic, args, kwargs):
        """Record an already checked event."""
        self.outbox.append(RecordedEvent(topic, list(args), dict(kwargs)))
        self.stats.queued += 1
        self.stats.sent += 1

    def flush(self, timeout=0):
        """Nothing to wait for."""
        return True

    def connect(self, timeout=0.0):
        """Always connected."""
        return True

    def pending(self):
        """Nothing ever waits."""
        return 0

    def close(self, timeout=None):
        """Nothing to close."""

    connected = True


class JoinRefused(Exception):
    """The router did not let a browser-like session join (``reason``, ``message``)."""

    def __init__(self, reason, message=None):
        super().__init__('%s: %s' % (reason, message))
        self.reason = reason
        self.message = message


async def join_as_browser(url, realm, authid=None, ticket=None, origin=None, timeout=10):
    """Join ``realm`` at the browser WebSocket ``url`` like livehub.js does.

    WAMP-Ticket as ``authid`` with ``ticket`` (see
    :func:`pyramid_livehub.security.issue_ticket`) when a ticket is given,
    else anonymous; ``origin`` sets the Origin header.  Returns the joined
    asyncio Autobahn session; raises :class:`JoinRefused` with the router's
    reason when the join is refused or the connection fails.  Runs on the
    caller's asyncio loop.
    """
    from autobahn.asyncio.wamp import ApplicationSession
    from autobahn.asyncio.websocket import WampWebSocketClientFactory
    from autobahn.wamp.types import ComponentConfig

    loop = asyncio.get_running_loop()
    joined = loop.create_future()

    class BrowserLikeSession(ApplicationSession):
        def onConnect(self):
            if ticket is None:
                self.join(realm, authmethods=['anonymous'])
            else:
                self.join(realm, authmethods=['ticket'], authid=authid)

        def onChallenge(self, challenge):
            return ticket

        def onJoin(self, details):
            if not joined.done():
                joined.set_result(self)

        def onLeave(self, details):
            if not joined.done():
                joined.set_exception(JoinRefused(details.reason, details.message))
            self.disconnect()

        def onDisconnect(self):
            if not joined.done():
                joined.set_exception(JoinRefused('disconnected'))

    parts = urlsplit(url)
    factory = WampWebSocketClientFactory(
        lambda: BrowserLikeSession(ComponentConfig(realm)), url=url, origin=origin)
    try:
        await loop.create_connection(factory, parts.hostname, parts.port)
    except OSError as exc:
        raise JoinRefused('connection failed', str(exc)) from None
    return await asyncio.wait_for(joined, timeout)


def launch_chromium(playwright, **options):
    """Launch the system's headless Chromium with Playwright (sync or async API).

    Uses ``$LIVEHUB_CHROMIUM`` or ``/usr/bin/chromium`` (the Debian package)
    instead of a browser Playwright downloads, with the flags that let it run
    as root in a container without a display.  ``options`` go to ``launch()``.
    """
    options.setdefault('executable_path', os.environ.get('LIVEHUB_CHROMIUM',
                                                         '/usr/bin/chromium'))
    options.setdefault('args', ['--headless', '--no-sandbox', '--disable-gpu',
                                '--no-first-run', '--disable-background-networking',
                                '--disable-component-update', '--disable-sync'])
    return playwright.chromium.launch(**options)


def includeme(config):
    """Include pyramid_livehub with the recording publisher (the :class:`IPublisherFactory`)."""
    config.include('pyramid_livehub')
    config.registry.registerUtility(RecordingPublisher, IPublisherFactory)
