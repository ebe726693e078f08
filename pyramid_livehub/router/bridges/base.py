"""The shared base of the broker bridges.

A bridge is a router component (Twisted ``ApplicationSession`` in the
Crossbar container worker) plus the broker client, which runs in threads of
its own so that a slow or dead broker never blocks the router:

* **inbound** (broker -> WAMP): a broker thread maps the topic, decodes the
  body and appends to the bounded ``inbound`` queue; the reactor drains it
  into ``session.publish``, or, for a topic a ``livehub.history`` line names,
  into the history component in batches
  (:class:`~pyramid_livehub.router.history_forward.HistoryForwarder`), so
  those events get a position and are stored;
* **outbound** (WAMP -> broker): the session subscribes to the outbound
  patterns; each event is mapped, encoded and appended to the bounded
  ``outbound`` queue, which a broker thread sends.

No loops: everything a bridge of this router sends to a broker carries
:data:`ROUTER_ORIGIN` (a header / user property), and a bridge drops what
comes back with it; an event that came in through a bridge (it has the
``livehub_broker`` kwarg) is never sent out again.  So one router with
several bridges, or several routers on one broker, deliver each event once.

Counters (:class:`BridgeStats`, with the p50/p99 time a message spends
inside the bridge in each direction) are logged every
``livehub.bridge_stats_interval`` seconds and returned by the WAMP procedure
``livehub.bridges.<name>.stats``.
"""
import collections
import threading
import time
import uuid

from autobahn.wamp.types import SubscribeOptions
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import LoopingCall

from pyramid_livehub.router.bridges.payload import META_KEY, encode_event, inbound_event
from pyramid_livehub._queue import BoundedQueue, should_log
from pyramid_livehub._retry import RetryPolicy
from pyramid_livehub.router.bridges.stats import BridgeStats
from pyramid_livehub.router.component import DrainScheduler, LivehubComponent
from pyramid_livehub.router.history_forward import HistoryForwarder
from pyramid_livehub.router.bridges.topics import (UnmappableTopic, levels_to_wamp, parse_dotted_pattern,
                            pattern_matches, wamp_subscription, wamp_to_levels)

#: One id per container process, shared by every bridge of this router: what
#: they send carries it, and what comes back with it is dropped.
ROUTER_ORIGIN = uuid.uuid4().hex

OutboundMessage = collections.namedtuple('OutboundMessage',
                                         'name body content_type wamp_topic queued_at')


class BrokerBridge(LivehubComponent):
    """Base of the broker bridges; subclasses set :attr:`name` and the broker hooks.

    Hooks: :meth:`broker_to_levels`, :meth:`levels_to_broker`,
    :meth:`start_broker` (start the broker threads), :meth:`stop_broker`,
    :meth:`describe_broker`.  Broker threads call :meth:`deliver` for each
    message and take what to send with ``self.outbound.get_batch()``.
    """

    #: Bridge name (``amqp``...): also the settings prefix.
    name = None
    #: Parser of this bridge's pattern syntax.
    parse_pattern = staticmethod(parse_dotted_pattern)
    #: Events published per reactor turn before letting the network run.
    DRAIN_BATCH = 500
    #: Seconds a durable bridge's broker thread waits for room in a full
    #: inbound queue before dropping (it holds the broker back meanwhile).
    DURABLE_WAIT = 5.0

    def setting(self, key):
        """This bridge's setting ``<name>_<key>``."""
        return self.settings['%s_%s' % (self.name, key)]

    # -- broker hooks ---------------------------------------------------------

    def broker_to_levels(self, name):
        """Broker topic name -> levels (raise UnmappableTopic)."""
        raise NotImplementedError

    def levels_to_broker(self, levels):
        """Levels -> broker topic name (raise UnmappableTopic)."""
        raise NotImplementedError

    def start_broker(self):
        """Start the broker threads (called once the session has joined)."""
        raise NotImplementedError

    def stop_broker(self):
        """Ask the broker threads to stop (``self.stopping`` is already set)."""

    def describe_broker(self):
        """Where the broker is, for logs (no password)."""
        return self.name

    # -- session life ---------------------------------------------------------

    @inlineCallbacks
    def onJoin(self, details):
        self.stats = BridgeStats()
        self.origin = ROUTER_ORIGIN
        self.prefix = self.setting('wamp_prefix')
        bound = self.settings['bridge_queue_size']
        self.inbound = BoundedQueue(bound, name='livehub bridge %s: inbound queue' % self.name,
                                    logger=self.log)
        self.history = HistoryForwarder(self, self.settings.get('history'), bound,
                                        'livehub bridge %s' % self.name, self.log,
                                        on_published=self._history_published,
                                        on_failed=self._history_failed)
        self.stats.history = self.history.counters
        self.outbound = BoundedQueue(bound, name='livehub bridge %s: outbound queue' % self.name,
                                     logger=self.log, hint='broker away?')
        self.stopping = threading.Event()
        self._inbound_drain = DrainScheduler(self._drain_inbound, reactor)
        self.inbound_patterns = [self.parse_pattern(p) for p in self.setting('inbound')]
        self.outbound_patterns = [self.parse_pattern(p) for p in self.setting('outbound')]
        self._stats_loop = None
        try:
            for index, pattern in enumerate(self.outbound_patterns):
                uri, match = wamp_subscription(pattern, self.prefix)
                yield self.subscribe(
                    lambda *a, _i=index, **kw: self._on_wamp_event(_i, *a, **kw), uri,
                    options=SubscribeOptions(match=match, details_arg='details'))
            yield self.register(lambda: self.stats.as_dict(), 'livehub.bridges.%s.stats' % self.name)
            self.start_broker()
        except Exception as exc:  # noqa: BLE001 - logged; never take the router down
            self.log.error('livehub bridge {name}: could not start: {exc}', name=self.name,
                           exc=exc)
            self.stats.last_error = 'start: %s' % exc
            self._shutdown()
            return
        interval = self.settings['bridge_stats_interval']
        if interval > 0:
            self._stats_loop = LoopingCall(self._log_stats)
            self._stats_loop.start(interval, now=False)
        self.log.info('livehub bridge {name}: started ({broker}); inbound {inbound} -> WAMP, '
                      'outbound WAMP -> {outbound}, prefix {prefix!r}',
                      name=self.name, broker=self.describe_broker(),
                      inbound=self.setting('inbound') or 'none',
                      outbound=self.setting('outbound') or 'none', prefix=self.prefix)

    def onLeave(self, details):
        self._shutdown()
        super().onLeave(details)

    def onDisconnect(self):
        self._shutdown()

    def _shutdown(self):
        stopping = getattr(self, 'stopping', None)
        if stopping is None or stopping.is_set():
            return
        stopping.set()
        self.outbound.wake()
        self.history.close()
        if self._stats_loop is not None and self._stats_loop.running:
            self._stats_loop.stop()
        try:
            self.stop_broker()
        except Exception as exc:  # noqa: BLE001
            self.log.warn('livehub bridge {name}: error while stopping: {exc}',
                          name=self.name, exc=exc)
        self.log.info('livehub bridge {name}: stopped; {stats}', name=self.name,
                      stats=self.stats.log_line())

    def _log_stats(self):
        self.log.info('livehub bridge {name}: {stats}', name=self.name, stats=self.stats.log_line())

    # -- inbound: broker -> WAMP ----------------------------------------------

    def deliver(self, name, body, meta, content_type=None, origin=None, check_patterns=False):
        """Take one broker message (any thread): map, decode, queue for WAMP.

        ``origin`` is the message's origin mark, if any; ``check_patterns``
        filters by the inbound patterns (for brokers that match by prefix).
        """
        self.stats.received += 1
        if origin == self.origin:
            self.stats.echoes += 1
            return
        try:
            levels = self.broker_to_levels(name)
            if check_patterns and not any(pattern_matches(p, levels)
                                          for p in self.inbound_patterns):
                return
            topic = levels_to_wamp(levels, self.prefix)
        except UnmappableTopic as exc:
            self.refuse('inbound', name, exc)
            return
        meta['bridge'] = self.name
        meta['topic'] = name
        args, kwargs = inbound_event(body, meta, content_type)
        wait = self.DURABLE_WAIT if self.settings.get('%s_durable' % self.name) else 0
        if self.inbound.put((topic, args, kwargs, time.monotonic()), wait):
            self.stats.dropped_inbound += 1  # the queue logs it
        self._inbound_drain.from_thread()

    def _drain_inbound(self):
        history = self.history
        batch = self.inbound.get_batch(self.DRAIN_BATCH)
        for index, (topic, args, kwargs, queued_at) in enumerate(batch):
            if history.keeps_history(topic):
                if history.full():
                    # The history component is slow or away: keep the rest in
                    # the inbound queue, so a durable bridge holds its broker
                    # back (DURABLE_WAIT) instead of dropping what the broker
                    # was told is delivered.  _history_done drains again.
                    if self.inbound.put_back(batch[index:]):
                        self.stats.dropped_inbound += 1  # the queue logs it
                    return
                try:  # counted as published once the history component took it
                    history.add(topic, args, kwargs, queued_at)
                except ValueError as exc:  # the reserved position key in a broker message
                    self.stats.errors += 1
                    self.stats.last_error = 'history publish %s: %s' % (topic, exc)
                    if should_log(self.stats.errors):
                        self.log.warn('livehub bridge {name}: dropped a message for {topic}: '
                                      '{exc}', name=self.name, topic=topic, exc=exc)
                continue
            try:
                self.publish(topic, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - counted and logged, never fatal
                self.stats.errors += 1
                self.stats.last_error = 'publish %s: %s' % (topic, exc)
                self.log.warn('livehub bridge {name}: could not publish to {topic}: {exc}',
                              name=self.name, topic=topic, exc=exc)
            else:
                self.stats.published += 1
                self.stats.record_delay('inbound', time.monotonic() - queued_at)
        if len(self.inbound):
            self._inbound_drain.again()

    def _history_published(self, items):
        now = time.monotonic()
        self.stats.published += len(items)
        for item in items:
            self.stats.record_delay('inbound', now - item[4])
        self._history_done()

    def _history_failed(self, items, exc):
        self.stats.errors += len(items)
        self.stats.last_error = 'history publish %s: %s' % (items[0][0], exc)
        self._history_done()

    def _history_done(self):
        """The forwarder has room again: drain what waited in the inbound queue."""
        if len(self.inbound) and not self.history.full():
            self._inbound_drain.again()

    # -- outbound: WAMP -> broker ---------------------------------------------

    def _on_wamp_event(self, index, *args, **kwargs):
        details = kwargs.pop('details')
        if META_KEY in kwargs:
            self.stats.skipped_bridged += 1
            return
        pattern = self.outbound_patterns[index]
        topic = details.topic or wamp_subscription(pattern, self.prefix)[0]
        try:
            levels = wamp_to_levels(topic, self.prefix)
        except UnmappableTopic as exc:
            self.refuse('outbound', topic, exc)
            return
        # A prefix subscription is wider than its pattern; and when patterns
        # overlap, only the first matching one's subscription forwards.
        if not pattern_matches(pattern, levels):
            return
        if any(pattern_matches(p, levels) for p in self.outbound_patterns[:index]):
            return
        try:
            name = self.levels_to_broker(levels)
        except UnmappableTopic as exc:
            self.refuse('outbound', topic, exc)
            return
        try:
            body, content_type = encode_event(args, kwargs)
        except (TypeError, ValueError) as exc:
            self.stats.errors += 1
            self.stats.last_error = 'encode %s: %s' % (topic, exc)
            self.log.warn('livehub bridge {name}: event on {topic} has no JSON form, not sent: '
                          '{exc}', name=self.name, topic=topic, exc=exc)
            return
        self.stats.forwarded += 1
        if self.outbound.put(OutboundMessage(name, body, content_type, topic, time.monotonic())):
            self.stats.dropped_outbound += 1  # the queue logs it

    def mark_sent(self, message):
        """Broker threads call this for each message the broker took."""
        self.stats.sent += 1
        self.stats.record_delay('outbound', time.monotonic() - message.queued_at)

    def requeue(self, unsent):
        """Put messages a broker thread could not send back in front of the queue."""
        self.stats.dropped_outbound += self.outbound.put_back(unsent)

    # -- shared helpers for broker threads -----------------------------------

    def refuse(self, direction, name, exc):
        """Count and log a name the topic mapping refused."""
        self.stats.unmappable += 1
        if should_log(self.stats.unmappable):
            self.log.warn('livehub bridge {name}: {direction} topic {topic!r} cannot be mapped '
                          '({reason}); dropped ({n} so far)', name=self.name,
                          direction=direction, topic=name, reason=exc, n=self.stats.unmappable)

    def connected(self):
        """Broker threads call this after connecting."""
        self.stats.connects += 1
        self.stats.connected = True
        self.log.info('livehub bridge {name}: connected to {broker}', name=self.name,
                      broker=self.describe_broker())

    def connection_failed(self, what, exc, delay):
        """Broker threads call this when a connection fails or is lost; logs the retry."""
        self.stats.connected = False
        self.stats.last_error = '%s: %s' % (what, exc)
        self.log.warn('livehub bridge {name}: {what} ({broker}) failed: {exc}; retrying in '
                      '{delay:.1f}s', name=self.name, what=what, broker=self.describe_broker(),
                      exc=exc or type(exc).__name__, delay=delay)

    def retry_policy(self):
        """A reconnect policy for one broker thread: the ``livehub.*retry*`` delays, forever."""
        return RetryPolicy.from_settings(self.settings, max_retries=-1)

    def start_thread(self, target, role):
        """Start a daemon thread for this bridge."""
        thread = threading.Thread(target=target, name='livehub-%s-%s' % (self.name, role),
                                  daemon=True)
        thread.start()
        return thread
