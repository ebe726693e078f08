"""The router component that assigns stream positions: :class:`HistoryComponent`.

Crossbar starts it in the container worker when
:func:`pyramid_livehub.history.history_components` asks for it.  It imports
Twisted, so only the router imports this module.  The procedures and the wire
format are described in :mod:`pyramid_livehub.history`.
"""
from typing import Any

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import RegisterOptions
from twisted.internet import reactor, threads
from twisted.internet.defer import Deferred, fail, inlineCallbacks, maybeDeferred
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from pyramid_livehub._queue import should_log
from pyramid_livehub._uri import check_topic
from pyramid_livehub.history import POSITION_KEY, PROCEDURE_PREFIX
from pyramid_livehub.history.settings import HistoryRules
from pyramid_livehub.history.stores import HistoryStore, NoHistory, open_store
from pyramid_livehub.router.auth import BROWSER_ROLES, TopicAuthorizer
from pyramid_livehub.router.component import LivehubComponent
from pyramid_livehub.router.node_config import ANONYMOUS_CLOSED_PREFIXES

#: Events that may wait for the store (beyond the batch in its hands).  Each
#: caller bounds what it has in flight (a publisher ``livehub.queue_size``
#: unacknowledged events, a bridge or the plugin host one batch), so only
#: very many backed-up callers reach it; past it calls are refused with
#: ``livehub.history.store_unavailable`` and resent by their callers, a
#: safety valve for the router's memory.  A pipelining publisher whose call
#: is refused while a later one of its calls is accepted sees those events
#: stored out of order (as when the store fails for a moment).
MAX_PENDING_EVENTS = 1000000

#: Stores of this process by configuration: a component that re-joins after a
#: lost connection keeps its history (and the memory store its epoch).
_STORES: dict[tuple, HistoryStore] = {}


def _store_for(extra):
    key = (repr(extra.get('history')), extra.get('store', 'memory'),
           extra.get('max_topics', 10000))
    if key not in _STORES:
        _STORES[key] = open_store(key[1], HistoryRules(extra.get('history') or []),
                                  max_topics=key[2])
    return _STORES[key]


class HistoryComponent(LivehubComponent):
    """Router component: publishes history-enabled events with their position.

    ``extra``: ``history`` (the parsed ``livehub.history`` lines),
    ``store`` (``livehub.history_store``), ``max_topics``.

    Appends are coalesced: while the store is busy with one batch, new calls
    wait and go as the next batch (one Redis round trip for many events).
    Batches are published in offset order; with a blocking store (Redis) the
    next batch goes to the store while the previous one is being published.
    """

    def __init__(self, config=None):
        super().__init__(config)
        self.store = _store_for(self.extra)
        self.published = 0
        self.unpositioned = 0
        self.store_errors = 0
        self.publish_errors = 0
        self.batches = 0          # store round trips (appends per batch = appended / batches)
        self._pending = []        # [(item, Deferred)] waiting for the store
        self._pending_events = 0  # events in _pending (bounded by MAX_PENDING_EVENTS)
        self.busy_refusals = 0    # calls refused because MAX_PENDING_EVENTS were waiting
        self._busy = False
        self.refused = 0          # history reads refused to browsers (not allowed to subscribe)
        # With livehub.auth the browsers' topic rules; without it the static
        # anonymous role's closed prefixes (see router.node_config).
        self.authorizer = TopicAuthorizer(self.settings) if self.settings.get('auth') else None
        self._pool = None
        if self.store.blocking:
            # One thread: store calls run in order, so offsets are published in order.
            self._pool = ThreadPool(1, 1, name='livehub-history')
            self._pool.start()
            reactor.addSystemEventTrigger('during', 'shutdown', self._pool.stop)  # type: ignore[arg-type]

    @inlineCallbacks
    def onJoin(self, details):
        """Register the procedures."""
        reader = RegisterOptions(details_arg='details')  # who calls, to check browsers' reads
        for name, method, options in (
                ('publish', self.publish_event, None), ('publish_batch', self.publish_batch, None),
                ('fetch', self.fetch, reader), ('position', self.position, reader),
                ('stats', self.stats, None)):
            yield self.register(method, PROCEDURE_PREFIX + name, options=options)
        self.log.info('livehub history: ready ({kind} store, {lines} pattern(s))',
                      kind=self.store.kind, lines=len(self.store.rules.lines))

    # -- store calls ----------------------------------------------------------

    def _call(self, method, *args):
        if self._pool is None:
            return maybeDeferred(method, *args)
        return threads.deferToThreadPool(reactor, self._pool, method, *args)

    def _append(self, items):
        """Deferred list of positions (None for a topic without history), in order."""
        if self._pending and self._pending_events + len(items) > MAX_PENDING_EVENTS:
            # A slow store must not grow the router without limit: the caller
            # (publisher, bridge, plugin host) resends on this error.
            self.busy_refusals += 1
            if should_log(self.busy_refusals):
                self.log.warn('livehub history: {n} events already wait for the {kind} store; '
                              'refusing more until it catches up ({refusals} refusals so far)',
                              n=self._pending_events, kind=self.store.kind,
                              refusals=self.busy_refusals)
            return fail(ApplicationError(
                'livehub.history.store_unavailable',
                'history store (%s) busy: %d events wait for it (bound %d); resend later'
                % (self.store.kind, self._pending_events, MAX_PENDING_EVENTS)))
        waiting: Deferred[Any] = Deferred()
        self._pending.append((items, waiting))
        self._pending_events += len(items)
        if not self._busy:
            self._next_batch()
        return waiting

    def _next_batch(self):
        if not self._pending:
            self._busy = False
            return
        self._busy = True
        batch, self._pending = self._pending, []
        self._pending_events = 0
        items = [item for items, _ in batch for item in items]
        self.batches += 1
        stored = [item for item in items if self.store.rules.keeps(item[0])]
        d = self._call(self.store.append_many, stored)
        d.addBoth(self._batch_done, batch, len(stored) == len(items))

    def _batch_done(self, outcome, batch, all_stored):
        if self._pool is not None:
            # Send the next batch to the store before publishing this one, so
            # the Redis round trip overlaps the publishing.  Order holds: the
            # next batch's result is handled in a later reactor turn, after
            # every event of this one was published.
            self._next_batch()
        try:
            if isinstance(outcome, Failure):
                self._store_failed(outcome, batch)
            else:
                self._stored(outcome, batch, all_stored)
        finally:
            if self._pool is None:
                self._next_batch()  # an in-process store answers at once: publish first

    def _stored(self, positions, batch, all_stored=False):
        positions = iter(positions)
        keeps = self.store.rules.keeps
        for items, waiting in batch:
            marked = [(item, next(positions) if all_stored or keeps(item[0])
                       else None) for item in items]
            try:
                results = [self._publish_marked(item, position) for item, position in marked]
            except Exception as exc:  # noqa: BLE001 - the caller hears of it
                # Stored but not sent live (the router connection is going away):
                # the caller resends, the resend is dropped as a duplicate, and
                # subscribers get the event through fetch.
                self.publish_errors += 1
                waiting.errback(ApplicationError('livehub.history.publish_failed',
                                                 'stored but not published: %s' % exc))
            else:
                waiting.callback(results)

    def _publish_marked(self, item, position):
        topic, args, kwargs, msgid = item
        if position is None:
            self.unpositioned += 1
        elif position['duplicate']:
            return position  # a resend: its first copy was published already
        else:
            mark = {'epoch': position['epoch'], 'offset': position['offset']}
            if msgid is not None:
                mark['msgid'] = msgid
            kwargs = dict(kwargs, **{POSITION_KEY: mark})
        self.publish(topic, *args, **kwargs)
        self.published += 1
        return position

    def _store_failed(self, failure, batch):
        self.store_errors += 1
        if should_log(self.store_errors):
            self.log.error('livehub history: the {kind} store failed ({n} so far): {exc}',
                           kind=self.store.kind, n=self.store_errors, exc=failure.value)
        error = ApplicationError('livehub.history.store_unavailable',
                                 'history store (%s) failed, nothing was published: %s'
                                 % (self.store.kind, failure.value))
        for _, waiting in batch:
            waiting.errback(error)

    @staticmethod
    def _checked(topic, args, kwargs, msgid):
        try:
            check_topic(topic)
        except ValueError as exc:
            raise ApplicationError('livehub.history.invalid_topic', str(exc)) from None
        if not isinstance(args, (list, tuple, type(None))) or not isinstance(
                kwargs, (dict, type(None))):
            raise ApplicationError('livehub.history.invalid_argument',
                                   'args must be a list and kwargs a dict (or null), got %s '
                                   'and %s' % (type(args).__name__, type(kwargs).__name__))
        kwargs = dict(kwargs or {})
        if POSITION_KEY in kwargs:
            raise ApplicationError('livehub.history.reserved_key',
                                   'kwargs key %r is reserved for the stream position'
                                   % POSITION_KEY)
        return topic, list(args or ()), kwargs, msgid

    # -- procedures -------------------------------------------------------------

    def publish_event(self, topic, args=None, kwargs=None, msgid=None):
        """``livehub.history.publish``: position, store and publish one event.

        Returns the position (``{epoch, offset, duplicate}``), or None for a
        topic without history (then the event was published, unpositioned).
        """
        d = self._append([self._checked(topic, args, kwargs, msgid)])
        d.addCallback(lambda results: results[0])
        return d

    def publish_batch(self, events):
        """``livehub.history.publish_batch``: ``[[topic, args, kwargs, msgid], ...]``.

        Like :meth:`publish_event` for each, in order; returns the list of positions.
        """
        items = []
        for event in events:
            topic, args, kwargs, msgid = (list(event) + [None] * 4)[:4]
            items.append(self._checked(topic, args, kwargs, msgid))
        return self._append(items)

    def _read(self, method, topic, *args):
        d = self._call(method, topic, *args)

        def no_history(failure):
            failure.trap(NoHistory)
            raise ApplicationError('livehub.history.not_enabled', str(failure.value))
        d.addErrback(no_history)
        return d

    def fetch(self, topic, since=None, limit=None, epoch=None, details=None):
        """``livehub.history.fetch``: events after ``since`` (see HistoryStore.fetch)."""
        if since is not None and (not isinstance(since, int) or since < 0):
            raise ApplicationError('livehub.history.invalid_argument',
                                   'since must be an offset >= 0, got %r' % (since,))
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ApplicationError('livehub.history.invalid_argument',
                                   'limit must be a count >= 0, got %r' % (limit,))
        d = self._check_reader(topic, details)
        d.addCallback(lambda _: self._read(self.store.fetch, topic, since, limit, epoch))
        return d

    def position(self, topic, details=None):
        """``livehub.history.position``: the topic's current ``{epoch, offset}``."""
        d = self._check_reader(topic, details)
        d.addCallback(lambda _: self._read(self.store.position, topic))
        return d

    @inlineCallbacks
    def _check_reader(self, topic, details):
        """Refuse a browser a topic it may not subscribe to (issue 12 item 7).

        Browsers' calls are disclosed (router.node_config, router.auth); the
        backend's are not, and the backend may read everything.
        """
        caller = getattr(details, 'caller', None)
        if caller is None:
            return
        role = getattr(details, 'caller_authrole', None)
        if not isinstance(topic, str):
            allowed, reason = False, 'the topic must be a string'
        elif role not in BROWSER_ROLES:
            allowed, reason = False, 'role %r may not read history' % (role,)
        elif self.authorizer is None:
            closed = next((p for p in ANONYMOUS_CLOSED_PREFIXES if topic.startswith(p)), None)
            allowed = closed is None
            reason = 'topics under %r are closed to browsers' % closed
        else:
            session = yield self.call('wamp.session.get', caller)
            allowed, reason = self.authorizer.may_subscribe(session or {}, topic)
        if not allowed:
            self.refused += 1
            self.log.info('livehub history: refused {topic!r} to session {caller} (role {role}, '
                          'authid {authid!r}): {reason}', topic=topic, caller=caller, role=role,
                          authid=getattr(details, 'caller_authid', None), reason=reason)
            raise ApplicationError('livehub.history.not_authorized',
                                   'this session may not subscribe to %r, so it may not read its '
                                   'history (%s)' % (topic, reason))

    def stats(self):
        """``livehub.history.stats``: the store's counters and this component's."""
        def counters():
            return dict(self.store.stats(), epoch=self.store.epoch)
        d = self._call(counters)
        d.addCallback(lambda stats: dict(stats, published=self.published,
                                         unpositioned=self.unpositioned,
                                         store_errors=self.store_errors,
                                         publish_errors=self.publish_errors,
                                         refused=self.refused,
                                         busy_refusals=self.busy_refusals,
                                         batches=self.batches))
        return d
