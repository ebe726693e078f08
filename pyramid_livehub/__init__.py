"""pyramid_livehub: push server-side events from a Pyramid app to browsers
and message brokers through a bundled Crossbar.io (WAMP) router.

Usage::

    config.include('pyramid_livehub')
    ...
    request.livehub.publish('app.orders.created', order)

Everything public can be imported from here (``__all__``); besides what is
defined in this module, that is :func:`~pyramid_livehub.settings.parse_settings`
and :class:`~pyramid_livehub.settings.LivehubSettings`,
:func:`~pyramid_livehub.models.publish_model_changes`,
:func:`~pyramid_livehub.security.issue_ticket` and
:class:`~pyramid_livehub.security.TicketError`,
:class:`~pyramid_livehub.plugins.Consumer`,
:class:`~pyramid_livehub.plugins.PollingProducer` and
:class:`~pyramid_livehub.plugins.Message`,
:class:`~pyramid_livehub.subscriber.Subscriber` and
:class:`~pyramid_livehub.widgets.LiveWidgets` (the last two are imported on
first use).
"""
import importlib
import warnings
from typing import TYPE_CHECKING, Any

# Pyramid imports pkg_resources, which setuptools >= 81 warns about in every
# process (each `livehub` command, the router's workers); it is Pyramid's to
# fix and tells our users nothing.  Set before the first Pyramid import.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning,
                        module='pyramid')

from pyramid.config import PHASE1_CONFIG  # noqa: E402

from pyramid_livehub._request import RequestPublisher, livehub_for_request  # noqa: E402
from pyramid_livehub._views import add_client_config  # noqa: E402
from pyramid_livehub.events import LiveEvent, publish_live_event  # noqa: E402
from pyramid_livehub.interfaces import (ILivehubSettings, IMetricsRegistry,  # noqa: E402
                                        IPublisher, IPublisherFactory,
                                        PublisherLike)
from pyramid_livehub.models import publish_model_changes  # noqa: E402
from pyramid_livehub.plugins import Consumer, Message, PollingProducer  # noqa: E402
from pyramid_livehub.publisher import Publisher, QueueFull  # noqa: E402
from pyramid_livehub.security import TicketError, issue_ticket  # noqa: E402
from pyramid_livehub.settings import LivehubSettings, parse_settings  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time, see __getattr__
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

#: Public names imported on first use: ``LiveWidgets`` loads Chameleon (~30 ms)
#: and ``Subscriber`` a background WAMP session; a web process that uses neither
#: does not pay for them.
_LAZY = {
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


def get_publisher(registry: Any) -> PublisherLike:
    """The process's publisher for a Pyramid registry."""
    publisher: PublisherLike = registry.getUtility(IPublisher)
    return publisher


def get_settings(registry: Any) -> LivehubSettings:
    """The app's parsed ``livehub.*`` settings (registered once, at commit)."""
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
