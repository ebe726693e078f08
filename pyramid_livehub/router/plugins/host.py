"""The router component that runs consumers and producers: :class:`PluginHost`.

Crossbar starts it in the container worker when
:func:`pyramid_livehub.router.plugins.plugin_components` asks for it.  It
imports Twisted, so only the router imports this module.

Plugin events on a ``livehub.history`` topic go through the history component
(:class:`~pyramid_livehub.router.history_forward.HistoryForwarder`): they get
a position, are stored, and reach the other plugins' consumers from the
router (with the position), like any other subscriber.  The message id names
the publishing plugin, so it still never gets its own events back.
"""
import copy
import sys
import time
import traceback

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.python.threadable import isInIOThread

from pyramid_livehub._codec import prepare_event
from pyramid_livehub._queue import BoundedQueue
from pyramid_livehub.history import split_position
from pyramid_livehub.plugins import STATS_PROCEDURE, Message, consumer_topics, discover_plugins, \
    subscription_for
from pyramid_livehub.router.component import DrainScheduler, LivehubComponent
from pyramid_livehub.router.history_forward import HistoryForwarder
from pyramid_livehub.router.plugins.runners import ConsumerRunner, ProducerRunner
from pyramid_livehub.router.slim import release_stubs

#: Events plugins may have waiting for the router's event loop before new ones are dropped.
MAX_PENDING_PUBLISHES = 10000

#: Seconds the host waits for plugin threads at shutdown (they are daemons after that).
STOP_TIMEOUT = 3.0


class PluginHub:
    """What a plugin sees as ``self.hub``: the settings and a thread-safe ``publish``."""

    def __init__(self, host, name):
        self._host = host
        self._name = name
        self.settings = host.settings

    def publish(self, topic, args=(), kwargs=None):
        """Check the event in the caller's thread, then publish it from the router's loop."""
        args, kwargs = prepare_event(topic, args, kwargs or {})
        self._host.publish_from_plugin(topic, args, kwargs, source=self._name)


class PluginHost(LivehubComponent):
    """Router component that runs every configured consumer and producer."""

    def __init__(self, config=None):
        super().__init__(config)
        # The container worker answers numpy, XBR... with stubs to save memory
        # (pyramid_livehub.router.slim); the plugins get the real packages.
        released = release_stubs()
        if released:
            self.log.debug('livehub plugins: {n} stub modules released', n=len(released))
        # Kept for the process's lifetime: plugins may import lazily later.
        for path in reversed(self.extra.get('python_path', [])):
            if path not in sys.path:
                sys.path.insert(0, path)
        self.runners = {}
        self.load_errors = {}
        #: plugin events waiting for the router's event loop (the newest dropped when full)
        self.pending_publishes = BoundedQueue(
            MAX_PENDING_PUBLISHES, 'drop_newest', logger=self.log,
            name='livehub plugins: events waiting for the router loop')
        self._publish_drain = DrainScheduler(self._publish_queued, reactor)
        self.published = 0
        self.publish_failed = 0
        self.history = None
        self._stopped = True

    @inlineCallbacks
    def onJoin(self, details):
        """Register the counters procedure, load the plugins, subscribe and start them."""
        from autobahn.wamp.types import SubscribeOptions
        self.history = HistoryForwarder(self, self.settings.get('history'),
                                        MAX_PENDING_PUBLISHES, 'livehub plugins', self.log,
                                        on_published=self._history_published,
                                        on_failed=self._history_failed)
        yield self.register(self.stats, STATS_PROCEDURE)
        self.runners, self.load_errors = {}, {}
        for spec in discover_plugins(self.settings):
            if spec.error:
                self.load_errors[spec.name] = '%s (%s)' % (spec.error, spec.source)
                self.log.error('livehub plugin {name} not loaded: {error} [{source}]',
                               name=spec.name, error=spec.error, source=spec.source)
                continue
            try:
                plugin = spec.plugin_class(PluginHub(self, spec.name))
            except Exception:  # noqa: BLE001 - the other plugins still run
                self.load_errors[spec.name] = 'creating it raised: %s' % traceback.format_exc()
                self.log.error('livehub plugin {name}: __init__ raised:\n{tb}', name=spec.name,
                               tb=traceback.format_exc())
                continue
            if spec.kind == 'consumer':
                backlog = spec.plugin_class.backlog or self.settings['consumer_backlog']
                runner = ConsumerRunner(self, spec.name, plugin, backlog)
                try:
                    for pattern in consumer_topics(spec.plugin_class):
                        uri, match = subscription_for(pattern)
                        yield self.subscribe(self._handler(runner, uri), uri,
                                             options=SubscribeOptions(match=match,
                                                                      details_arg='details'))
                except Exception as exc:  # noqa: BLE001 - e.g. the router refused the topic
                    self.load_errors[spec.name] = 'subscribing failed: %s' % exc
                    self.log.error('livehub plugin {name}: subscribing to {pattern!r} failed: '
                                   '{exc}', name=spec.name, pattern=pattern, exc=exc)
                    continue
                self.log.info('livehub plugin {name}: consuming {topics}', name=spec.name,
                              topics=', '.join(consumer_topics(spec.plugin_class)))
            else:
                runner = ProducerRunner(self, spec.name, plugin)
                self.log.info('livehub plugin {name}: polling every {period}s', name=spec.name,
                              period=runner.period)
            self.runners[spec.name] = runner
        self._stopped = False
        for runner in self.runners.values():
            runner.start()
        reactor.addSystemEventTrigger('before', 'shutdown', self.stop_plugins)
        self.log.info('livehub plugins ready: {count} running, {errors} not loaded',
                      count=len(self.runners), errors=len(self.load_errors))

    def _handler(self, runner, uri):
        def on_event(*args, details=None, **kwargs):
            publication = getattr(details, 'publication', None)
            if publication is not None:
                if publication == runner.last_publication:
                    return  # the same event through a second matching pattern
                runner.last_publication = publication
            # The position is wire metadata: Message.position, not kwargs (nor body).
            kwargs, position = split_position(kwargs)
            if runner.name == self._history_source(position):
                return  # its own event, back from the history component: no feedback loop
            topic = getattr(details, 'topic', None) or uri
            runner.offer(Message(topic, args, kwargs, position))
        return on_event

    def _history_source(self, position):
        """The plugin that published an event (with this position) through our forwarder, or None."""
        msgid = position.get('msgid') if isinstance(position, dict) else None
        prefix = self.history.msgid_prefix if self.history is not None else None
        if not isinstance(msgid, str) or prefix is None or not msgid.startswith(prefix):
            return None
        return msgid.partition('/')[2] or None

    def publish_from_plugin(self, topic, args, kwargs, source=None):
        """Publish a plugin's (already checked) event; safe from any thread."""
        if isInIOThread():
            self._publish_now(topic, args, kwargs, source)
            return
        if self.pending_publishes.put((topic, args, kwargs, source)):
            return  # dropped (counted and logged by the queue)
        self._publish_drain.from_thread()

    def _publish_queued(self):
        for topic, args, kwargs, source in self.pending_publishes.get_batch(MAX_PENDING_PUBLISHES):
            self._publish_now(topic, args, kwargs, source)

    def _publish_now(self, topic, args, kwargs, source):
        if not self.is_attached():
            self.publish_failed += 1
            return
        if self.history is not None and self.history.keeps_history(topic):
            # The history component publishes it, so our consumers get it from
            # the router; the msgid names the source (see _history_source).
            try:
                self.history.add(topic, args, kwargs, source, msgid_suffix='/%s' % (source or ''))
            except ValueError as exc:
                self.publish_failed += 1
                self.log.error('livehub plugins: could not publish on {topic}: {exc}',
                               topic=topic, exc=exc)
            return
        try:
            # The router does not send our own events back to this session
            # (exclude_me), so the other plugins get them from here instead,
            # and the publishing plugin never gets its own: no feedback loops.
            self.publish(topic, *args, **kwargs)
            self.published += 1
        except Exception as exc:  # noqa: BLE001 - never kill the loop
            self.publish_failed += 1
            self.log.error('livehub plugins: could not publish on {topic}: {exc}', topic=topic,
                           exc=exc)
            return
        for name, runner in self.runners.items():
            if name != source and isinstance(runner, ConsumerRunner) and runner.matches(topic):
                runner.offer(Message(topic, copy.deepcopy(args), copy.deepcopy(kwargs)))

    def _history_published(self, items):
        self.published += len(items)

    def _history_failed(self, items, exc):
        self.publish_failed += len(items)

    def stats(self):
        """Counters of every plugin (the ``livehub.plugins.stats`` procedure).

        ``published`` counts what the router took (for history topics: what the
        history component took); ``history`` has the forwarder's counters.
        """
        return {
            'consumers': {name: r.stats() for name, r in self.runners.items()
                          if isinstance(r, ConsumerRunner)},
            'producers': {name: r.stats() for name, r in self.runners.items()
                          if isinstance(r, ProducerRunner)},
            'load_errors': dict(self.load_errors),
            'published': self.published,
            'publish_dropped': self.pending_publishes.dropped + (
                self.history.waiting.dropped if self.history is not None else 0),
            'publish_failed': self.publish_failed,
            'history': self.history.counters() if self.history is not None else None,
        }

    def stop_plugins(self):
        """Stop every plugin thread (waits up to :data:`STOP_TIMEOUT` seconds in all)."""
        if self.history is not None:
            self.history.close()
        if self._stopped:
            return
        self._stopped = True
        for runner in self.runners.values():
            runner.stop()
        deadline = time.monotonic() + STOP_TIMEOUT
        stuck = []
        for name, runner in self.runners.items():
            runner.thread.join(max(0.0, deadline - time.monotonic()))
            if runner.thread.is_alive():
                stuck.append(name)
        if stuck:
            self.log.warn('livehub plugins: {names} still busy after {timeout}s; left behind',
                          names=', '.join(stuck), timeout=STOP_TIMEOUT)
        self.log.info('livehub plugins stopped: {names}',
                      names=', '.join(sorted(self.runners)) or 'none')

    def onLeave(self, details):
        """Stop the plugins when the session ends."""
        self.stop_plugins()
        super().onLeave(details)

    def onDisconnect(self):
        """Stop the plugins when the connection is gone (idempotent)."""
        self.stop_plugins()
