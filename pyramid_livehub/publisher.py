"""The publisher: one persistent WAMP session per process, in a background thread.

``publish()`` runs in the caller's thread and does three cheap things: check
the topic, check the payload, append to a bounded queue.  A background
thread running an asyncio loop owns the WAMP session (an Autobahn
``Component``, which reconnects with backoff) and drains the queue into it.
While the router is away, events wait in the queue (up to
``livehub.queue_size``) and go out in order when it is back.

The thread starts lazily in the process that first publishes, so a forking
server (gunicorn ``--preload``, pserve with workers) gets one per worker.
At interpreter exit the queue is flushed for up to
``livehub.shutdown_timeout`` seconds.
"""
import asyncio
import atexit
import concurrent.futures
import logging
import os
import struct
import threading
import time
import weakref

from pyramid_livehub._queue import BoundedQueue, QueueFull
from pyramid_livehub._session import BackgroundSession, backend_authentication, make_transport
from pyramid_livehub.codec import prepare_event
from pyramid_livehub.settings import LivehubSettings, parse_settings

__all__ = ['Publisher', 'PublisherStats', 'QueueFull', 'RawSocketBatch',
           'backend_authentication', 'make_transport']

log = logging.getLogger(__name__)


class PublisherStats:
    """Counters of one publisher: what went in, out, and was lost.

    ``queued``: accepted by ``publish()``; ``sent``: handed to the router;
    ``dropped``: lost to the queue bound; ``failed``: refused by the session
    (logged); ``reconnects``: sessions joined after the first one.
    """

    __slots__ = ('queued', 'sent', 'dropped', 'failed', 'reconnects', 'joins')

    def __init__(self):
        self.queued = self.sent = self.dropped = self.failed = 0
        self.reconnects = self.joins = 0

    def as_dict(self):
        """A plain dict of the counters."""
        return {name: getattr(self, name) for name in self.__slots__}


class Publisher:
    """Publishes WAMP events from any thread of a (possibly forked) process.

    Create one per process with :meth:`from_settings`; inside Pyramid use
    ``request.livehub`` instead, which adds transactions.
    """

    #: events sent per loop iteration before yielding to the network
    DRAIN_BATCH = 500

    def __init__(self, settings):
        if not isinstance(settings, LivehubSettings):
            settings = parse_settings(settings)
        self.settings = settings
        self.stats = PublisherStats()
        self._lock = threading.Lock()  # the counters
        self._queue = BoundedQueue(
            settings['queue_size'], settings['overflow'], name='livehub: publisher queue',
            logger=log, hint='events waiting for the router at %s; raise livehub.queue_size '
                             'or choose another livehub.overflow' % settings['router_url'])
        self._background = BackgroundSession(
            settings, name='livehub-publisher', on_join=self._on_join,
            on_leave=self._on_leave, on_disconnect=self._on_disconnect)
        self._pid = os.getpid()
        self._last_refusal = None
        self._wake_pending = False
        _live_publishers.add(self)

    @classmethod
    def from_settings(cls, settings=None):
        """Publisher for a Pyramid-style settings dict (``livehub.*`` keys).

        Handy in scripts, workers and pshell::

            publisher = Publisher.from_settings(get_appsettings('app.ini'))
            publisher.publish('app.jobs.done', {'id': 7})
            publisher.flush(5)
        """
        return cls(parse_settings(settings or {}))

    # -- caller side -------------------------------------------------------

    def publish(self, topic, *args, **kwargs):
        """Queue a WAMP event; return at once.

        Raises ``ValueError`` for an invalid topic, ``TypeError`` for a
        payload that is not JSON-serializable and :class:`QueueFull` when the
        queue is full and the overflow policy is ``raise``.
        """
        args, kwargs = prepare_event(topic, args, kwargs, serializer=self.settings['serializer'])
        self.enqueue(topic, args, kwargs)

    def enqueue(self, topic, args, kwargs):
        """Queue an event whose topic and payload were already checked."""
        if self._pid != os.getpid():
            self._reset_after_fork()
        with self._lock:
            if self._queue.put((topic, args, kwargs)):
                self.stats.dropped += 1
                if self._queue.overflow == 'drop_newest':
                    return
            self.stats.queued += 1
        background = self._background
        if not background.started:
            background.start()
        if not self._wake_pending and background.session is not None:
            self._wake_pending = True
            if not background.call_soon(self._drain):  # loop closed at interpreter exit
                self._wake_pending = False

    def pending(self):
        """Number of events waiting in the queue."""
        return len(self._queue)

    @property
    def connected(self):
        """True while a WAMP session to the router is open."""
        return self._background.session is not None

    def connect(self, timeout=0.0):
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

    def call(self, procedure, *args, timeout=5.0, **kwargs):
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
        try:
            return self._background.run(session.call(procedure, *args, **kwargs), timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError('livehub: %s did not answer within %s s' % (procedure, timeout)) \
                from None

    def flush(self, timeout=5.0):
        """Wait until every queued event has reached the router.

        Returns True on success, False when ``timeout`` seconds passed first
        (the events stay queued).  Delivery is confirmed with a round trip
        to the router after the queue is empty.
        """
        if not self._background.started:
            return not self._queue
        if self._background.loop is None:  # the thread has not finished starting
            return False
        try:
            return self._background.run(self._flush_async(), timeout)
        except Exception:  # noqa: BLE001 - timeout or a lost session: not flushed
            return False

    def close(self, timeout=None):
        """Flush (up to ``timeout``, default ``livehub.shutdown_timeout``) and stop the thread."""
        if timeout is None:
            timeout = self.settings['shutdown_timeout']
        if not self._background.started:
            return
        flushed = self.flush(timeout) if self._queue or self.connected else True
        if not flushed:
            log.warning('livehub: %d events not delivered at shutdown (router %s unreachable)',
                        len(self._queue), self.settings['router_url'])
        self._background.stop(2)

    # -- background side -----------------------------------------------------

    def _reset_after_fork(self):
        # The parent's thread and socket do not exist in the child: the
        # background session starts over (lazily), the parent's queued
        # events stay so that none is lost.
        self._lock = threading.Lock()
        self._queue.after_fork()
        self._pid = os.getpid()
        self._last_refusal = None
        self._wake_pending = False

    def _on_join(self, session, details):
        self._last_refusal = None
        self.stats.joins += 1
        if self.stats.joins > 1:
            self.stats.reconnects += 1
            log.info('livehub: reconnected to %s, %d events queued',
                     self.settings['router_url'], len(self._queue))
        self._wake_pending = True
        self._drain()

    def _on_leave(self, session, details):
        reason = getattr(details, 'reason', None) or ''
        if reason in _LOGIN_REFUSED and reason != self._last_refusal:
            self._last_refusal = reason  # once per reason, not on every retry
            log.error('livehub: the router at %s refused the backend login (%s: %s); '
                      'livehub.backend_authid / livehub.backend_secret / livehub.realm must '
                      'match the router (run `livehub router --ini` with the same .ini). '
                      'Events stay queued meanwhile.', self.settings['router_url'], reason,
                      getattr(details, 'message', '') or '', )

    def _on_disconnect(self, session, was_clean=True):
        if not self._background.stopping and self.stats.joins:
            log.warning('livehub: lost the router at %s; queueing up to %d events and '
                        'reconnecting', self.settings['router_url'], self._queue.bound)

    def _drain(self):
        # Clear the flag first: an event appended after this point wakes us again.
        self._wake_pending = False
        session = self._background.session
        if session is None:
            return
        queue = self._queue
        events = queue.get_batch(self.DRAIN_BATCH)
        batch = RawSocketBatch.for_session(session)
        sent = 0
        for index, (topic, args, kwargs) in enumerate(events):
            try:
                if batch is not None:
                    batch.add(topic, args, kwargs)
                else:
                    session.publish(topic, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - must never kill the loop
                if not session.is_attached():
                    self._put_back(events[index:])  # _on_join drains again
                    break
                self.stats.failed += 1
                log.error('livehub: router refused event on %r: %s', topic, exc)
                continue
            sent += 1
        if batch is not None and not batch.write():
            self._put_back(batch.events)  # connection closing: keep them
            sent = 0
        self.stats.sent += sent
        if self._background.session is None or self._wake_pending:
            return
        loop = self._background.loop
        if queue:
            self._wake_pending = True
            loop.call_soon(self._drain)
        elif sent and self.settings['publish_linger']:
            # Events are flowing: instead of being woken for each new one
            # (a self-pipe write and read, a GIL hand-off, a send() per
            # event), look again shortly and send what came in one write.
            # When a linger finds nothing, the next event wakes us at once.
            self._wake_pending = True
            loop.call_later(self.settings['publish_linger'], self._drain)

    def _put_back(self, events):
        lost = self._queue.put_back(events)
        if lost:
            with self._lock:
                self.stats.dropped += lost

    async def _flush_async(self):
        while self._queue or self._background.session is None:
            await asyncio.sleep(0.005)
        # TCP keeps order: once the router answers this call, it has
        # processed every event we wrote before it.
        await self._background.session.call('wamp.session.count')
        return not self._queue


class RawSocketBatch:
    """Writes a drain's PUBLISH messages to a rawsocket connection in one write.

    Autobahn's ``session.publish()`` writes each message with two socket
    writes (length prefix, then body).  Here the messages are built and
    serialized by Autobahn exactly as ``publish()`` does (same message class,
    same request-id generator, same serializer), but written together.  Used
    only when the session runs over rawsocket; other transports fall back to
    ``session.publish()``.
    """

    def __init__(self, session, protocol):
        self.session = session
        self.protocol = protocol
        self.events = []
        self._chunks = []

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

    def add(self, topic, args, kwargs):
        """Serialize one PUBLISH (raises like ``publish()`` on a bad message)."""
        from autobahn.wamp import message
        msg = message.Publish(self.session._request_id_gen.next(), topic,
                              args=args, kwargs=kwargs or None)
        data, _ = self.protocol._serializer.serialize(msg)
        if len(data) > self.protocol.max_length_send:
            raise ValueError('event of %d bytes exceeds the rawsocket limit of %d bytes'
                             % (len(data), self.protocol.max_length_send))
        self._chunks.append(struct.pack(self.protocol.prefix_format, len(data)))
        self._chunks.append(data)
        self.events.append((topic, args, kwargs))

    def write(self):
        """Write the batch; False (nothing written) if the connection is closing."""
        if not self._chunks:
            return True
        transport = self.protocol.transport
        if transport is None or transport.is_closing() or not self.session.is_attached():
            return False
        transport.write(b''.join(self._chunks))
        return True


#: WAMP reasons for which retrying cannot help until the configuration changes
_LOGIN_REFUSED = ('wamp.error.not_authorized', 'wamp.error.authentication_failed',
                  'wamp.error.no_such_realm', 'wamp.error.no_such_role',
                  'wamp.error.no_auth_method')

_live_publishers = weakref.WeakSet()


@atexit.register
def _close_all_publishers():
    for publisher in list(_live_publishers):
        try:
            publisher.close()
        except Exception:  # noqa: BLE001 - exiting anyway
            log.exception('livehub: error while closing the publisher')
