"""A WAMP subscriber in a background thread, for scripts, ``livehub tail`` and tests.

::

    with Subscriber(settings, 'app.orders', match='prefix') as sub:
        event = sub.get(timeout=5)     # Event(topic, args, kwargs)
"""
import collections
import queue
import threading
import time

from pyramid_livehub._session import BackgroundSession

Event = collections.namedtuple('Event', 'topic args kwargs')


class Subscriber:
    """Subscribes to ``topic`` as the backend identity; events land in a queue.

    ``match`` is WAMP's: ``exact``, ``prefix`` or ``wildcard``.  ``url`` and
    ``authentication`` override the backend defaults (e.g. to connect like a
    browser: ``url=settings.browser_url, authentication={}``).  It reconnects
    (and subscribes again) forever.
    """

    def __init__(self, settings, topic, match='exact', url=None, authentication=None,
                 maxsize=100000):
        self.topic = topic
        self.match = match
        self.events = queue.Queue(maxsize)
        self.dropped = 0
        self.ready = threading.Event()
        #: sessions on which the subscription was made (grows on each reconnect)
        self.subscribed_sessions = 0
        self.error = None
        self._background = BackgroundSession(settings, name='livehub-subscriber', url=url,
                                             authentication=authentication, max_retries=-1,
                                             on_join=self._on_join)
        self.settings = self._background.settings
        self.url = url

    def start(self, timeout=10.0):
        """Connect and subscribe; raise ``RuntimeError`` if not subscribed within ``timeout``."""
        self._background.start()
        if not self.ready.wait(timeout):
            self.stop()
            raise RuntimeError('could not subscribe to %r at %s within %ss%s' % (
                self.topic, self._background.url, timeout,
                ': %s' % self.error if self.error else ''))
        return self

    def wait_resubscribed(self, sessions, timeout=10.0):
        """Wait until the subscription was made on ``sessions`` sessions (after reconnects)."""
        deadline = time.monotonic() + timeout
        while self.subscribed_sessions < sessions:
            if time.monotonic() > deadline:
                raise RuntimeError('subscriber did not resubscribe within %ss' % timeout)
            time.sleep(0.02)

    def get(self, timeout=5.0):
        """Next event; ``queue.Empty`` after ``timeout`` seconds."""
        return self.events.get(timeout=timeout)

    def collect(self, count, timeout=10.0):
        """Up to ``count`` events, waiting at most ``timeout`` seconds in all."""
        deadline = time.monotonic() + timeout
        result = []
        while len(result) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                result.append(self.events.get(timeout=remaining))
            except queue.Empty:
                break
        return result

    def stop(self, timeout=5.0):
        """Leave and stop the thread."""
        self._background.stop(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _on_event(self, *args, **kwargs):
        details = kwargs.pop('details')
        try:
            self.events.put_nowait(Event(details.topic or self.topic, list(args), kwargs))
        except queue.Full:
            self.dropped += 1

    async def _on_join(self, session, details):
        from autobahn.wamp.types import SubscribeOptions
        try:
            await session.subscribe(self._on_event, self.topic, options=SubscribeOptions(
                match=self.match, details_arg='details'))
        except Exception as exc:  # noqa: BLE001 - reported by start()
            self.error = exc
            return
        self.subscribed_sessions += 1
        self.ready.set()
