"""Prometheus metrics: ``GET <route_prefix>/metrics`` (setting ``livehub.metrics``).

The Pyramid app serves them, not the router, for two reasons: the router's
web transport is Crossbar's, with no HTTP hook of ours to render a page
from, and every web process is scraped by the monitor anyway (its publisher
counters are per process, so only the process itself can serve them).

One scrape shows:

* this process's publisher: ``livehub_publisher_total{counter=...}`` for
  every counter of :class:`~pyramid_livehub.publisher.PublisherStats`,
  ``livehub_publisher_pending`` and ``livehub_publisher_connected``;
* the router, read over the publisher's own WAMP session with short-timeout
  calls and cached for :data:`CACHE_SECONDS` so that many scrapers do not
  hammer it: ``livehub_router_up`` (0 when it does not answer, and then
  nothing else of the router), ``livehub_router_sessions``,
  ``livehub_router_subscriptions{match=...}``, the guard's counters
  (``livehub_router_slow_client_closes_total``,
  ``livehub_router_memory_trims_total``, ``livehub_router_events_out_total``),
  ``livehub_bridge_total{bridge,counter}`` and ``livehub_bridge_connected``,
  ``livehub_plugin_total{plugin,kind,counter}``,
  ``livehub_history_total{counter}`` and ``livehub_auth_refusals_total{reason}``
  when the router runs those components.

Every router process answers for itself; with several web processes, each
reports the same router numbers (aggregate them with ``max``, not ``sum``).
The metrics live in a registry of the app's own (no global state).
"""
import threading
import time
from typing import Any, Callable, Iterator, Optional

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from pyramid_livehub.interfaces import IMetricsRegistry

__all__ = ['LivehubCollector', 'metrics_view', 'make_registry', 'CACHE_SECONDS', 'CALL_TIMEOUT']

#: Seconds a reading of the router's counters is reused for.
CACHE_SECONDS = 1.0
#: Seconds each call to the router may take before the router counts as down.
CALL_TIMEOUT = 0.5

#: Plugin values that go up and down (the rest are counters).
_PLUGIN_GAUGES = ('waiting', 'backlog')


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class LivehubCollector:
    """A prometheus_client collector of the publisher's and the router's counters."""

    def __init__(self, publisher: Any, settings: Any, cache_seconds: float = CACHE_SECONDS,
                 timeout: float = CALL_TIMEOUT, clock: Callable[[], float] = time.monotonic):
        self.publisher = publisher
        self.settings = settings
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: Optional[dict] = None
        self._cached_at = 0.0

    def describe(self) -> list:
        """Nothing: the metrics depend on the router's answers (no collect at registration)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Every metric, the router's from a reading at most ``cache_seconds`` old."""
        yield from self._publisher_metrics()
        yield from self._router_metrics(self.router_counters())

    # -- the router ---------------------------------------------------------

    def router_counters(self) -> dict:
        """The router's counters (cached); ``{'up': False}`` when it does not answer."""
        with self._lock:  # one reading at a time; concurrent scrapes share it
            now = self.clock()
            if self._cached is None or now - self._cached_at >= self.cache_seconds:
                self._cached = self._read_router()
                self._cached_at = self.clock()
            return self._cached

    def _call(self, procedure: str) -> Any:
        """The procedure's answer, or None when the router does not run it."""
        from autobahn.wamp.exception import ApplicationError
        try:
            return self.publisher.call(procedure, timeout=self.timeout)
        except ApplicationError:
            return None  # no such procedure (component not running) or refused

    def _read_router(self) -> dict:
        connect = getattr(self.publisher, 'connect', None)
        if connect is not None:
            connect(0)  # start the session if nothing was published yet; never waits
        try:
            counters: dict = {'up': True, 'sessions': self.publisher.call(
                'wamp.session.count', timeout=self.timeout)}
            counters['subscriptions'] = self._call('wamp.subscription.list') or {}
            counters['guard'] = self._call('livehub.router.stats') or {}
            counters['bridges'] = {name: self._call('livehub.bridges.%s.stats' % name)
                                   for name in self.settings.get('bridges') or ()}
            counters['plugins'] = self._call('livehub.plugins.stats')
            counters['history'] = (self._call('livehub.history.stats')
                                   if self.settings.get('history') else None)
            counters['auth'] = (self._call('livehub.auth.stats')
                                if self.settings.get('auth') else None)
        except (RuntimeError, TimeoutError):  # not connected, or no answer in time
            return {'up': False}
        return counters

    def _router_metrics(self, counters: dict) -> Iterator[Metric]:
        yield GaugeMetricFamily('livehub_router_up', 'Whether the router answered the last '
                                'reading (1) or not (0).', value=1 if counters['up'] else 0)
        if not counters['up']:
            return
        yield GaugeMetricFamily('livehub_router_sessions', 'WAMP sessions joined to the realm.',
                                value=counters['sessions'])
        subscriptions = GaugeMetricFamily('livehub_router_subscriptions',
                                          'Subscriptions in the realm, by match policy.',
                                          labels=['match'])
        for match, ids in sorted(counters['subscriptions'].items()):
            subscriptions.add_metric([match], len(ids or ()))
        yield subscriptions
        for name, value in sorted(counters['guard'].items()):
            if not _number(value):
                continue
            if name.startswith('max_'):
                yield GaugeMetricFamily('livehub_router_' + name, 'Guard setting %s.' % name,
                                        value=value)
            else:
                yield CounterMetricFamily('livehub_router_' + name, 'Router guard counter '
                                          '%s (since the router worker started).' % name,
                                          value=value)
        yield from self._bridge_metrics(counters['bridges'])
        if counters['plugins'] is not None:
            yield from self._plugin_metrics(counters['plugins'])
        if counters['history'] is not None:
            history = CounterMetricFamily('livehub_history', 'Counters of the history '
                                          'component (store and publishing).', labels=['counter'])
            for name, value in sorted(counters['history'].items()):
                if _number(value) and name != 'epoch':
                    history.add_metric([name], value)
            yield history
        if counters['auth'] is not None:
            refusals = CounterMetricFamily('livehub_auth_refusals', 'Refused tickets and '
                                           'authorizations, by kind.', labels=['reason'])
            for reason, value in sorted((counters['auth'].get('refusals') or {}).items()):
                refusals.add_metric([reason], value)
            yield refusals

    def _bridge_metrics(self, bridges: dict) -> Iterator[Metric]:
        if not bridges:
            return
        total = CounterMetricFamily('livehub_bridge', 'Counters of each bridge.',
                                    labels=['bridge', 'counter'])
        connected = GaugeMetricFamily('livehub_bridge_connected', 'Whether the bridge is '
                                      'connected to its broker (1) or not (0); -1: the bridge '
                                      'did not answer.', labels=['bridge'])
        for bridge, stats in sorted(bridges.items()):
            if stats is None:
                connected.add_metric([bridge], -1)
                continue
            connected.add_metric([bridge], 1 if stats.get('connected') else 0)
            for name, value in sorted(stats.items()):
                if _number(value):
                    total.add_metric([bridge, name], value)
        yield total
        yield connected

    def _plugin_metrics(self, plugins: dict) -> Iterator[Metric]:
        total = CounterMetricFamily('livehub_plugin', 'Counters of each consumer and producer '
                                    'running in the router.', labels=['plugin', 'kind', 'counter'])
        gauge = GaugeMetricFamily('livehub_plugin_queue', 'Events waiting in each consumer.',
                                  labels=['plugin', 'kind', 'queue'])
        for group in ('consumers', 'producers'):
            for plugin, stats in sorted((plugins.get(group) or {}).items()):
                kind = group[:-1]
                for name, value in sorted(stats.items()):
                    if not _number(value):
                        continue
                    if name in _PLUGIN_GAUGES:
                        gauge.add_metric([plugin, kind, name], value)
                    else:
                        total.add_metric([plugin, kind, name], value)
        yield total
        yield gauge
        host = CounterMetricFamily('livehub_plugins_host', 'Counters of the plugin host.',
                                   labels=['counter'])
        for name in ('published', 'publish_dropped', 'publish_failed'):
            if _number(plugins.get(name)):
                host.add_metric([name], plugins[name])
        yield host
        yield GaugeMetricFamily('livehub_plugins_load_errors', 'Plugins that failed to load.',
                                value=len(plugins.get('load_errors') or {}))

    # -- this process -------------------------------------------------------

    def _publisher_metrics(self) -> Iterator[Metric]:
        publisher = self.publisher
        total = CounterMetricFamily('livehub_publisher', "This process's publisher counters "
                                    '(queued, sent, dropped, failed, reconnects, joins, ...).',
                                    labels=['counter'])
        stats = getattr(publisher, 'stats', None)
        for name, value in sorted((stats.as_dict() if stats is not None else {}).items()):
            if _number(value):
                total.add_metric([name], value)
        yield total
        pending = getattr(publisher, 'pending', None)
        if pending is not None:
            yield GaugeMetricFamily('livehub_publisher_pending', 'Events waiting in the '
                                    "publisher's queue.", value=pending())
        yield GaugeMetricFamily('livehub_publisher_connected', 'Whether the publisher has a '
                                'session to the router (1) or not (0).',
                                value=1 if getattr(publisher, 'connected', False) else 0)


def make_registry(publisher: Any, settings: Any) -> CollectorRegistry:
    """A registry of its own holding one :class:`LivehubCollector`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LivehubCollector(publisher, settings))
    return registry


def metrics_view(request: Any) -> Any:
    """``GET <route_prefix>/metrics``: the Prometheus text format of the app's registry."""
    response = request.response
    response.body = generate_latest(request.registry.getUtility(IMetricsRegistry))
    response.headers['Content-Type'] = CONTENT_TYPE_LATEST
    return response
