"""The publisher: one persistent WAMP session per process, in a background thread.

``publish()`` runs in the caller's thread and does three cheap things: check
the topic, check the payload, append to a bounded queue.  A background
thread running an asyncio loop owns the WAMP session (an Autobahn
``Component``, which reconnects with backoff) and drains the queue into it.
While the router is away, events wait in the queue (up to
``livehub.queue_size``) and go out in order when it is back.

A request's event (``enqueue(..., block=False)``, what ``request.livehub``
uses) skips the queue when nothing waits in it: the request's thread writes
the PUBLISH itself (:mod:`pyramid_livehub._direct`), so no other thread is
woken per event; acknowledgement and resend work as for queued events.

A full queue: a call from a script or worker (``publish()``, ``enqueue()``)
waits up to ``livehub.publish_block_timeout`` for room, so a burst goes out
at the router's pace; during a Pyramid request it never waits (the
request path, ``request.livehub``, passes ``block=False``; a view calling the
publisher directly is seen by pyramid's thread-local request), nor does a thread that runs an asyncio
loop (the publisher's own included: waiting there would stop the drain it
waits for).  What still does not fit meets ``livehub.overflow``.

Acknowledged publishing (``livehub.publish_acks``, the default): each event
stays in the publisher until the router confirmed it -- for a topic in
``livehub.history`` the result of ``livehub.history.publish_batch`` (the
assigned positions), for other topics the router's PUBLISHED reply to the
batch's last PUBLISH, the only one sent with ``acknowledge``: the router
handles a session's messages in order, so that reply means every PUBLISH
before it was routed.  Sending never waits for a reply, so the cost is one
reply per batch, not a round trip per event.  When the connection drops, what was
not confirmed is sent again first on the next session; on history topics a
resend carries the same ``msgid`` and the router drops it if the first copy
got through, so nothing is stored or delivered twice.  Plain topics have no
such record: a resend after a lost acknowledgement can deliver an event
twice (at-least-once).

The thread starts lazily in the process that first publishes, so a forking
server (gunicorn ``--preload``, pserve with workers) gets one per worker.
At interpreter exit the queue is flushed for up to
``livehub.shutdown_timeout`` seconds.
"""
import asyncio
import atexit
import concurrent.futures
import functools
import json
import logging
import os
import struct
import sys
import threading
import time
import uuid
import weakref
from typing import Any, Mapping, Sequence

from pyramid.threadlocal import get_current_request

from pyramid_livehub._codec import prepare_event
from pyramid_livehub._direct import DirectWriter, publish_message
from pyramid_livehub._queue import BoundedQueue, QueueFull
from pyramid_livehub._session import BackgroundSession, backend_authentication, make_transport
from pyramid_livehub._uri import check_topic
from pyramid_livehub.history import (NO_SUCH_PROCEDURE, POSITION_KEY, PROCEDURE_PREFIX,
                                     RETRY_LATER)
from pyramid_livehub.history.settings import HistoryRules
from pyramid_livehub.settings import LivehubSettings, parse_settings

__all__ = ['HistoryNotEnabled', 'Publisher', 'PublisherStats', 'QueueFull', 'RawSocketBatch',
           'backend_authentication', 'make_transport']

log = logging.getLogger(__name__)


class PublisherStats:
    """Counters of one publisher: what went in, out, was confirmed and was lost.

    ``queued``: accepted by ``publish()``; ``sent``: written to the router's
    connection (once per event, resends not included); ``acked``: confirmed
    by the router (acknowledged publishing only; with
    ``livehub.publish_acks = false`` it stays 0); ``resent``: written again
    after a lost connection because no acknowledgement had come; ``dropped``:
    lost to the queue bound; ``failed``: refused by the router (logged, never
    resent); ``reconnects``: sessions joined after the first one.

    An event the router never took is counted in ``sent`` but not in
    ``acked``; with acknowledgements on, ``sent - acked - failed`` is what is
    on its way (and is resent if the connection drops first).
    """

    __slots__ = ('queued', 'sent', 'acked', 'resent', 'dropped', 'failed', 'reconnects', 'joins')

    def __init__(self) -> None:
        self.queued = self.sent = self.acked = self.resent = 0
        self.dropped = self.failed = 0
        self.reconnects = self.joins = 0

    def as_dict(self) -> dict[str, int]:
        """A plain dict of the counters."""
        return {name: getattr(self, name) for name in self.__slots__}


class HistoryNotEnabled(LookupError):
    """``history()``/``position()`` asked about a topic that keeps no history."""


def _holding_write_lock(method):
    """Run a loop-side method of :class:`Publisher` that writes, holding its write lock."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._write_lock:
            return method(self, *args, **kwargs)
    return locked


class Publisher:
    """Publishes WAMP events from any thread of a (possibly forked) process.

    Create one per process with :meth:`from_settings`; inside Pyramid use
    ``request.livehub`` instead, which adds transactions.

    By default every event is kept until the router acknowledged it
    (``livehub.publish_acks``): events on topics that keep history go to the
    router's history component (``livehub.history.publish_batch``, one call
    per batch, each event with its own ``msgid`` so that a resend is dropped
    where the position is assigned); other events are published, the last of
    each batch acknowledged: its PUBLISHED reply confirms them all.  Nothing waits
    for one acknowledgement before sending the next.  After a lost connection the unacknowledged
    events are resent, in order, before newer ones.
    """

    #: events sent per loop iteration before yielding to the network
    DRAIN_BATCH = 500

    #: seconds between acknowledgement requests on plain topics (see
    #: :meth:`_publish_acknowledged`): an event waits at most this long plus
    #: a round trip for its acknowledgement
    ACK_INTERVAL = 0.01

    #: events per ``livehub.history.publish_batch`` call
    HISTORY_BATCH = 100

    #: seconds before events that met a passing store failure are sent again
    RETRY_DELAY = 0.5

    #: longest wait, in seconds, of a request's direct write for the loop
    #: thread's write lock before the event is queued instead
    DIRECT_LOCK_WAIT = 0.002

    def __init__(self, settings: Mapping[str, Any]) -> None:
        if not isinstance(settings, LivehubSettings):
            settings = parse_settings(settings)
        self.settings = settings
        self.stats = PublisherStats()
        self.acks = settings['publish_acks']
        self.history_rules = HistoryRules(settings.get('history') or [])
        self._lock = threading.Lock()  # the counters
        # Held by every write to the router's connection, so that the request
        # path (_write_directly) and the loop thread never interleave frames.
        self._write_lock = threading.RLock()
        self._direct: DirectWriter | None = None
        self._ack_armed = False  # a wake or timer will ask for the direct writes' acknowledgement
        self._queue = BoundedQueue(
            settings['queue_size'], settings['overflow'], name='livehub: publisher queue',
            logger=log, hint='events waiting for the router at %s; raise livehub.queue_size '
                             'or livehub.publish_block_timeout, or choose another '
                             'livehub.overflow'
                             % settings['router_url'])
        self._block_timeout = settings['publish_block_timeout']
        # A wait ran out (router away): drop at once until the queue has room
        # again, so a script stalls once per outage, not once per event.
        self._wait_gave_up = False
        #: seq -> (topic, args, kwargs, msgid): sent, not yet acknowledged (insertion = send order)
        self._unacked = {}
        self._seq = 0
        self._forget_uncovered()
        self._retrying = False  # a retry-later refusal was logged; quiet until an ack
        self._history_open = not (self.acks and self.history_rules)
        self._held_fresh = set()  # seqs held before their first write
        self._msgid_prefix = uuid.uuid4().hex[:12]
        self._background = BackgroundSession(
            settings, name='livehub-publisher', on_join=self._on_join,
            on_leave=self._on_leave, on_disconnect=self._on_disconnect)
        self._pid = os.getpid()
        self._last_refusal = None
        self._wake_pending = False
        _live_publishers.add(self)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None = None) -> 'Publisher':
        """Publisher for a Pyramid-style settings dict (``livehub.*`` keys).

        Handy in scripts, workers and pshell::

            publisher = Publisher.from_settings(get_appsettings('app.ini'))
            publisher.publish('app.jobs.done', {'id': 7})
            publisher.flush(5)
        """
        return cls(parse_settings(settings or {}))

    # -- caller side -------------------------------------------------------

    def publish(self, topic: str, *args: Any, **kwargs: Any) -> None:
        """Queue a WAMP event; return once it is queued.

        That is at once, unless the queue is full: then, outside a Pyramid
        request, it waits up to ``livehub.publish_block_timeout`` seconds for
        room (see :meth:`enqueue`), so that a script's burst loses nothing.  Raises
        ``ValueError`` for an invalid topic or the reserved
        ``livehub_position`` keyword, ``TypeError`` for a payload that is not
        JSON-serializable and :class:`QueueFull` when the queue is full and
        the overflow policy is ``raise``.
        """
        args, kwargs = prepare_event(topic, args, kwargs, serializer=self.settings['serializer'])
        self.enqueue(topic, args, kwargs)

    def enqueue(self, topic: str, args: Sequence[Any], kwargs: Mapping[str, Any],
                block: bool | None = None) -> None:
        """Queue an event whose topic and payload were already checked.

        ``block``: when the queue is full, wait up to
        ``livehub.publish_block_timeout`` seconds for room before
        ``livehub.overflow`` applies.  None (the default): wait unless a
        Pyramid request is in progress in this thread, so a view that calls
        the publisher directly never waits for the router; True: wait; False:
        never wait (``request.livehub`` passes it), and write the event from
        this thread when nothing is queued ahead of it.  A thread that runs an
        event loop (asyncio, Twisted's reactor) never waits either.  After a wait ran out, calls do not
        wait again until the queue has had room.
        """
        if kwargs and POSITION_KEY in kwargs:
            raise ValueError('the keyword %r is reserved for the stream position the router '
                             'assigns; rename it' % POSITION_KEY)
        if self._pid != os.getpid():
            self._reset_after_fork()
        background = self._background
        if not background.started:
            background.start()  # before a wait: the thread is what makes room
        if block is False and self._direct is not None and self._write_directly(topic, args,
                                                                                  kwargs):
            return
        wait = self._block_timeout if block is not False and not self._wait_gave_up else 0.0
        may_wait = _outside_event_loop if block else _outside_request_and_event_loop
        # Not under self._lock: a wait must not hold up other threads' counters
        # (nor _put_back in the loop thread, which would stall the drain).
        try:
            dropped = self._queue.put((topic, args, kwargs), wait, may_wait)
        except QueueFull:
            if wait and may_wait():  # it waited, in vain
                self._wait_gave_up = True
            raise
        if dropped:
            if wait and may_wait():
                self._wait_gave_up = True
        elif self._wait_gave_up:
            self._wait_gave_up = False
        with self._lock:
            if dropped:
                self.stats.dropped += 1
                if self._queue.overflow == 'drop_newest':
                    return
            self.stats.queued += 1
        if not self._wake_pending and background.session is not None:
            self._wake_pending = True
            if not background.wake(self._drain):  # loop closed at interpreter exit
                self._wake_pending = False

    def _write_directly(self, topic, args, kwargs):
        """The request path: write the event from this thread; False to queue it instead.

        See :mod:`pyramid_livehub._direct`.  Only when nothing is queued or
        being drained ahead of it (order), for a topic without history (those
        go through the history component's call) and within the queue bound.
        """
        if self.history_rules and self._keeps_history(topic):
            return False
        if self._queue or self._wake_pending:
            return False  # checked again under the lock; this spares the wait for it
        # The loop thread holds the lock for a few microseconds per probe or
        # acknowledgement, longer for a drain: wait that short while, never
        # longer than DIRECT_LOCK_WAIT (then queue, behind what it writes).
        if not self._write_lock.acquire(timeout=self.DIRECT_LOCK_WAIT):
            return False
        try:
            direct = self._direct
            if (direct is None or self._queue or self._wake_pending
                    or (self.acks and len(self._unacked) >= self._queue.bound)
                    or not direct.write(topic, args, kwargs)):
                return False
            self.stats.sent += 1
            wake = direct.rest is not None
            if self.acks:
                self._seq += 1
                self._unacked[self._seq] = (topic, args, kwargs,
                                            '%s-%d' % (self._msgid_prefix, self._seq))
                self._uncovered.append(self._seq)
                if not self._ack_armed:
                    self._ack_armed = wake = True
        finally:
            self._write_lock.release()
        with self._lock:
            self.stats.queued += 1
        if wake:
            self._background.wake(self._after_direct)
        return True

    def pending(self) -> int:
        """Events not yet acknowledged: queued, plus sent and waiting for their acknowledgement."""
        return len(self._queue) + len(self._unacked)

    @property
    def connected(self) -> bool:
        """True while a WAMP session to the router is open."""
        return self._background.session is not None

    def connect(self, timeout: float = 0.0) -> bool:
        """Start the background session if it is not running; return ``connected``.

        Waits up to ``timeout`` seconds for the router to accept the session.
        """
        if self._pid != os.getpid():
            self._reset_after_fork()
        self._background.start()
        deadline = time.monotonic() + timeout
        while self._background.session is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self._background.session is not None

    def call(self, procedure: str, *args: Any, timeout: float = 5.0, **kwargs: Any) -> Any:
        """Call a WAMP ``procedure`` in the router over this process's session.

        Waits up to ``timeout`` seconds for the result.  Raises
        ``RuntimeError`` when the router is not connected, the WAMP error
        (``autobahn.wamp.exception.ApplicationError``) when the call fails,
        and ``TimeoutError`` when no answer came in time.
        """
        session = self._background.session
        if session is None or self._background.loop is None:
            raise RuntimeError('livehub: not connected to the router at %s'
                               % self.settings['router_url'])
        async def call():  # session.call() must run in the loop's thread
            return await session.call(procedure, *args, **kwargs)
        try:
            return self._background.run(call(), timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError('livehub: %s did not answer within %s s' % (procedure, timeout)) \
                from None

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event was acknowledged by the router.

        Returns True when nothing is left (every event was acknowledged, or
        refused by the router and counted in ``failed``), False when
        ``timeout`` seconds passed first (the events stay queued and are
        resent after a reconnect).  With ``livehub.publish_acks = false`` it
        can only confirm that the router read what was written: a round trip
        after the queue is empty.
        """
        if not self._background.started:
            return not self._queue and not self._unacked
        if self._background.loop is None:  # the thread has not finished starting
            return False
        try:
            return self._background.run(self._flush_async(), timeout)
        except Exception:  # noqa: BLE001 - timeout or a lost session: not flushed
            return False

    def close(self, timeout: float | None = None) -> None:
        """Flush (up to ``timeout``, default ``livehub.shutdown_timeout``) and stop the thread."""
        if timeout is None:
            timeout = self.settings['shutdown_timeout']
        if not self._background.started:
            return
        waiting = self._queue or self._unacked
        if waiting and timeout > 0:
            flushed = self.flush(timeout)
        elif self.connected and not self.acks and timeout > 0:
            flushed = self.flush(timeout)  # fire-and-forget: one round trip confirms the writes
        else:
            # Nothing waits (acknowledged, or nothing to confirm), or no time to wait:
            # flush(0) would always time out, even with everything delivered.
            flushed = not waiting
        if not flushed:
            pending = self.pending()
            if self.connected:
                log.warning('livehub: %d events not acknowledged by the router at %s when the '
                            'publisher closed after %ss; they are lost (give close() or '
                            'livehub.shutdown_timeout more time)',
                            pending, self.settings['router_url'], timeout)
            else:
                log.warning('livehub: %d events not delivered at shutdown (router %s '
                            'unreachable)', pending, self.settings['router_url'])
        # A script thread still waiting for room would wait for a drain that
        # has stopped: its event meets livehub.overflow now instead.
        self._queue.release_waiters()
        self._close_direct()  # from here on events queue: what stop() leaves is counted above
        self._background.stop(2)

    # -- reading history -------------------------------------------------------

    def history(self, topic: str, limit: int | None = None, since: int | None = None,
                timeout: float = 5.0) -> dict[str, Any]:
        """Events of a history-enabled ``topic`` kept by the router.

        ``since=None``: the newest ``limit`` events (late join); ``since=N``:
        the events after offset ``N`` (the oldest ``limit`` of them).
        Returns the router's answer, ``{"epoch", "events": [{"offset", "args",
        "kwargs", "msgid", "time"}, ...], "complete", "first", "last"}``
        (``complete`` False: events after ``since`` are gone).  Raises
        :class:`HistoryNotEnabled` for a topic no ``livehub.history`` line
        matches, ``TimeoutError`` after ``timeout`` seconds.
        """
        return self._history_call('fetch', topic, timeout, since, limit)

    def position(self, topic: str, timeout: float = 5.0) -> dict[str, Any]:
        """``{"epoch", "offset"}`` of the last event on a history-enabled ``topic``.

        ``offset`` 0: no event yet.  Raises like :meth:`history`.
        """
        return self._history_call('position', topic, timeout)

    def _history_call(self, name, topic, timeout, *args):
        check_topic(topic)
        if not self.history_rules.keeps(topic):
            raise HistoryNotEnabled(
                'topic %r keeps no history: add a line matching it to livehub.history '
                '(e.g. "%s 1000 3600")' % (topic, topic))
        if self._pid != os.getpid():
            self._reset_after_fork()
        self._background.start()
        deadline = time.monotonic() + timeout
        try:
            self._background.wait_joined(timeout)
        except RuntimeError as exc:
            raise TimeoutError('livehub: cannot read the history of %r: %s' % (topic, exc)) \
                from None

        async def call():
            return await self._background.session.call(PROCEDURE_PREFIX + name, topic, *args)
        from autobahn.wamp.exception import ApplicationError
        try:
            return self._background.run(call(), max(deadline - time.monotonic(), 0.01))
        except concurrent.futures.TimeoutError:
            raise TimeoutError('livehub: the router did not answer %s%s(%r) within %ss'
                               % (PROCEDURE_PREFIX, name, topic, timeout)) from None
        except ApplicationError as exc:
            if exc.error in ('livehub.history.not_enabled', ApplicationError.NO_SUCH_PROCEDURE):
                raise HistoryNotEnabled(
                    'the router keeps no history for %r (%s): its livehub.history must have a '
                    'line matching the topic; run `livehub router` with the app\'s .ini'
                    % (topic, exc.error)) from None
            raise

    # -- background side -----------------------------------------------------

    def _reset_after_fork(self):
        # The parent's thread and socket do not exist in the child: the
        # background session starts over (lazily), the parent's queued
        # events stay so that none is lost.  Its unacknowledged ones stay
        # the parent's business.
        self._lock = threading.Lock()
        self._queue.after_fork()
        self._unacked = {}
        self._forget_uncovered()
        self._held_fresh = set()
        self._msgid_prefix = uuid.uuid4().hex[:12]
        self._pid = os.getpid()
        self._last_refusal = None
        self._wake_pending = False

    def _forget_uncovered(self):
        # Acknowledgement pacing state, per session: what the last session
        # did not see acknowledged is resent (all of _unacked) anyway.
        self._uncovered = []  # seqs written, no acknowledgement requested yet
        self._ack_due = 0.0  # loop time when the next request may be made
        self._ack_armed = False
        timer, self._ack_timer = getattr(self, '_ack_timer', None), None
        if timer is not None:
            timer.cancel()

    @_holding_write_lock
    def _on_join(self, session, details):
        self._last_refusal = None
        self._forget_uncovered()
        self.stats.joins += 1
        if self.stats.joins > 1:
            self.stats.reconnects += 1
            log.info('livehub: reconnected to %s, %d events queued, %d to resend',
                     self.settings['router_url'], len(self._queue), len(self._unacked))
        # History events wait until the router's history component answers:
        # right after a router start it registers a moment after the router
        # accepts sessions, and a batch refused then and retried later would
        # land behind newer ones.
        self._history_open = not (self.acks and self.history_rules)
        if self._unacked:
            # What the last session did not confirm goes first, in order.
            resend = sorted(self._unacked.items())
            self.stats.resent += len(resend)
            self._send(session, [(seq,) + record for seq, record in resend], fresh=False)
        if not self._history_open:
            self._open_history(session)
        self._wake_pending = True
        self._drain()
        self._close_direct()
        protocol = getattr(session, '_transport', None)
        self._direct = DirectWriter.for_session(
            session, _publish_encoder(getattr(protocol, '_serializer', None)), self._write_lock)

    def _open_history(self, session):
        """Ask for the history component; when it answers, send the history events held."""
        if session is not self._background.session:
            return
        try:
            reply = session.call(PROCEDURE_PREFIX + 'stats')  # registered last of its procedures
        except Exception:  # noqa: BLE001 - the session is going away; the next join retries
            return

        def done(reply):
            if reply.cancelled() or session is not self._background.session:
                return
            exc = reply.exception()
            if exc is not None:
                if getattr(exc, 'error', None) == NO_SUCH_PROCEDURE and not self._retrying:
                    self._retrying = True
                    log.warning('livehub: the router at %s has no history component (yet); '
                                'events on livehub.history topics wait for it. It registers '
                                'shortly after a router start; if this lasts, run the router '
                                'with the same livehub.history as the app',
                                self.settings['router_url'])
                self._background.loop.call_later(self.RETRY_DELAY, self._open_history, session)
                return
            self._send_held(session)
        reply.add_done_callback(done)

    @_holding_write_lock
    def _send_held(self, session):
        """The history component answered: send the history events held for it."""
        self._retrying = False
        self._history_open = True
        held = [(seq,) + record for seq, record in sorted(self._unacked.items())
                if self._keeps_history(record[0])]
        never_written = sum(1 for item in held if item[0] in self._held_fresh)
        self._held_fresh.clear()
        self._send(session, held, fresh=False)
        self.stats.sent += never_written

    def _on_leave(self, session, details):
        self._close_direct()
        reason = getattr(details, 'reason', None) or ''
        if reason in _LOGIN_REFUSED and reason != self._last_refusal:
            self._last_refusal = reason  # once per reason, not on every retry
            log.error('livehub: the router at %s refused the backend login (%s: %s); '
                      'livehub.backend_authid / livehub.backend_secret / livehub.realm must '
                      'match the router (run `livehub router --ini` with the same .ini). '
                      'Events stay queued meanwhile.', self.settings['router_url'], reason,
                      getattr(details, 'message', '') or '', )

    def _on_disconnect(self, session, was_clean=True):
        self._close_direct()
        if not self._background.stopping and self.stats.joins:
            log.warning('livehub: lost the router at %s; queueing up to %d events and '
                        'reconnecting (%d sent but not acknowledged will be resent)',
                        self.settings['router_url'], self._queue.bound, len(self._unacked))

    @_holding_write_lock
    def _after_direct(self):
        """Loop side of direct writes: finish a partial one, schedule their acknowledgement."""
        direct, session = self._direct, self._background.session
        if direct is None or session is None:
            self._ack_armed = False
            return  # the next session resends what is unacknowledged
        direct.flush_rest()
        if self._uncovered and self._ack_timer is None:
            loop = self._background.loop
            self._ack_timer = loop.call_at(max(loop.time(), self._ack_due),
                                           self._acknowledge_uncovered, session)
        elif self._ack_timer is None:
            self._ack_armed = False  # a batch's acknowledgement covered them meanwhile

    @_holding_write_lock
    def _close_direct(self):
        direct, self._direct = self._direct, None
        if direct is not None:
            direct.close()

    @_holding_write_lock  # a direct write must not overtake events taken from the queue
    def _drain(self):
        # Clear the flag first: an event appended after this point wakes us again.
        self._wake_pending = False
        session = self._background.session
        if session is None:
            return
        queue = self._queue
        count = self.DRAIN_BATCH
        if self.acks:
            # Unacknowledged events count against the queue bound: a slow
            # router slows the drain and the queue's overflow policy applies.
            count = min(count, self._queue.bound - len(self._unacked))
            if count <= 0:
                return  # an acknowledgement wakes us
        events = queue.get_batch(count)
        if self.acks:
            items = []
            for topic, args, kwargs in events:
                self._seq += 1
                msgid = '%s-%d' % (self._msgid_prefix, self._seq)
                self._unacked[self._seq] = (topic, args, kwargs, msgid)
                items.append((self._seq, topic, args, kwargs, msgid))
            sent = self._send(session, items)
        else:
            sent = self._send_unacknowledged(session, events)
        self.stats.sent += sent
        if self._background.session is None or self._wake_pending:
            return
        loop = self._background.loop
        if queue and (not self.acks or len(self._unacked) < self._queue.bound):
            self._wake_pending = True
            loop.call_soon(self._drain)
        elif sent and self.settings['publish_linger']:
            # Events are flowing: instead of being woken for each new one
            # (a self-pipe write and read, a GIL hand-off, a send() per
            # event), look again shortly and send what came in one write.
            # When a linger finds nothing, the next event wakes us at once.
            self._wake_pending = True
            loop.call_later(self.settings['publish_linger'], self._drain)

    def _send(self, session, items, fresh=True):
        """Send ``(seq, topic, args, kwargs, msgid)`` items, acknowledged; return the count written.

        Whatever is not written stays in ``_unacked`` and is resent on the
        next join.
        """
        history, plain = [], []
        for item in items:
            (history if self._keeps_history(item[1]) else plain).append(item)
        written = 0
        if history and not self._history_open:
            # held until _open_history; counted as sent when written
            if fresh:
                self._held_fresh.update(item[0] for item in history)
            history = []
        if plain:
            written = self._publish_acknowledged(session, plain)
            if written is None:
                return 0  # connection closing: all kept for the resend
        for start in range(0, len(history), self.HISTORY_BATCH):
            chunk = history[start:start + self.HISTORY_BATCH]
            if not self._call_history(session, chunk, track=True):
                break
            written += len(chunk)
        return written

    def _publish_acknowledged(self, session, items):
        """PUBLISH ``items``; an acknowledged PUBLISH confirms them and all before them.

        The router handles one session's messages in order, so its
        PUBLISHED reply to an acknowledged PUBLISH means it routed every
        PUBLISH written before.  So only some carry ``acknowledge``: the
        last of a batch, when the previous request is :attr:`ACK_INTERVAL`
        old; events written meanwhile wait for the next one, or for a
        probe (:meth:`_acknowledge_uncovered`) when no batch follows.  Each
        reply costs the router a ``send()`` of its own, written before the
        event's frame (measured at 500 ev/s: one reply per event added
        0.2 ms at p50; a separate barrier call per batch, the first design,
        0.5 ms).  Returns the count written, None if the connection is closing.
        """
        batch = RawSocketBatch.for_session(session)
        seqs = []
        for seq, topic, args, kwargs, _ in items:
            try:
                if batch is not None:
                    batch.add(topic, args, kwargs)
                else:  # not rawsocket: every event acknowledged (Autobahn's publish)
                    from autobahn.wamp.types import PublishOptions
                    reply = session.publish(topic, *args,
                                            options=PublishOptions(acknowledge=True), **kwargs)
                    self._watch_reply(reply, (seq,), session)
            except Exception as exc:  # noqa: BLE001 - must never kill the loop
                if not session.is_attached():
                    break  # the rest is resent on the next join
                self._unacked.pop(seq, None)
                self.stats.failed += 1
                log.error('livehub: router refused event on %r: %s', topic, exc)
                continue
            seqs.append(seq)
        if batch is None:
            return len(seqs)
        reply = None
        if seqs:
            self._uncovered.extend(seqs)
            loop = self._background.loop
            if loop.time() >= self._ack_due:
                reply, covered = batch.acknowledge_last(), self._uncovered
                self._uncovered = []
                self._ack_due = loop.time() + self.ACK_INTERVAL
            elif self._ack_timer is None:
                self._ack_timer = loop.call_at(self._ack_due, self._acknowledge_uncovered,
                                               session)
        if not batch.write():
            return None
        if reply is not None:
            self._watch_reply(reply, covered, session)
        return len(seqs)

    @_holding_write_lock
    def _acknowledge_uncovered(self, session):
        """No batch came to carry the acknowledgement: ask with a PUBLISH that reaches nobody."""
        self._ack_timer = None
        self._ack_armed = False  # a direct write after this one arms the timer again
        if not self._uncovered or session is not self._background.session:
            return
        batch = RawSocketBatch.for_session(session)
        if batch is None:
            return
        # eligible: only this session, which is excluded as the publisher
        batch.add(ACK_PROBE_TOPIC, [], {}, eligible=[session._session_id])
        reply, covered = batch.acknowledge_last(), self._uncovered
        self._uncovered = []
        self._ack_due = self._background.loop.time() + self.ACK_INTERVAL
        if batch.write():
            self._watch_reply(reply, covered, session, probe=True)

    def _watch_reply(self, reply, seqs, session, probe=False):
        """When ``reply`` (a PUBLISHED) comes, ``seqs`` are acknowledged.

        An ERROR reply refuses the last of them only (the router routed the
        ones before it), none after a ``probe``.  A lost session leaves them
        all for the resend.
        """
        def done(reply):
            if reply.cancelled():
                return
            exc = reply.exception()
            if exc is None or (probe and session.is_attached()):
                self._acknowledged(seqs, session)
            elif session.is_attached() and session is self._background.session:
                self._acknowledged(seqs[:-1], session)
                self._refused(seqs[-1:], session, exc)
            # else the session is gone: the events stay and are resent
        reply.add_done_callback(done)

    def _send_unacknowledged(self, session, events):
        """Fire-and-forget: write ``(topic, args, kwargs)`` events; return the count written."""
        history = [(0,) + event + (None,) for event in events if self._keeps_history(event[0])]
        plain = [event for event in events if not self._keeps_history(event[0])] \
            if history else events
        batch = RawSocketBatch.for_session(session)
        sent = 0
        for index, (topic, args, kwargs) in enumerate(plain):
            try:
                if batch is not None:
                    batch.add(topic, args, kwargs)
                else:
                    session.publish(topic, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - must never kill the loop
                if not session.is_attached():
                    self._put_back(plain[index:])  # _on_join drains again
                    break
                self.stats.failed += 1
                log.error('livehub: router refused event on %r: %s', topic, exc)
                continue
            sent += 1
        if batch is not None and not batch.write():
            self._put_back(batch.events)  # connection closing: keep them
            sent = 0
        for start in range(0, len(history), self.HISTORY_BATCH):
            chunk = history[start:start + self.HISTORY_BATCH]
            if self._call_history(session, chunk, track=False):
                sent += len(chunk)
        return sent

    def _keeps_history(self, topic):
        return self.history_rules.keeps(topic)

    def _call_history(self, session, chunk, track):
        """One ``publish_batch`` call for ``chunk``; False if the session is gone."""
        try:
            reply = session.call(PROCEDURE_PREFIX + 'publish_batch',
                                 [[topic, args, kwargs, msgid]
                                  for _, topic, args, kwargs, msgid in chunk])
        except Exception:  # noqa: BLE001 - TransportLost: kept for the resend
            return False
        seqs = tuple(item[0] for item in chunk) if track else None

        def done(reply):
            if reply.cancelled():
                return
            exc = reply.exception()
            if exc is None:
                if seqs is not None:
                    self._acknowledged(seqs, session)
            elif seqs is not None:
                self._refused(seqs, session, exc)
            else:
                self.stats.failed += len(chunk)
                log.error('livehub: the router refused %d events on %r: %s', len(chunk),
                          chunk[0][1], exc)
        reply.add_done_callback(done)
        return True

    def _acknowledged(self, seqs, session):
        unacked = self._unacked
        self._retrying = False
        for seq in seqs:
            if unacked.pop(seq, None) is not None:
                self.stats.acked += 1
        # A drain that stopped at the bound waits for acknowledgements.
        if (self._queue and not self._wake_pending and session is self._background.session
                and len(unacked) < self._queue.bound // 2):
            self._wake_pending = True
            self._background.loop.call_soon(self._drain)

    def _refused(self, seqs, session, exc):
        if not session.is_attached() or session is not self._background.session:
            return  # the connection is gone: kept, resent on the next join
        uri = getattr(exc, 'error', None)
        if uri in RETRY_LATER:
            # The history store failed for a moment, or the router's history
            # component is not (yet, again) registered: nothing was published,
            # so the same events (same msgids) go again shortly.
            if not self._retrying:
                self._retrying = True
                hint = ''
                if uri == NO_SUCH_PROCEDURE:
                    hint = (' (no history component registered: it joins shortly after a '
                            'router start; if this lasts, run the router with the same '
                            'livehub.history as the app)')
                log.warning('livehub: the router could not take %d events on %r yet: %s%s; '
                            'retrying every %ss', len(seqs),
                            self._unacked[seqs[0]][0] if seqs[0] in self._unacked else '?',
                            uri, hint, self.RETRY_DELAY)
            self._background.loop.call_later(self.RETRY_DELAY, self._retry, seqs, session)
            return
        record = None
        for seq in seqs:
            record = self._unacked.pop(seq, None) or record
            if record is not None:
                self.stats.failed += 1
        log.error('livehub: router refused %d event(s) on %r: %s', len(seqs),
                  record[0] if record else '?', exc)

    @_holding_write_lock
    def _retry(self, seqs, session):
        if session is not self._background.session:
            return  # a new session resends everything unacknowledged anyway
        items = [(seq,) + self._unacked[seq] for seq in seqs if seq in self._unacked]
        if items:
            self.stats.resent += len(items)
            self._send(session, items, fresh=False)

    def _put_back(self, events):
        lost = self._queue.put_back(events)
        if lost:
            with self._lock:
                self.stats.dropped += lost

    async def _flush_async(self):
        while self._queue or self._unacked or self._background.session is None:
            await asyncio.sleep(0.005)
        if not self.acks:
            # TCP keeps order: once the router answers this call, it has
            # processed every event we wrote before it.
            await self._background.session.call('wamp.session.count')
        return not self._queue and not self._unacked


#: Topic of the PUBLISH that asks for an acknowledgement when no event can carry it;
#: published with only the publisher eligible, so it reaches nobody.
ACK_PROBE_TOPIC = 'livehub.publisher.ack'


class RawSocketBatch:
    """Writes a drain's PUBLISH messages to a rawsocket connection in one write.

    Autobahn's ``session.publish()`` writes each message with two socket
    writes (length prefix, then body).  Here the messages use the session's
    request-id generator and reach the router as ``publish()`` would send
    them, but are written together.  With Autobahn's plain JSON or msgpack
    serializer a message is encoded by one C call (:func:`_publish_encoder`;
    Autobahn's message object, options marshalling and JSON encoder class
    were a third of the sender thread's time per event); any other
    serializer, or a JSON payload with bytes in it, goes through Autobahn's
    ``message.Publish``.  Used only when the session runs over rawsocket;
    other transports fall back to ``session.publish()``.
    """

    def __init__(self, session, protocol):
        self.session = session
        self.protocol = protocol
        self.events = []
        self._chunks = []
        self._options = []
        self._encode = _publish_encoder(protocol._serializer)

    @classmethod
    def for_session(cls, session):
        """A batch for ``session``, or None when it is not a rawsocket session."""
        protocol = getattr(session, '_transport', None)
        if (getattr(protocol, 'prefix_format', None) is None
                or getattr(protocol, '_serializer', None) is None
                or getattr(protocol, 'transport', None) is None
                or not hasattr(session, '_request_id_gen')):
            return None
        return cls(session, protocol)

    def add(self, topic, args, kwargs, **options):
        """Serialize one PUBLISH (raises like ``publish()`` on a bad message).

        ``options``: attributes of Autobahn's ``message.Publish`` (``eligible``...).
        """
        data = self._serialize(self.session._request_id_gen.next(), topic, args, kwargs,
                               options)
        self._chunks.append(struct.pack(self.protocol.prefix_format, len(data)))
        self._chunks.append(data)
        self.events.append((topic, args, kwargs))
        self._options.append(options)

    def acknowledge_last(self):
        """Make the last PUBLISH acknowledged; a future of the router's reply (None if empty).

        The message is built again with ``acknowledge`` and registered with
        the session as Autobahn's ``publish()`` registers one, so the
        session resolves the future on PUBLISHED and rejects it on ERROR or
        when the connection is lost.
        """
        if not self.events:
            return None
        import txaio
        from autobahn.wamp.request import PublishRequest
        topic, args, kwargs = self.events[-1]
        request_id = self.session._request_id_gen.next()
        data = self._serialize(request_id, topic, args, kwargs,
                               dict(self._options[-1], acknowledge=True))
        self._chunks[-2:] = [struct.pack(self.protocol.prefix_format, len(data)), data]
        reply = txaio.create_future()
        self.session._publish_reqs[request_id] = PublishRequest(request_id, reply,
                                                                was_encrypted=False)
        return reply

    def _serialize(self, request_id, topic, args, kwargs, options):
        data = None
        if self._encode is not None:
            try:
                data = self._encode(publish_message(request_id, options, topic, args, kwargs))
            except TypeError:  # bytes in JSON: Autobahn's encoder knows its convention
                data = None
        if data is None:
            from autobahn.wamp import message
            msg = message.Publish(request_id, topic, args=args, kwargs=kwargs or None,
                                  **options)
            data, _ = self.protocol._serializer.serialize(msg)
        if len(data) > self.protocol.max_length_send:
            raise ValueError('event of %d bytes exceeds the rawsocket limit of %d bytes'
                             % (len(data), self.protocol.max_length_send))
        return data

    def write(self):
        """Write the batch; False (nothing written) if the connection is closing."""
        if not self._chunks:
            return True
        transport = self.protocol.transport
        if transport is None or transport.is_closing() or not self.session.is_attached():
            return False
        direct = getattr(self.protocol, 'livehub_direct', None)
        if direct is None:
            transport.write(b''.join(self._chunks))
            return True
        with direct.lock:  # after a direct write's unwritten tail, never inside a frame
            direct.flush_rest()
            transport.write(b''.join(self._chunks))
        return True


@functools.lru_cache(maxsize=8)  # one per connection's serializer, not one per drain
def _publish_encoder(serializer):
    """One C call that encodes a raw WAMP message as ``serializer`` would, or None.

    Only for Autobahn's unbatched JSON (binary as ``\\0`` + base64, which
    the plain encoder refuses with TypeError, so such a message falls back)
    and msgpack serializers; None for any other, so the caller uses
    Autobahn's own path.
    """
    inner = getattr(serializer, '_serializer', None)
    if getattr(inner, '_batched', True):
        return None
    name = getattr(inner, 'NAME', None)
    if name == 'json' and not (inner._use_binary_hex_encoding or inner._use_decimal_from_str
                               or inner._use_decimal_from_float):
        encode = json.JSONEncoder(separators=(',', ':'), ensure_ascii=False).encode
        return lambda raw: encode(raw).encode('utf8')
    if name == 'msgpack' and getattr(inner, 'MSGPACK_MODULE', None) is not None:
        packb = getattr(inner.MSGPACK_MODULE, 'packb', None)
        if getattr(inner.MSGPACK_MODULE, '__name__', '') != 'msgpack' or packb is None:
            return None  # umsgpack on PyPy: other options
        return functools.partial(packb, use_bin_type=True)
    return None


#: WAMP reasons for which retrying cannot help until the configuration changes
_LOGIN_REFUSED = ('wamp.error.not_authorized', 'wamp.error.authentication_failed',
                  'wamp.error.no_such_realm', 'wamp.error.no_such_role',
                  'wamp.error.no_auth_method')

_live_publishers = weakref.WeakSet()


def _outside_event_loop():
    """False in a thread that runs an event loop: asyncio's (the publisher's own, or an
    async app's) or Twisted's reactor (a plugin, a Twisted app).

    Such a thread must not wait for room: the publisher's loop is what
    drains the queue, and any other loop would stall all its tasks.
    """
    if asyncio._get_running_loop() is not None:
        return False
    if 'twisted.internet.reactor' in sys.modules:  # never import Twisted for this
        from twisted.python import threadable
        reactor = sys.modules['twisted.internet.reactor']
        if getattr(reactor, 'running', False) and threadable.isInIOThread():
            return False
    return True


def _outside_request_and_event_loop():
    """True where a full queue may make the caller wait: no event loop, no Pyramid request."""
    return _outside_event_loop() and get_current_request() is None


def _forget_connections_in_child():
    """In a forked child, before anything else runs: drop the parent's direct writers.

    The child's copy of a writer's descriptor is closed here, while it
    certainly is still ours, and the write lock is new (a thread of the
    parent may have held it at the fork).
    """
    for publisher in list(_live_publishers):
        publisher._write_lock = threading.RLock()
        direct, publisher._direct = publisher._direct, None
        if direct is not None:
            direct.close()


os.register_at_fork(after_in_child=_forget_connections_in_child)


@atexit.register
def _close_all_publishers():
    for publisher in list(_live_publishers):
        try:
            publisher.close()
        except Exception:  # noqa: BLE001 - exiting anyway
            log.exception('livehub: error while closing the publisher')
