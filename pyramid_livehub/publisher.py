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
import collections
import logging
import os
import struct
import threading
import time
import weakref

from pyramid_livehub.codec import prepare_event
from pyramid_livehub.settings import LivehubSettings, parse_settings

log = logging.getLogger(__name__)


def _demote_retry_notice(record):
    """Autobahn logs "trying transport 0 ..." at WARNING before every connect
    attempt; our own warning already says the router is away, once."""
    if str(record.msg).startswith('trying transport'):
        record.levelno, record.levelname = logging.DEBUG, 'DEBUG'
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
    return True


logging.getLogger('autobahn.asyncio.component.Component').addFilter(_demote_retry_notice)


class QueueFull(Exception):
    """Raised by ``publish()`` when the queue is full and ``livehub.overflow = raise``."""


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
        self._lock = threading.Lock()
        self._reset_state()
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
        args, kwargs = prepare_event(topic, args, kwargs)
        self.enqueue(topic, args, kwargs)

    def enqueue(self, topic, args, kwargs):
        """Queue an event whose topic and payload were already checked."""
        if self._pid != os.getpid():
            self._reset_after_fork()
        queue = self._queue
        with self._lock:
            if len(queue) >= self._bound:
                policy = self.settings['overflow']
                if policy == 'raise':
                    raise QueueFull(
                        'livehub publisher queue is full (%d events waiting for the router at '
                        '%s); raise livehub.queue_size or choose another livehub.overflow'
                        % (self._bound, self.settings['router_url']))
                self.stats.dropped += 1
                if self.stats.dropped == 1 or self.stats.dropped % 1000 == 0:
                    log.warning('livehub: queue full (%d), %s; %d dropped so far',
                                self._bound, policy.replace('_', ' '), self.stats.dropped)
                if policy == 'drop_newest':
                    return
                queue.popleft()
            queue.append((topic, args, kwargs))
            self.stats.queued += 1
        if not self._started:
            self._start()
        if not self._wake_pending and self._session is not None:
            self._wake_pending = True
            try:
                self._loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # loop closed at interpreter exit
                self._wake_pending = False

    def pending(self):
        """Number of events waiting in the queue."""
        return len(self._queue)

    @property
    def connected(self):
        """True while a WAMP session to the router is open."""
        return self._session is not None

    def connect(self, timeout=0.0):
        """Start the background session if it is not running; return ``connected``.

        Waits up to ``timeout`` seconds for the router to accept the session.
        """
        if self._pid != os.getpid():
            self._reset_after_fork()
        if not self._started:
            self._start()
        deadline = time.monotonic() + timeout
        while self._session is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self._session is not None

    def flush(self, timeout=5.0):
        """Wait until every queued event has reached the router.

        Returns True on success, False when ``timeout`` seconds passed first
        (the events stay queued).  Delivery is confirmed with a round trip
        to the router after the queue is empty.
        """
        if not self._started or self._pid != os.getpid():
            return not self._queue
        if self._loop is None:  # the thread has not finished starting
            return False
        future = asyncio.run_coroutine_threadsafe(self._flush_async(), self._loop)
        try:
            return future.result(timeout)
        except Exception:
            future.cancel()
            return False

    def close(self, timeout=None):
        """Flush (up to ``timeout``, default ``livehub.shutdown_timeout``) and stop the thread."""
        if timeout is None:
            timeout = self.settings['shutdown_timeout']
        if not self._started or self._pid != os.getpid():
            return
        flushed = self.flush(timeout) if self._queue or self._session else True
        if not flushed:
            log.warning('livehub: %d events not delivered at shutdown (router %s unreachable)',
                        len(self._queue), self.settings['router_url'])
        loop = self._loop
        self._closing = True
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(self._stop_async(), loop)
            self._thread.join(timeout=2)
        self._started = False

    # -- background side -----------------------------------------------------

    def _reset_state(self):
        self._pid = os.getpid()
        self._bound = self.settings['queue_size']
        self._queue = collections.deque()
        self._started = False
        self._closing = False
        self._last_refusal = None
        self._wake_pending = False
        self._session = None
        self._loop = None
        self._thread = None
        self._component = None

    def _reset_after_fork(self):
        # The parent's thread and socket do not exist in the child: start over,
        # keeping the parent's queued events so that none is lost.
        with self._lock:
            queued = self._queue
            self._lock = threading.Lock()
            self._reset_state()
            self._queue.extend(queued)

    def _start(self):
        with self._lock:
            if self._started:
                return
            self._started = True
            ready = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(ready,), name='livehub-publisher', daemon=True)
            self._thread.start()
        ready.wait(5)

    def _run(self, ready):
        import txaio
        txaio.use_asyncio()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # txaio finds the loop per thread; two loops may coexist
        self._loop = loop
        self._component = self._make_component()
        self._component.start(loop=loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def _make_component(self):
        from autobahn.asyncio.component import Component
        settings = self.settings
        transport = make_transport(settings)
        component = Component(
            transports=[transport],
            realm=settings['realm'],
            authentication=backend_authentication(settings),
        )
        component.on('join', self._on_join)
        component.on('leave', self._on_leave)
        component.on('disconnect', self._on_disconnect)
        return component

    def _on_join(self, session, details):
        self._session = session
        self._last_refusal = None
        self.stats.joins += 1
        if self.stats.joins > 1:
            self.stats.reconnects += 1
            log.info('livehub: reconnected to %s, %d events queued',
                     self.settings['router_url'], len(self._queue))
        self._wake_pending = True
        self._drain()

    def _on_leave(self, session, details):
        self._session = None
        reason = getattr(details, 'reason', None) or ''
        if reason in _LOGIN_REFUSED and reason != self._last_refusal:
            self._last_refusal = reason  # once per reason, not on every retry
            log.error('livehub: the router at %s refused the backend login (%s: %s); '
                      'livehub.backend_authid / livehub.backend_secret / livehub.realm must '
                      'match the router (run `livehub router --ini` with the same .ini). '
                      'Events stay queued meanwhile.', self.settings['router_url'], reason,
                      getattr(details, 'message', '') or '', )

    def _on_disconnect(self, session, was_clean=True):
        if not self._closing and (self._session is not None or self.stats.joins):
            log.warning('livehub: lost the router at %s; queueing up to %d events and '
                        'reconnecting', self.settings['router_url'], self._bound)
        self._session = None

    def _drain(self):
        # Clear the flag first: an event appended after this point wakes us again.
        self._wake_pending = False
        session = self._session
        queue = self._queue
        if session is None:
            return
        batch = RawSocketBatch.for_session(session)
        sent = 0
        while queue and sent < self.DRAIN_BATCH:
            topic, args, kwargs = queue.popleft()
            try:
                if batch is not None:
                    batch.add(topic, args, kwargs)
                else:
                    session.publish(topic, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - must never kill the loop
                if not session.is_attached():
                    queue.appendleft((topic, args, kwargs))  # _on_join drains again
                    break
                self.stats.failed += 1
                log.error('livehub: router refused event on %r: %s', topic, exc)
                continue
            sent += 1
        if batch is not None and not batch.write():
            queue.extendleft(reversed(batch.events))  # connection closing: keep them
            sent = 0
        self.stats.sent += sent
        if self._session is None or self._wake_pending:
            return
        if queue:
            self._wake_pending = True
            self._loop.call_soon(self._drain)
        elif sent and self.settings['publish_linger']:
            # Events are flowing: instead of being woken for each new one
            # (a self-pipe write and read, a GIL hand-off, a send() per
            # event), look again shortly and send what came in one write.
            # When a linger finds nothing, the next event wakes us at once.
            self._wake_pending = True
            self._loop.call_later(self.settings['publish_linger'], self._drain)

    async def _flush_async(self):
        while self._queue or self._session is None:
            await asyncio.sleep(0.005)
        # TCP keeps order: once the router answers this call, it has
        # processed every event we wrote before it.
        await self._session.call('wamp.session.count')
        return not self._queue

    async def _stop_async(self):
        session = self._session
        self._session = None
        try:
            if self._component is not None:
                await self._component.stop()
        except Exception:  # noqa: BLE001 - shutting down anyway
            pass
        if session is not None and session.is_attached():
            session.leave()
        await _cancel_other_tasks()
        asyncio.get_running_loop().stop()


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


async def _cancel_other_tasks():
    """Cancel the loop's other tasks (e.g. a pending reconnect) before stopping it."""
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def backend_authentication(settings):
    """Autobahn ``Component`` authentication for the backend identity (WAMP-CRA)."""
    return {'wampcra': {'authid': settings['backend_authid'],
                        'secret': settings['backend_secret']}}


def make_transport(settings):
    """Autobahn ``Component`` transport config for ``livehub.router_url``."""
    url = settings['router_url']
    kind = 'rawsocket' if url.startswith(('rs://', 'rss://')) else 'websocket'
    transport = {
        'type': kind,
        'url': url,
        'max_retries': settings['max_retries'],
        'initial_retry_delay': settings['initial_retry_delay'],
        'max_retry_delay': settings['max_retry_delay'],
        'retry_delay_growth': settings['retry_delay_growth'],
        'retry_delay_jitter': settings['retry_delay_jitter'],
    }
    if kind == 'rawsocket':
        transport['serializer'] = settings['serializer']
    else:
        transport['serializers'] = [settings['serializer']]
    return transport


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
