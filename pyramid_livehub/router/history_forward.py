"""How router components publish to history-enabled topics: :class:`HistoryForwarder`.

A plain ``session.publish`` from inside the router (a bridge's inbound side,
a plugin's ``hub.publish``) would bypass the history component: the event
would carry no position and never be stored.  So components hand events on
``livehub.history`` topics to a forwarder, which sends them to the component
with ``livehub.history.publish_batch`` (see :mod:`pyramid_livehub.history`),
and publish the rest themselves.

* **Order**: one call is in flight at a time; events that arrive meanwhile
  wait (bounded) and go together as the next batch.  The component publishes
  in call order, so each topic's events keep their order, retries included.
* **Not registered yet**: the history component registers a moment after the
  router starts, possibly after the bridges.  A batch refused with
  ``no_such_procedure`` (or the component's own retry-later errors, e.g. the
  Redis store away) is sent again every :attr:`HistoryForwarder.RETRY_DELAY`
  seconds with the same message ids (the store drops a copy it already has),
  logged once per outage; newer events wait behind it, at most ``bound`` of
  them; beyond that the newest are dropped and counted.
* **Counted**: ``positioned`` (taken by the component: stored and published),
  ``failed`` (refused for good, or lost with the session), ``dropped`` (the
  waiting queue was full), ``retries`` (batches sent again), ``waiting``.

Runs in the reactor thread only (Twisted; the router imports it).
"""
import uuid
from typing import Any, Callable

from twisted.internet import reactor

from pyramid_livehub._queue import BoundedQueue, should_log
from pyramid_livehub.history import (NO_SUCH_PROCEDURE, POSITION_KEY, PROCEDURE_PREFIX,
                                     RETRY_LATER)
from pyramid_livehub.history.settings import HistoryRules

#: One waiting event: ``(topic, args, kwargs, msgid, tag)``; ``tag`` is the owner's.
Item = tuple[str, list, dict, str, Any]


class HistoryForwarder:
    """Sends a router component's events on history-enabled topics through the history component.

    ``session`` is the component (an attached ``ApplicationSession``);
    ``history`` the ``livehub.history`` setting; ``bound`` the most events that
    may wait; ``name`` starts log lines.  ``on_published(items)`` and
    ``on_failed(items, exc)`` tell the owner about each batch (items are
    :data:`Item` tuples, with the ``tag`` given to :meth:`add`).
    """

    #: Events per ``publish_batch`` call.
    BATCH = 500
    #: Seconds between retries of a refused batch.
    RETRY_DELAY = 0.5

    def __init__(self, session: Any, history: Any, bound: int, name: str, log: Any,
                 on_published: Callable[[list[Item]], None] | None = None,
                 on_failed: Callable[[list[Item], Exception], None] | None = None) -> None:
        self.session = session
        self.rules = HistoryRules(history or [])
        self.name = name
        self.log = log
        self.on_published = on_published
        self.on_failed = on_failed
        self.waiting = BoundedQueue(bound, 'drop_newest', logger=log,
                                    name='%s: events waiting for the history component' % name,
                                    hint='history component away?')
        #: message ids are ``<msgid_prefix><seq>``: unique per forwarder, so the
        #: store can drop a retried copy and owners can recognise their own events
        self.msgid_prefix = 'rc-%s-' % uuid.uuid4().hex[:12]
        self._seq = 0
        self._in_flight: list[Item] | None = None
        self._retry_call: Any = None
        self._outage: str | None = None  # the refusal being retried, logged once
        self.closed = False
        self.positioned = 0
        self.failed = 0
        self.retries = 0

    def keeps_history(self, topic: str) -> bool:
        """True if ``topic`` matches a ``livehub.history`` line (send it through :meth:`add`)."""
        return self.rules.keeps(topic)

    def full(self) -> bool:
        """True if :meth:`add` would drop (the bound is reached): hold back instead."""
        return len(self.waiting) >= self.waiting.bound

    def add(self, topic: str, args: list, kwargs: dict, tag: Any = None,
            msgid_suffix: str = '') -> bool:
        """Queue one event for the history component; True if it was dropped (queue full).

        ``msgid_suffix`` is appended to the event's message id (the plugin
        host puts the publishing plugin's name there).  Raises
        :class:`ValueError` for kwargs that use the reserved position key.
        """
        if POSITION_KEY in kwargs:
            raise ValueError('kwargs key %r is reserved for the stream position; rename it'
                             % POSITION_KEY)
        if self.closed:
            self.failed += 1
            return False
        self._seq += 1
        dropped = self.waiting.put((topic, args, kwargs,
                                    '%s%d%s' % (self.msgid_prefix, self._seq, msgid_suffix), tag))
        self._send_next()
        return dropped

    def counters(self) -> dict[str, int]:
        """``positioned``, ``failed``, ``dropped``, ``retries``, ``waiting`` (held + in flight)."""
        return {'positioned': self.positioned, 'failed': self.failed,
                'dropped': self.waiting.dropped, 'retries': self.retries,
                'waiting': len(self.waiting) + len(self._in_flight or ())}

    def close(self) -> None:
        """Stop sending; what still waits is counted as failed (the session is gone).

        A batch in flight counts as failed too, until its answer, should it
        still come, moves it to ``positioned``.
        """
        if self.closed:
            return
        self.closed = True
        if self._retry_call is not None and self._retry_call.active():
            self._retry_call.cancel()
        lost = list(self._in_flight or ()) + self.waiting.get_batch(len(self.waiting))
        self._in_flight = None
        if lost:
            self.failed += len(lost)
            self.log.warn('{name}: {n} event(s) for history topics were not taken by the '
                          'history component before the session closed; lost',
                          name=self.name, n=len(lost))

    # -- sending ------------------------------------------------------------------

    def _send_next(self) -> None:
        if self._in_flight is not None or self.closed:
            return
        batch = self.waiting.get_batch(self.BATCH)
        if batch:
            self._in_flight = batch
            self._call(batch)

    def _call(self, batch: list[Item]) -> None:
        try:
            d = self.session.call(PROCEDURE_PREFIX + 'publish_batch',
                                  [[topic, args, kwargs, msgid]
                                   for topic, args, kwargs, msgid, _ in batch])
        except Exception as exc:  # noqa: BLE001 - e.g. TransportLost: the session is going
            self._refused(batch, exc)
            return
        d.addCallbacks(self._taken, self._refused_failure, callbackArgs=(batch,),
                       errbackArgs=(batch,))

    def _taken(self, _positions: Any, batch: list[Item]) -> None:
        if self.closed:
            # close() counted this batch as lost; the component took it after all.
            self.failed -= len(batch)
            self.positioned += len(batch)
            if self.on_published is not None:
                self.on_published(batch)
            return
        self._in_flight = None
        self.positioned += len(batch)
        if self._outage is not None:
            self.log.info('{name}: the history component took the held events again after '
                          '{retries} retries ({waiting} still waiting)', name=self.name,
                          retries=self.retries, waiting=len(self.waiting))
            self._outage = None
        if self.on_published is not None:
            self.on_published(batch)
        self._send_next()

    def _refused_failure(self, failure: Any, batch: list[Item]) -> None:
        self._refused(batch, failure.value)

    def _refused(self, batch: list[Item], exc: Exception) -> None:
        if self.closed:
            return
        if not self.session.is_attached():
            self.close()
            return
        uri = getattr(exc, 'error', None)
        if uri in RETRY_LATER:
            self.retries += 1
            if self._outage != uri:
                self._outage = uri
                hint = ('it registers shortly after the router starts; if this lasts, check '
                        'that the router\'s livehub.history names these topics'
                        if uri == NO_SUCH_PROCEDURE else 'the history store may be away')
                self.log.warn('{name}: the history component cannot take events on history '
                              'topics yet ({uri}: {exc}); {hint}. Holding them (at most '
                              '{bound}, newer ones dropped beyond that) and retrying every '
                              '{delay}s', name=self.name, uri=uri, exc=exc, hint=hint,
                              bound=self.waiting.bound, delay=self.RETRY_DELAY)
            self._retry_call = reactor.callLater(self.RETRY_DELAY,  # type: ignore[arg-type]
                                                 self._retry, batch)
            return
        # Refused for good (a bad topic or payload): nothing of the batch was published.
        self._in_flight = None
        self.failed += len(batch)
        if should_log(self.failed):
            self.log.error('{name}: the history component refused {n} event(s) on {topic}: '
                           '{exc} ({failed} failed so far)', name=self.name, n=len(batch),
                           topic=batch[0][0], exc=exc, failed=self.failed)
        if self.on_failed is not None:
            self.on_failed(batch, exc)
        self._send_next()

    def _retry(self, batch: list[Item]) -> None:
        self._retry_call = None
        if not self.closed:
            self._call(batch)  # same message ids: a copy the store has is not published twice
