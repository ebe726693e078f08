"""How many tabs show the lobby: the router's own count, published every few seconds.

Browsers may not call the router's meta API, so the demo app asks it as the
backend identity (``wamp.subscription.lookup`` + ``count_subscribers`` on
the lobby topic; every open tab holds one subscription to it) and publishes
``demo.stats.viewers`` with ``{"tabs": n}``.  Every interval, not only on a
change, so that a tab that just opened gets a number too.
"""
import asyncio
import logging
import threading

from pyramid_livehub.publisher import _cancel_other_tasks, make_transport

log = logging.getLogger(__name__)

VIEWERS_TOPIC = 'demo.stats.viewers'


class ViewerCounter:
    """A backend WAMP session in a daemon thread that publishes the lobby's subscriber count."""

    def __init__(self, settings, watched_topic, interval=2.0):
        self.settings = settings
        self.watched_topic = watched_topic
        self.interval = interval
        self._loop = None
        self._component = None
        self._thread = None
        self._reporting = None

    def start(self):
        """Connect (and keep reconnecting) in the background."""
        self._thread = threading.Thread(target=self._run, name='demo-viewer-counter', daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout=2.0):
        """Leave the router and end the thread."""
        loop = self._loop
        if loop is None or not loop.is_running():
            return
        asyncio.run_coroutine_threadsafe(self._stop(), loop)
        self._thread.join(timeout)

    def _run(self):
        import txaio
        txaio.use_asyncio()
        from autobahn.asyncio.component import Component
        settings = self.settings
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._component = Component(
            transports=[make_transport(settings)], realm=settings['realm'],
            authentication={'wampcra': {'authid': settings['backend_authid'],
                                        'secret': settings['backend_secret']}})
        self._component.on('join', self._on_join)
        self._component.start(loop=loop)
        try:
            loop.run_forever()
        finally:
            # What asyncio.run() does: let the tasks left over (Autobahn's
            # reconnect delay, scheduled as the transport closed) end cancelled,
            # or asyncio reports "Task was destroyed but it is pending!".
            for _ in range(3):
                pending = asyncio.all_tasks(loop)
                if not pending:
                    break
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

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

    async def _stop(self):
        # Stop reporting first: a call still in flight when the session
        # leaves makes Autobahn log the leave as a failed connection.
        if self._reporting is not None:
            self._reporting.cancel()
            await asyncio.gather(self._reporting, return_exceptions=True)
        try:
            await self._component.stop()
        except Exception:  # noqa: BLE001 - stopping anyway
            pass
        await _cancel_other_tasks()
        asyncio.get_running_loop().stop()
