"""Consumers and producers: your code, run inside the bundled router.

A **consumer** reacts to events::

    from pyramid_livehub.plugins import Consumer

    class AuditTrail(Consumer):
        topic = 'app.orders.*'              # str or list; '*' is one component

        def consume(self, message):
            self.log.info('%s: %r', message.topic, message.body)
            self.publish('app.audit.seen', {'topic': message.topic})

A **producer** publishes what ``poll()`` returns every ``frequency``::

    from pyramid_livehub.plugins import PollingProducer

    class QueueDepth(PollingProducer):
        topic = 'app.queue.depth'
        frequency = 5                        # seconds, or a timedelta

        def poll(self):
            return {'depth': count_jobs()}   # None publishes nothing

The router (``livehub router``) loads them from the
``pyramid_livehub.consumer`` and ``pyramid_livehub.producer`` entry points of
installed packages (unless ``livehub.plugin_entry_points = false``) and from
``livehub.consumers`` / ``livehub.producers`` (``package.module:Class``
names).  Each consumer and each producer runs in a thread of its own, so a
slow or blocking one delays only itself: a consumer's waiting messages are
bounded (``backlog``, default ``livehub.consumer_backlog``; the oldest is
dropped and counted when full), and an exception in ``consume()`` or
``poll()`` is logged and counted while the plugin keeps running.

Topic patterns: ``app.orders.created`` (exact), ``app.*.created`` or WAMP's
own ``app..created`` (``*`` is exactly one component), ``app.orders.**``
(everything under ``app.orders.``, any depth).
"""
import datetime
import importlib
import importlib.metadata
import inspect
import logging
import numbers
import os
import sys

CONSUMER_GROUP = 'pyramid_livehub.consumer'
PRODUCER_GROUP = 'pyramid_livehub.producer'


class Message:
    """One event delivered to :meth:`Consumer.consume`.

    ``topic`` is the event's actual topic (useful with patterns); ``args``
    and ``kwargs`` are its payload.  ``body`` is what
    ``request.livehub.publish(topic, payload)`` sent: the first positional
    argument, or the keyword arguments when there is none.
    """

    __slots__ = ('topic', 'args', 'kwargs')

    def __init__(self, topic, args=(), kwargs=None):
        self.topic = topic
        self.args = list(args or ())
        self.kwargs = dict(kwargs or {})

    @property
    def body(self):
        """The first positional argument, else the keyword arguments."""
        return self.args[0] if self.args else self.kwargs

    def __repr__(self):
        return 'Message(%r, %r, %r)' % (self.topic, self.args, self.kwargs)


class Plugin:
    """What consumers and producers share: settings, a logger and ``publish()``.

    The router creates the instance with its ``hub`` (which has ``settings``
    and ``publish``) and calls :meth:`stop` when it shuts down.  Override ``__init__`` only to
    add set-up; call ``super().__init__(hub)`` first.
    """

    def __init__(self, hub):
        self.hub = hub
        #: The parsed ``livehub.*`` settings of the router.
        self.settings = hub.settings
        #: A standard logger named after the class.
        self.log = logging.getLogger('%s.%s' % (type(self).__module__, type(self).__qualname__))

    def publish(self, topic, *args, **kwargs):
        """Publish a WAMP event from this plugin (any thread).

        Raises ``ValueError``/``TypeError`` for a bad topic or payload, like
        ``request.livehub.publish``.  The other plugins' consumers receive
        it too; this plugin never receives its own events (no feedback loops).
        """
        self.hub.publish(topic, args, kwargs)

    def stop(self):
        """Called once when the router stops; release what you hold."""


class Consumer(Plugin):
    """Base class of a consumer: set ``topic`` and implement ``consume``.

    ``topic``: a pattern or a list of patterns (see the module docs).
    ``backlog``: how many messages may wait while ``consume`` is busy
    (default ``livehub.consumer_backlog``).
    """

    topic = None
    backlog = None

    def consume(self, message):
        """Handle one :class:`Message`.  Runs in this consumer's own thread."""
        raise NotImplementedError('%s must implement consume(self, message)' % type(self).__name__)


class PollingProducer(Plugin):
    """Base class of a producer: set ``frequency`` (and ``topic``), implement ``poll``.

    ``poll()`` is called every ``frequency`` seconds (a number or a
    ``timedelta``) in the producer's own thread; a non-``None`` return value
    is published on ``topic`` as the event's one positional argument.
    ``poll()`` may also call ``self.publish(...)`` itself and return None.
    """

    topic = None
    frequency = None

    def poll(self):
        """Return what to publish on ``topic`` now, or None."""
        raise NotImplementedError('%s must implement poll(self)' % type(self).__name__)


# -- topic patterns ----------------------------------------------------------------

def subscription_for(pattern):
    """``(uri, match)`` of the WAMP subscription for a consumer topic pattern.

    >>> subscription_for('app.*.created')
    ('app..created', 'wildcard')
    >>> subscription_for('app.orders.**')
    ('app.orders.', 'prefix')
    """
    from .uri import topic_error
    if not isinstance(pattern, str) or not pattern:
        raise ValueError('a consumer topic is a non-empty str, got %r' % (pattern,))
    parts = pattern.split('.')
    if parts[-1] == '**':
        if len(parts) < 2 or '**' in parts[:-1] or '*' in parts[:-1]:
            raise ValueError('%r: "**" may only end a pattern, after a fixed start '
                             '(e.g. "app.orders.**")' % pattern)
        uri, match = '.'.join(parts[:-1]) + '.', 'prefix'
        reason = topic_error(uri[:-1])
    else:
        if '**' in parts:
            raise ValueError('%r: "**" may only be the last component' % pattern)
        uri = '.'.join('' if part == '*' else part for part in parts)
        match = 'wildcard' if '' in uri.split('.') else 'exact'
        reason = topic_error(uri, allow_empty_components=(match == 'wildcard'))
    if reason:
        raise ValueError('%r is not a valid consumer topic: %s' % (pattern, reason))
    return uri, match


def topic_matches(uri, match, topic):
    """True if ``topic`` matches the WAMP subscription ``(uri, match)``, as the router decides."""
    if match == 'exact':
        return topic == uri
    if match == 'prefix':
        return topic.startswith(uri)
    pattern, parts = uri.split('.'), topic.split('.')
    return len(pattern) == len(parts) and all(p in ('', t) for p, t in zip(pattern, parts))


def consumer_topics(consumer_class):
    """The list of topic patterns of a consumer class."""
    topic = consumer_class.topic
    return [topic] if isinstance(topic, str) else list(topic or ())


def frequency_seconds(producer_class):
    """A producer's ``frequency`` in seconds (float > 0)."""
    frequency = producer_class.frequency
    if isinstance(frequency, datetime.timedelta):
        frequency = frequency.total_seconds()
    if isinstance(frequency, bool) or not isinstance(frequency, numbers.Real) or frequency <= 0:
        raise ValueError('%s.frequency must be a number of seconds > 0 or a timedelta, got %r'
                         % (producer_class.__name__, producer_class.frequency))
    return float(frequency)


# -- discovery -----------------------------------------------------------------------

class PluginSpec:
    """A consumer or producer found by discovery: where from, and the class or the error."""

    def __init__(self, kind, name, source, plugin_class=None, error=None):
        self.kind = kind            # 'consumer' or 'producer'
        self.name = name            # 'package.module:Class'
        self.source = source        # 'entry point ...' or 'livehub.consumers'
        self.plugin_class = plugin_class
        self.error = error

    def __repr__(self):
        return '<PluginSpec %s %s from %s%s>' % (
            self.kind, self.name, self.source, ' ERROR %s' % self.error if self.error else '')


def plugin_sources(settings):
    """``[(kind, 'module:Class', source), ...]`` from settings and entry points (no imports)."""
    found = []
    for kind, key in (('consumer', 'consumers'), ('producer', 'producers')):
        for spec in settings.get(key, ()):
            found.append((kind, spec, 'livehub.%s' % key))
    if settings.get('plugin_entry_points', True):
        for kind, group in (('consumer', CONSUMER_GROUP), ('producer', PRODUCER_GROUP)):
            for entry_point in importlib.metadata.entry_points(group=group):
                dist = getattr(entry_point, 'dist', None)
                where = ' of %s %s' % (dist.name, dist.version) if dist is not None else ''
                found.append((kind, entry_point.value.replace(' ', ''),
                              'entry point %s = %s%s' % (group, entry_point.name, where)))
    unique, seen = [], set()
    for kind, spec, source in found:
        if (kind, spec) not in seen:
            seen.add((kind, spec))
            unique.append((kind, spec, source))
    return unique


def _check_plugin_method(spec, target, base, name, signature):
    """The plugin overrides ``base.<name>`` with a plain (not async) method."""
    method = getattr(target, name)
    if method is getattr(base, name):
        raise ValueError('%s does not implement %s' % (spec, signature))
    if inspect.iscoroutinefunction(method):
        raise ValueError('%s.%s is async; make it a plain method (it runs in a thread '
                         'of its own, so blocking calls are fine)' % (spec, name))


def load_plugin_class(kind, spec):
    """Import and check one plugin class; raise ``ValueError`` naming the fix."""
    module_name, _, attr = spec.partition(':')
    if not module_name or not attr:
        raise ValueError('%r is not "package.module:Class"' % spec)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError('cannot import %r: %s (is the package installed in the router\'s '
                         'Python, or its directory on PYTHONPATH?)' % (module_name, exc)) from None
    target = module
    for part in attr.split('.'):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError('module %r has no %r' % (module_name, attr)) from None
    base = Consumer if kind == 'consumer' else PollingProducer
    if not (isinstance(target, type) and issubclass(target, base)):
        raise ValueError('%s is not a subclass of pyramid_livehub.plugins.%s'
                         % (spec, base.__name__))
    if kind == 'consumer':
        topics = consumer_topics(target)
        if not topics:
            raise ValueError('%s has no topic; set topic = "app.orders.*" (or a list)' % spec)
        for pattern in topics:
            subscription_for(pattern)
        _check_plugin_method(spec, target, Consumer, 'consume', 'consume(self, message)')
        if target.backlog is not None and (not isinstance(target.backlog, int)
                                           or target.backlog < 1):
            raise ValueError('%s.backlog must be a whole number >= 1, got %r'
                             % (spec, target.backlog))
    else:
        frequency_seconds(target)
        _check_plugin_method(spec, target, PollingProducer, 'poll', 'poll(self)')
        if target.topic is not None:
            from .uri import check_topic
            check_topic(target.topic)
    return target


def discover_plugins(settings, python_path=()):
    """Every configured consumer and producer as :class:`PluginSpec` (errors included).

    ``python_path``: directories to import from as well (the router passes
    the directory it was started from; ``describe_plugins`` the current one).
    """
    specs = []
    added = [path for path in python_path if path not in sys.path]
    sys.path[:0] = added
    try:
        for kind, name, source in plugin_sources(settings):
            try:
                plugin_class = load_plugin_class(kind, name)
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not hide the others
                specs.append(PluginSpec(kind, name, source, error=str(exc)))
            else:
                specs.append(PluginSpec(kind, name, source, plugin_class=plugin_class))
    finally:
        for path in added:
            if path in sys.path:
                sys.path.remove(path)
    return specs


def describe_plugins(settings):
    """One line per consumer and producer the router would run (for ``livehub list``)."""
    from .settings import LivehubSettings, parse_settings
    if not isinstance(settings, LivehubSettings):
        settings = parse_settings(settings)
    lines = []
    # Same rule as the router: modules resolve from the directory you are in.
    for spec in discover_plugins(settings, python_path=[os.getcwd()]):
        if spec.error:
            lines.append('%s %s  ERROR: %s  [%s]' % (spec.kind, spec.name, spec.error, spec.source))
        elif spec.kind == 'consumer':
            cls = spec.plugin_class
            lines.append('consumer %s  topics: %s  backlog: %d  [%s]' % (
                spec.name, ', '.join(consumer_topics(cls)),
                cls.backlog or settings['consumer_backlog'], spec.source))
        else:
            cls = spec.plugin_class
            lines.append('producer %s  every %gs -> %s  [%s]' % (
                spec.name, frequency_seconds(cls), cls.topic or '(publishes itself)',
                spec.source))
    if not lines:
        lines.append('no consumers or producers (set livehub.consumers / livehub.producers, or '
                     'install a package with pyramid_livehub.consumer / .producer entry points)')
    return lines


# -- the running router's counters -------------------------------------------------------

STATS_PROCEDURE = 'livehub.plugins.stats'


def fetch_plugin_stats(settings, timeout=10.0):
    """Counters of the consumers and producers running in the router (a WAMP call).

    Returns the dict served by ``livehub.plugins.stats``: per consumer
    ``received/consumed/failed/dropped/waiting``, per producer
    ``polls/published/failed/overruns``, and ``load_errors``.  Raises
    ``RuntimeError`` when the router cannot be reached or runs no plugins.
    """
    import asyncio
    import concurrent.futures
    import threading

    from .publisher import backend_authentication, make_transport
    from .settings import LivehubSettings, parse_settings
    if not isinstance(settings, LivehubSettings):
        settings = parse_settings(settings)
    outcome = concurrent.futures.Future()

    def run():
        import txaio
        from autobahn.asyncio.component import Component
        txaio.use_asyncio()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        transport = make_transport(settings)
        transport['max_retries'] = 0
        component = Component(transports=[transport], realm=settings['realm'],
                              authentication=backend_authentication(settings))

        async def on_join(session, details):
            try:
                outcome.set_result(await session.call(STATS_PROCEDURE))
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                outcome.set_exception(exc)
            session.leave()

        component.on('join', on_join)
        finished = component.start(loop=loop)
        finished.add_done_callback(lambda _: loop.call_soon(loop.stop))
        loop.call_later(timeout, loop.stop)
        try:
            loop.run_forever()
        finally:
            if not outcome.done():
                outcome.set_exception(RuntimeError('no answer'))
            loop.close()

    threading.Thread(target=run, name='livehub-plugin-stats', daemon=True).start()
    try:
        return outcome.result(timeout + 1)
    except Exception as exc:
        if 'no_such_procedure' in str(getattr(exc, 'error', '')) or 'no_such_procedure' in str(exc):
            raise RuntimeError('the router at %s runs no consumers or producers'
                               % settings['router_url']) from None
        raise RuntimeError('could not read the plugin counters from the router at %s: %s'
                           % (settings['router_url'], exc)) from None
