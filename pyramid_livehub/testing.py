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
import os
from typing import Any, Mapping, NamedTuple, Sequence
from urllib.parse import urlsplit

from pyramid_livehub._codec import prepare_event
from pyramid_livehub.interfaces import IPublisherFactory
from pyramid_livehub.publisher import PublisherStats
from pyramid_livehub.settings import LivehubSettings, parse_settings



class RecordedEvent(NamedTuple):
    """One event in :attr:`RecordingPublisher.outbox`."""

    topic: str
    args: list[Any]
    kwargs: dict[str, Any]


class RecordingPublisher:
    """A publisher that records events in ``outbox`` instead of sending them."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        if not isinstance(settings, LivehubSettings):
            settings = parse_settings(settings)
        self.settings: LivehubSettings = settings
        #: Every recorded event, oldest first.
        self.outbox: list[RecordedEvent] = []
        self.stats = PublisherStats()

    def publish(self, topic: str, *args: Any, **kwargs: Any) -> None:
        """Check and record, like ``Publisher.publish``."""
        payload, named = prepare_event(topic, args, kwargs,
                                       serializer=self.settings['serializer'])
        self.enqueue(topic, payload, named)

    def enqueue(self, topic: str, args: Sequence[Any], kwargs: Mapping[str, Any],
                block: bool = True) -> None:
        """Record an already checked event (nothing is ever full: ``block`` does not matter)."""
        self.outbox.append(RecordedEvent(topic, list(args), dict(kwargs)))
        self.stats.queued += 1
        self.stats.sent += 1
        self.stats.acked += 1

    def flush(self, timeout: float = 0) -> bool:
        """Nothing to wait for."""
        return True

    def connect(self, timeout: float = 0.0) -> bool:
        """Always connected."""
        return True

    def pending(self) -> int:
        """Nothing ever waits."""
        return 0

    def history(self, topic: str, limit: int | None = None, since: int | None = None,
                timeout: float = 0) -> dict[str, Any]:
        """The recorded events of ``topic`` as the router would return them (offsets from 1)."""
        events = [{'offset': n, 'args': e.args, 'kwargs': e.kwargs, 'msgid': None,
                   'time': None}
                  for n, e in enumerate((e for e in self.outbox if e.topic == topic), 1)]
        last = len(events)
        if since is not None:
            events = events[since:]
            if limit is not None:
                events = events[:limit]
        elif limit is not None:
            events = events[-limit:] if limit else []
        return {'epoch': 'testing', 'events': events, 'complete': True, 'first': 1,
                'last': last}

    def position(self, topic: str, timeout: float = 0) -> dict[str, Any]:
        """``{"epoch": "testing", "offset": <recorded events of topic>}``."""
        return {'epoch': 'testing', 'offset': sum(1 for e in self.outbox if e.topic == topic)}

    def close(self, timeout: float | None = None) -> None:
        """Nothing to close."""

    connected = True


class JoinRefused(Exception):
    """The router did not let a browser-like session join (``reason``, ``message``)."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__('%s: %s' % (reason, message))
        self.reason = reason
        self.message = message


async def join_as_browser(url: str, realm: str, authid: str | None = None,
                          ticket: str | None = None, origin: str | None = None,
                          timeout: float = 10) -> Any:
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
    joined: asyncio.Future[Any] = loop.create_future()

    class BrowserLikeSession(ApplicationSession):
        def onConnect(self) -> None:
            if ticket is None:
                self.join(realm, authmethods=['anonymous'])
            else:
                self.join(realm, authmethods=['ticket'], authid=authid)

        def onChallenge(self, challenge: Any) -> str | None:
            return ticket

        def onJoin(self, details: Any) -> None:
            if not joined.done():
                joined.set_result(self)

        def onLeave(self, details: Any) -> None:
            if not joined.done():
                joined.set_exception(JoinRefused(details.reason, details.message))
            self.disconnect()

        def onDisconnect(self) -> None:
            if not joined.done():
                joined.set_exception(JoinRefused('disconnected'))

    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError('%r has no host; expected e.g. ws://127.0.0.1:8080/ws' % url)
    port = parts.port or (443 if parts.scheme == 'wss' else 80)
    factory = WampWebSocketClientFactory(
        lambda: BrowserLikeSession(ComponentConfig(realm)), url=url, origin=origin)
    try:
        await loop.create_connection(factory, parts.hostname, port)
    except OSError as exc:
        raise JoinRefused('connection failed', str(exc)) from None
    return await asyncio.wait_for(joined, timeout)


def launch_chromium(playwright: Any, **options: Any) -> Any:
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


def includeme(config: Any) -> None:
    """Include pyramid_livehub with the recording publisher (the :class:`IPublisherFactory`)."""
    config.include('pyramid_livehub')
    config.registry.registerUtility(RecordingPublisher, IPublisherFactory)
