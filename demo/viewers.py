"""How many tabs show the lobby: the router's own count, published every few seconds.

Browsers may not call the router's meta API, so the demo app asks it as the
backend identity (``wamp.subscription.lookup`` + ``count_subscribers`` on
the lobby topic; every open tab holds one subscription to it) and publishes
``demo.stats.viewers`` with ``{"tabs": n}``.  Every interval, not only on a
change, so that a tab that just opened gets a number too.
"""
import asyncio
import logging

from zope.interface import Interface

from pyramid_livehub._session import BackgroundSession

log = logging.getLogger(__name__)

VIEWERS_TOPIC = 'demo.stats.viewers'


class IViewerCounter(Interface):
    """The app's :class:`ViewerCounter` (a registry utility; ``demo.run`` stops it)."""


class ViewerCounter:
    """A backend WAMP session in a daemon thread that publishes the lobby's subscriber count."""

    def __init__(self, settings, watched_topic, interval=2.0):
        self.settings = settings
        self.watched_topic = watched_topic
        self.interval = interval
        self._background = BackgroundSession(settings, name='demo-viewer-counter',
                                             max_retries=-1, on_join=self._on_join)

    def start(self):
        """Connect (and keep reconnecting) in the background."""
        self._background.start()
        return self

    def stop(self, timeout=2.0):
        """Leave the router and end the thread."""
        self._background.stop(timeout)

    def _on_join(self, session, details):
        self._reporting = asyncio.ensure_future(self._report(session))

    async def _report(self, session):
        while session.is_attached():
            try:
                subscription = await session.call('wamp.subscription.lookup', self.watched_topic)
                tabs = 0
                if subscription is not None:
                    tabs = await session.call('wamp.subscription.count_subscribers', subscription)
                session.publish(VIEWERS_TOPIC, {'tabs': tabs})
            except Exception as exc:  # noqa: BLE001 - a lost session ends the loop below
                if session.is_attached():
                    log.warning('demo: cannot count the viewers: %s', exc)
            await asyncio.sleep(self.interval)
