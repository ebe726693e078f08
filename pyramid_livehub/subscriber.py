"""A WAMP subscriber in a background thread, for scripts, ``livehub tail`` and tests.

::

    with Subscriber(settings, 'app.orders', match='prefix') as sub:
        event = sub.get(timeout=5)     # Event(topic, args, kwargs, position, recovered)

Recovery (issue 12): on a topic in ``livehub.history`` every event carries a
position (``{"epoch", "offset"}``).  The subscriber remembers the last one
per exact topic; after a reconnect it fetches what came after it
(``livehub.history.fetch``) and queues those events, in order, before the
live ones, dropping live events it already has (same offset).  When the
history no longer covers the gap (trimmed, evicted, a new epoch), the first
event after the gap has ``recovered=False`` and the gap is recorded in
:attr:`Subscriber.gaps`.
"""
import collections
import logging
import queue
import threading
import time
from typing import Any, Mapping

from pyramid_livehub._session import BackgroundSession
from pyramid_livehub.history import NO_SUCH_PROCEDURE, PROCEDURE_PREFIX, split_position
from pyramid_livehub.history.settings import HistoryRules

log = logging.getLogger(__name__)

#: One received event.  ``position`` is ``{"epoch", "offset"}`` on a topic with
#: history (else None); ``recovered`` is False on the first event after a gap
#: that history could not fill.
Event = collections.namedtuple('Event', 'topic args kwargs position recovered',
                               defaults=(None, True))

#: Seconds recovery waits for the router's history component after a reconnect.
RECOVERY_WAIT = 30.0

#: Refusals of a history read that pass when the router's history component is back.
_RETRY_LATER = (NO_SUCH_PROCEDURE, 'livehub.history.store_unavailable', 'wamp.error.canceled')

#: Events fetched per ``livehub.history.fetch`` call while recovering.
FETCH_PAGE = 1000


class Subscriber:
    """Subscribes to ``topic`` as the backend identity; events land in a queue.

    ``match`` is WAMP's: ``exact``, ``prefix`` or ``wildcard``.  ``url`` and
    ``authentication`` override the backend defaults (e.g. to connect like a
    browser: ``url=settings.browser_url, authentication={}``).  It reconnects
    (and subscribes again) forever.

    ``recover`` (default True): after a reconnect, fetch from the router's
    history what was published on history-enabled topics while the
    connection was down (see the module doc).  ``since``: for an exact
    topic with history, start with the events after this offset (then
    live), like ``livehub tail --since``.
    """

    def __init__(self, settings: Mapping[str, Any], topic: str, match: str = 'exact',
                 url: str | None = None, authentication: dict[str, Any] | None = None,
                 maxsize: int = 100000, recover: bool = True, since: int | None = None) -> None:
        self.topic = topic
        self.match = match
        self.recover = recover
        self.since = since
        self.events = queue.Queue(maxsize)
        self.dropped = 0
        #: live events dropped because recovery had delivered them already
        self.duplicates = 0
        #: events delivered from history (after a reconnect or ``since``)
        self.recovered_events = 0
        #: gaps history could not fill: ``{"topic", "epoch", "from", "to", "reason"}``
        self.gaps = []
        self.ready = threading.Event()
        #: sessions on which the subscription was made (grows on each reconnect)
        self.subscribed_sessions = 0
        self.error = None
        #: exact topic -> (epoch, offset) of the last event delivered
        self.positions = {}
        self._holding = False
        self._held = []
        self._gap_pending = set()
        self._background = BackgroundSession(settings, name='livehub-subscriber', url=url,
                                             authentication=authentication, max_retries=-1,
                                             on_join=self._on_join)
        self.settings = self._background.settings
        self.history_rules = HistoryRules(self.settings.get('history') or [])
        self.url = url
        if since is not None and (match != 'exact' or not self.history_rules.keeps(topic)):
            raise ValueError('since=%r needs an exact topic that keeps history (a '
                             'livehub.history line matching %r)' % (since, topic))

    def start(self, timeout: float = 10.0) -> 'Subscriber':
        """Connect and subscribe; raise ``RuntimeError`` if not subscribed within ``timeout``."""
        self._background.start()
        if not self.ready.wait(timeout):
            self.stop()
            raise RuntimeError('could not subscribe to %r at %s within %ss%s' % (
                self.topic, self._background.url, timeout,
                ': %s' % self.error if self.error else ''))
        return self

    def wait_resubscribed(self, sessions: int, timeout: float = 10.0) -> None:
        """Wait until the subscription was made on ``sessions`` sessions (after reconnects)."""
        deadline = time.monotonic() + timeout
        while self.subscribed_sessions < sessions:
            if time.monotonic() > deadline:
                raise RuntimeError('subscriber did not resubscribe within %ss' % timeout)
            time.sleep(0.02)

    def get(self, timeout: float = 5.0) -> Event:
        """Next event; ``queue.Empty`` after ``timeout`` seconds."""
        return self.events.get(timeout=timeout)

    def collect(self, count: int, timeout: float = 10.0) -> list[Event]:
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

    def stop(self, timeout: float = 5.0) -> None:
        """Leave and stop the thread."""
        self._background.stop(timeout)

    def __enter__(self) -> 'Subscriber':
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the loop's thread ---------------------------------------------------------

    def _on_event(self, *args, **kwargs):
        details = kwargs.pop('details')
        kwargs, position = split_position(kwargs)
        event = (details.topic or self.topic, list(args), kwargs or {}, position)
        if self._holding:
            self._held.append(event)  # delivered after the missed ones
        else:
            self._deliver(*event)

    def _deliver(self, topic, args, kwargs, position, from_history=False):
        recovered = True
        if position is not None:
            last = self.positions.get(topic)
            if last is not None and last[0] == position['epoch'] and \
                    position['offset'] <= last[1]:
                self.duplicates += 1
                return
            self.positions[topic] = (position['epoch'], position['offset'])
            position = {'epoch': position['epoch'], 'offset': position['offset']}
        if topic in self._gap_pending:
            self._gap_pending.discard(topic)
            recovered = False
        if from_history:
            self.recovered_events += 1
        try:
            self.events.put_nowait(Event(topic, list(args or ()), dict(kwargs or {}), position,
                                         recovered))
        except queue.Full:
            self.dropped += 1

    async def _on_join(self, session, details):
        from autobahn.wamp.types import SubscribeOptions
        resuming = self.recover and self.subscribed_sessions > 0 and bool(self.positions)
        starting_since = self.subscribed_sessions == 0 and self.since is not None
        self._holding = resuming or starting_since
        self._held = []
        try:
            await session.subscribe(self._on_event, self.topic, options=SubscribeOptions(
                match=self.match, details_arg='details'))
            if starting_since:
                await self._recover(session, self.topic, None, self.since)
            elif resuming:
                for topic, (epoch, offset) in list(self.positions.items()):
                    await self._recover(session, topic, epoch, offset)
            elif self.subscribed_sessions == 0 and self.recover:
                await self._learn_start(session)
        except Exception as exc:  # noqa: BLE001 - reported by start()
            self.error = exc
            self._release_held()
            if self.subscribed_sessions == 0:
                return
        self._release_held()
        self.subscribed_sessions += 1
        self.ready.set()

    def _release_held(self):
        # No await from here to the end: no live event can slip in between.
        held, self._held, self._holding = self._held, [], False
        for event in held:
            self._deliver(*event)

    async def _learn_start(self, session):
        """Exact topic with history: remember where the stream is, so a first gap is covered too."""
        if self.match != 'exact' or not self.history_rules.keeps(self.topic):
            return
        try:
            position = await session.call(PROCEDURE_PREFIX + 'position', self.topic)
        except Exception as exc:  # noqa: BLE001 - recovery then starts at the first event
            log.warning('livehub subscriber: no position for %r: %s', self.topic, exc)
            return
        if self.topic not in self.positions:
            self.positions[self.topic] = (position['epoch'], position['offset'])

    async def _recover(self, session, topic, epoch, offset):
        """Deliver the events of ``topic`` after ``offset`` (in ``epoch``) from history."""
        since = offset
        first_page = True
        while True:
            try:
                result = await self._fetch(session, topic, since, epoch)
            except Exception as exc:  # noqa: BLE001 - refused or unavailable: say so
                self._gap(topic, epoch, offset + 1, None, str(exc))
                return
            events = result['events']
            if first_page and not result['complete']:
                to = events[0]['offset'] - 1 if events and result['epoch'] == epoch else None
                self._gap(topic, result['epoch'], offset + 1, to,
                          'new epoch' if epoch is not None and result['epoch'] != epoch
                          else 'history no longer covers it')
                if result['epoch'] != epoch:
                    self.positions.pop(topic, None)
            first_page = False
            epoch = result['epoch']
            for item in events:
                self._deliver(topic, item.get('args'), item.get('kwargs'),
                              {'epoch': epoch, 'offset': item['offset']}, from_history=True)
            if len(events) < FETCH_PAGE:
                return
            since = events[-1]['offset']

    async def _fetch(self, session, topic, since, epoch):
        # Right after a router start its history component may not have
        # registered yet (no_such_procedure): wait for it a little.
        import asyncio
        deadline = time.monotonic() + RECOVERY_WAIT
        while True:
            try:
                return await session.call(PROCEDURE_PREFIX + 'fetch', topic, since,
                                          FETCH_PAGE, epoch)
            except Exception as exc:  # noqa: BLE001 - retried or raised
                if getattr(exc, 'error', None) not in _RETRY_LATER or \
                        time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.1)

    def _gap(self, topic, epoch, start, end, reason):
        self.gaps.append({'topic': topic, 'epoch': epoch, 'from': start, 'to': end,
                          'reason': reason})
        self._gap_pending.add(topic)
        log.warning('livehub subscriber: events of %r after offset %s could not be recovered '
                    '(%s)', topic, start - 1, reason)
