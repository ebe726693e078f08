"""Finding consumers and producers: settings, entry points, and their import errors."""
import importlib
import importlib.metadata
import inspect
import os
import sys
from typing import Any, Iterable, Mapping

from pyramid_livehub.plugins.api import (CONSUMER_GROUP, PRODUCER_GROUP, Consumer, PollingProducer,
                                         consumer_topics, frequency_seconds, subscription_for)


class PluginSpec:
    """A consumer or producer found by discovery: where from, and the class or the error."""

    def __init__(self, kind: str, name: str, source: str, plugin_class: Any = None,
                 error: str | None = None) -> None:
        self.kind = kind            # 'consumer' or 'producer'
        self.name = name            # 'package.module:Class'
        self.source = source        # 'entry point ...' or 'livehub.consumers'
        self.plugin_class = plugin_class
        self.error = error

    def __repr__(self) -> str:
        return '<PluginSpec %s %s from %s%s>' % (
            self.kind, self.name, self.source, ' ERROR %s' % self.error if self.error else '')


def plugin_sources(settings: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``[(kind, 'module:Class', source), ...]`` from settings and entry points (no imports)."""
    found: list[tuple[str, str, str]] = []
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
    unique: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for kind, spec, source in found:
        if (kind, spec) not in seen:
            seen.add((kind, spec))
            unique.append((kind, spec, source))
    return unique


def _check_plugin_method(spec: str, target: type[Any], base: type[Any], name: str,
                         signature: str) -> None:
    """The plugin overrides ``base.<name>`` with a plain (not async) method."""
    method = getattr(target, name)
    if method is getattr(base, name):
        raise ValueError('%s does not implement %s' % (spec, signature))
    if inspect.iscoroutinefunction(method):
        raise ValueError('%s.%s is async; make it a plain method (it runs in a thread '
                         'of its own, so blocking calls are fine)' % (spec, name))


def load_plugin_class(kind: str, spec: str) -> type[Consumer] | type[PollingProducer]:
    """Import and check one plugin class; raise ``ValueError`` naming the fix."""
    module_name, _, attr = spec.partition(':')
    if not module_name or not attr:
        raise ValueError('%r is not "package.module:Class"' % spec)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError('cannot import %r: %s (is the package installed in the router\'s '
                         'Python, or its directory on PYTHONPATH?)' % (module_name, exc)) from None
    target: Any = module
    for part in attr.split('.'):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError('module %r has no %r' % (module_name, attr)) from None
    if isinstance(target, type):
        if kind == 'consumer' and issubclass(target, Consumer):
            return _check_consumer(spec, target)
        if kind != 'consumer' and issubclass(target, PollingProducer):
            return _check_producer(spec, target)
    raise ValueError('%s is not a subclass of pyramid_livehub.plugins.%s'
                     % (spec, 'Consumer' if kind == 'consumer' else 'PollingProducer'))


def _check_consumer(spec: str, target: type[Consumer]) -> type[Consumer]:
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
    return target


def _check_producer(spec: str, target: type[PollingProducer]) -> type[PollingProducer]:
    frequency_seconds(target)
    _check_plugin_method(spec, target, PollingProducer, 'poll', 'poll(self)')
    if target.topic is not None:
        from pyramid_livehub._uri import check_topic
        check_topic(target.topic)
    return target


def discover_plugins(settings: Mapping[str, Any], python_path: Iterable[str] = ()) -> list[PluginSpec]:
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


def describe_plugins(settings: Mapping[str, Any]) -> list[str]:
    """One line per consumer and producer the router would run (for ``livehub list``)."""
    from pyramid_livehub.settings import LivehubSettings, parse_settings
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
