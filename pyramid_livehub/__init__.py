"""pyramid_livehub: push server-side events from a Pyramid app to browsers
and message brokers through a bundled Crossbar.io (WAMP) router.

Usage::

    config.include('pyramid_livehub')
    ...
    request.livehub.publish('app.orders.created', order)
"""
from pyramid.config import PHASE1_CONFIG

from pyramid_livehub.events import LiveEvent, publish_live_event
from pyramid_livehub.interfaces import ILivehubSettings, IPublisher, IPublisherFactory
from pyramid_livehub.publisher import Publisher, QueueFull
from pyramid_livehub.request import RequestPublisher, livehub_for_request
from pyramid_livehub.settings import parse_settings
from pyramid_livehub.views import add_client_config

__all__ = ['includeme', 'LiveEvent', 'Publisher', 'QueueFull', 'RequestPublisher',
           'get_publisher', 'get_settings', 'IPublisher', 'ILivehubSettings']


def get_publisher(registry):
    """The process's publisher for a Pyramid registry."""
    return registry.getUtility(IPublisher)


def get_settings(registry):
    """The app's parsed ``livehub.*`` settings (registered once, at commit)."""
    return registry.getUtility(ILivehubSettings)


def includeme(config):
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

    def register():
        registry = config.registry
        settings = parse_settings(config.get_settings())
        registry.registerUtility(settings, ILivehubSettings)
        factory = registry.queryUtility(IPublisherFactory, default=Publisher)
        registry.registerUtility(factory(settings), IPublisher)
        prefix = settings['route_prefix']
        config.add_route('livehub.config', prefix + '/config.json')
        config.add_view('pyramid_livehub.views.client_config_view', route_name='livehub.config',
                        renderer='json', request_method='GET')
        config.add_static_view(prefix.lstrip('/') + '/static', 'pyramid_livehub:static/')
        if settings['health']:
            config.add_route('livehub.health', prefix + '/health')
            config.add_view('pyramid_livehub.views.health_view', route_name='livehub.health',
                            renderer='json', request_method='GET')

    # PHASE1: before routes and views are registered, so that the routes and
    # views that ``register`` (and the feature modules' actions) add are still
    # accepted.  Feature modules' actions of the same order run after this one.
    config.action(SETUP_ACTION, register, order=PHASE1_CONFIG)
    # Feature modules that only register things until their settings turn them on.
    config.include('pyramid_livehub.models')          # config.add_livehub_model(...)
    config.include('pyramid_livehub.security.views')  # /livehub/ticket when livehub.auth is on


#: Discriminator of the action that parses the settings and registers the publisher.
SETUP_ACTION = ('pyramid_livehub', 'setup')
