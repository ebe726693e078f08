"""A WAMP subscriber in a background thread, for scripts, ``livehub tail`` and tests.

::

    with Subscriber(settings, 'app.orders', match='prefix') as sub:
        event = sub.get(timeout=5)     # Event(topic, args, kwargs)
"""
import asyncio
import collections
import queue
import threading

from pyramid_livehub.publisher import _cancel_other_tasks, backend_authentication, make_transport
from pyramid_livehub.settings import LivehubSettings, parse_settings

Event = collections.namedtuple('Event', 'topic args kwargs')


class Subscriber:
    """Subscribes to ``topic`` as the backend identity; events land in a queue.

    ``match`` is WAMP's: ``exact``, ``prefix`` or ``wildcard``.  ``url`` and
    ``authentication`` override the backend defaults (e.g. to connect like a
    browser: ``url=settings.browser_url, authentication={}``).
    """

    def __init__(self, settings, topic, match='exact', url=None, authentication=None,
                 maxsize=100000):
        if not isinstance(settings, LivehubSettings):
            settings = parse_settings(settings)
        self.settings = settings
        self.topic = topic
        self.match = match
        self.url = url
        self.authentication = authentication
        self.events = queue.Queue(maxsize)
        self.dropped = 0
        self.ready = threading.Event()
        #: sessions on which the subscription was made (grows on each reconnect)
        self.subscribed_sessions = 0
        self.error = None
        self._loop = None
        self._thread = None
        self._component = None

    def start(self, timeout=10.0):
        """Connect and subscribe; raise ``RuntimeError`` if not subscribed within ``timeout``."""
        self._thread = threading.Thread(target=self._run, name='livehub-subscriber', daemon=True)
        self._thread.start()
        if not self.ready.wait(timeout):
            self.stop()
            raise RuntimeError('could not subscribe to %r at %s within %ss%s' % (
                self.topic, self.url or self.settings['router_url'], timeout,
                ': %s' % self.error if self.error else ''))
        return self

    def wait_resubscribed(self, sessions, timeout=10.0):
        """Wait until the subscription was made on ``sessions`` sessions (after reconnects)."""
        import time
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
        import time
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

    def stop(self):
        """Leave and stop the thread."""
        loop = self._loop
        if loop is not None and loop.is_running():
            async def _stop():
                try:
                    await self._component.stop()
                except Exception:  # noqa: BLE001 - already gone
                    pass
                await _cancel_other_tasks()
                asyncio.get_running_loop().stop()
            asyncio.run_coroutine_threadsafe(_stop(), loop)
            self._thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _run(self):
        import txaio
        from autobahn.asyncio.component import Component
        from autobahn.wamp.types import SubscribeOptions
        txaio.use_asyncio()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        settings = dict(self.settings)
        if self.url:
            settings['router_url'] = self.url
        transport = make_transport(settings)
        transport['max_retries'] = -1
        authentication = self.authentication
        if authentication is None:
            authentication = backend_authentication(self.settings)
        component = Component(transports=[transport], realm=self.settings['realm'],
                              authentication=authentication)
        self._component = component

        def on_event(*args, **kwargs):
            details = kwargs.pop('details')
            try:
                self.events.put_nowait(Event(details.topic or self.topic, list(args), kwargs))
            except queue.Full:
                self.dropped += 1

        async def on_join(session, details):
            try:
                await session.subscribe(on_event, self.topic, options=SubscribeOptions(
                    match=self.match, details_arg='details'))
            except Exception as exc:  # noqa: BLE001 - reported by start()
                self.error = exc
                return
            self.subscribed_sessions += 1
            self.ready.set()

        component.on('join', on_join)
        component.start(loop=loop)
        try:
            loop.run_forever()
        finally:
            loop.close()
