"""pyramid_livehub: push server-side events from a Pyramid app to browsers
and message brokers through a bundled Crossbar.io (WAMP) router.

Usage::

    config.include('pyramid_livehub')
    ...
    request.livehub.publish('app.orders.created', order)

Everything public can be imported from here (``__all__``): besides what is
defined in this module, :func:`~pyramid_livehub.settings.parse_settings`
and :class:`~pyramid_livehub.settings.LivehubSettings`,
:func:`~pyramid_livehub.models.publish_model_changes`,
:func:`~pyramid_livehub.security.issue_ticket` and
:class:`~pyramid_livehub.security.TicketError`,
:class:`~pyramid_livehub.plugins.Consumer`,
:class:`~pyramid_livehub.plugins.PollingProducer` and
:class:`~pyramid_livehub.plugins.Message`,
:class:`~pyramid_livehub.subscriber.Subscriber` and
:class:`~pyramid_livehub.widgets.LiveWidgets`.  Each is imported on first
use, so that the router's processes, which import
``pyramid_livehub.router.*``, never load Pyramid or the publisher.
"""
import importlib
import warnings
from typing import TYPE_CHECKING, Any

# Pyramid imports pkg_resources, which setuptools >= 81 warns about in every
# process (each `livehub` command, the router's workers); it is Pyramid's to
# fix and tells our users nothing.  Set before the first Pyramid import.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning,
                        module='pyramid')

if TYPE_CHECKING:  # pragma: no cover - imported on first use at run time, see __getattr__
    from pyramid_livehub._request import RequestPublisher
    from pyramid_livehub.events import LiveEvent
    from pyramid_livehub.interfaces import ILivehubSettings, IPublisher, PublisherLike
    from pyramid_livehub.models import publish_model_changes
    from pyramid_livehub.plugins import Consumer, Message, PollingProducer
    from pyramid_livehub.publisher import Publisher, QueueFull
    from pyramid_livehub.security import TicketError, issue_ticket
    from pyramid_livehub.settings import LivehubSettings, parse_settings
    from pyramid_livehub.subscriber import Subscriber
    from pyramid_livehub.widgets import LiveWidgets

__all__ = [
    # set-up and the publisher
    'includeme', 'get_publisher', 'get_settings', 'parse_settings', 'LivehubSettings',
    'Publisher', 'QueueFull', 'RequestPublisher', 'LiveEvent', 'IPublisher', 'ILivehubSettings',
    'PublisherLike',
    # live models, security, plugins run by the router, scripts, widgets
    'publish_model_changes', 'issue_ticket', 'TicketError', 'Consumer', 'PollingProducer',
    'Message', 'Subscriber', 'LiveWidgets',
]

#: Every public name is imported on first use, so that importing a submodule
#: costs only that submodule: the router's processes import
#: ``pyramid_livehub.router.*`` without Pyramid, WebOb or the publisher, and a
#: web process that never uses ``LiveWidgets`` (Chameleon) or ``Subscriber``
#: does not pay for them.
_LAZY = {
    'RequestPublisher': 'pyramid_livehub._request',
    'LiveEvent': 'pyramid_livehub.events',
    'ILivehubSettings': 'pyramid_livehub.interfaces',
    'IPublisher': 'pyramid_livehub.interfaces',
    'PublisherLike': 'pyramid_livehub.interfaces',
    'publish_model_changes': 'pyramid_livehub.models',
    'Consumer': 'pyramid_livehub.plugins',
    'Message': 'pyramid_livehub.plugins',
    'PollingProducer': 'pyramid_livehub.plugins',
    'Publisher': 'pyramid_livehub.publisher',
    'QueueFull': 'pyramid_livehub.publisher',
    'TicketError': 'pyramid_livehub.security',
    'issue_ticket': 'pyramid_livehub.security',
    'LivehubSettings': 'pyramid_livehub.settings',
    'parse_settings': 'pyramid_livehub.settings',
    'Subscriber': 'pyramid_livehub.subscriber',
    'LiveWidgets': 'pyramid_livehub.widgets',
}


if not TYPE_CHECKING:
    # Hidden from mypy, which would otherwise type every unknown attribute of
    # the package as Any (it sees the two names through the imports above).
    def __getattr__(name: str) -> Any:
        """Import a ``_LAZY`` name on first use (PEP 562)."""
        module_name = _LAZY.get(name)
        if module_name is None:
            raise AttributeError('module %r has no attribute %r' % (__name__, name))
        value = getattr(importlib.import_module(module_name), name)
        globals()[name] = value   # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        """The lazy names too, so that ``dir()`` and autocompletion show them."""
        return sorted(set(globals()) | set(_LAZY))


def get_publisher(registry: Any) -> 'PublisherLike':
    """The process's publisher for a Pyramid registry."""
    from pyramid_livehub.interfaces import IPublisher
    publisher: PublisherLike = registry.getUtility(IPublisher)
    return publisher


def get_settings(registry: Any) -> 'LivehubSettings':
    """The app's parsed ``livehub.*`` settings (registered once, at commit)."""
    from pyramid_livehub.interfaces import ILivehubSettings
    settings: LivehubSettings = registry.getUtility(ILivehubSettings)
    return settings


def includeme(config: Any) -> None:
    """Register ``request.livehub``, the ``LiveEvent`` hook, the views and the publisher.

    Settings are parsed once, in a deferred action (so ``livehub.*`` settings
    added after the include still count), and registered as the
    :class:`~pyramid_livehub.interfaces.ILivehubSettings` utility that the
    publisher factory, the ticket view and ``add_livehub_model`` read.  A
    wrong setting raises a ``ConfigurationError`` when the configuration is
    committed (start-up).
    """
    from pyramid.config import PHASE1_CONFIG

    from pyramid_livehub._request import livehub_for_request
    from pyramid_livehub._views import add_client_config
    from pyramid_livehub.events import LiveEvent, publish_live_event
    from pyramid_livehub.interfaces import (ILivehubSettings, IMetricsRegistry, IPublisher,
                                            IPublisherFactory)
    from pyramid_livehub.publisher import Publisher
    from pyramid_livehub.settings import parse_settings

    config.add_request_method(livehub_for_request, 'livehub', reify=True)
    config.add_subscriber(publish_live_event, LiveEvent)
    config.add_directive('add_livehub_client_config', add_client_config)

    def register() -> None:
        registry = config.registry
        settings = parse_settings(config.get_settings())
        registry.registerUtility(settings, ILivehubSettings)
        factory = registry.queryUtility(IPublisherFactory, default=Publisher)
        registry.registerUtility(factory(settings), IPublisher)
        prefix = settings['route_prefix']
        config.add_route('livehub.config', prefix + '/config.json')
        config.add_view('pyramid_livehub._views.client_config_view', route_name='livehub.config',
                        renderer='json', request_method='GET')
        config.add_static_view(prefix.lstrip('/') + '/static', 'pyramid_livehub:static/')
        if settings['health']:
            config.add_route('livehub.health', prefix + '/health')
            config.add_view('pyramid_livehub._views.health_view', route_name='livehub.health',
                            renderer='json', request_method='GET')
        if settings['metrics']:
            from pyramid_livehub.metrics import make_registry
            registry.registerUtility(make_registry(registry.getUtility(IPublisher), settings),
                                     IMetricsRegistry)
            config.add_route('livehub.metrics', prefix + '/metrics')
            config.add_view('pyramid_livehub.metrics.metrics_view', route_name='livehub.metrics',
                            request_method='GET')

    # PHASE1: before routes and views are registered, so that the routes and
    # views that ``register`` (and the feature modules' actions) add are still
    # accepted.  Feature modules' actions of the same order run after this one.
    config.action(SETUP_ACTION, register, order=PHASE1_CONFIG)
    # Feature modules that only register things until their settings turn them on.
    config.include('pyramid_livehub.models')          # config.add_livehub_model(...)
    config.include('pyramid_livehub.security.views')  # /livehub/ticket when livehub.auth is on


#: Discriminator of the action that parses the settings and registers the publisher.
SETUP_ACTION = ('pyramid_livehub', 'setup')
