"""pyramid_livehub: push server-side events from a Pyramid app to browsers
and message brokers through a bundled Crossbar.io (WAMP) router.

Usage::

    config.include('pyramid_livehub')
    ...
    request.livehub.publish('app.orders.created', order)
"""
import warnings

# Pyramid imports pkg_resources, which setuptools >= 81 warns about in every
# process (each `livehub` command, the router's workers); it is Pyramid's to
# fix and tells our users nothing.  Set before the first Pyramid import.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning,
                        module='pyramid')

from pyramid.config import PHASE1_CONFIG  # noqa: E402

from pyramid_livehub.events import LiveEvent, publish_live_event  # noqa: E402
from pyramid_livehub.interfaces import IPublisher  # noqa: E402
from pyramid_livehub.publisher import Publisher, QueueFull  # noqa: E402
from pyramid_livehub.request import RequestPublisher, livehub_for_request  # noqa: E402
from pyramid_livehub.settings import parse_settings  # noqa: E402

__all__ = ['includeme', 'LiveEvent', 'Publisher', 'QueueFull', 'RequestPublisher',
           'get_publisher', 'IPublisher']


def get_publisher(registry):
    """The process's publisher for a Pyramid registry."""
    return registry.getUtility(IPublisher)


def includeme(config):
    """Register ``request.livehub``, the ``LiveEvent`` hook, the views and the publisher.

    Settings are read in a deferred action, so ``livehub.*`` settings added
    after the include still count.  A wrong setting raises a
    ``ConfigurationError`` when the configuration is committed (start-up).
    """
    config.add_request_method(livehub_for_request, 'livehub', reify=True)
    config.add_subscriber(publish_live_event, LiveEvent)

    def register():
        settings = parse_settings(config.get_settings())
        factory = getattr(config.registry, 'livehub_publisher_factory', Publisher)
        config.registry.registerUtility(factory(settings), IPublisher)
        prefix = settings['route_prefix']
        config.add_route('livehub.config', prefix + '/config.json')
        config.add_view('pyramid_livehub.views.client_config_view', route_name='livehub.config',
                        renderer='json', request_method='GET')
        config.add_static_view(prefix.lstrip('/') + '/static', 'pyramid_livehub:static/')
        if settings['health']:
            config.add_route('livehub.health', prefix + '/health')
            config.add_view('pyramid_livehub.views.health_view', route_name='livehub.health',
                            renderer='json', request_method='GET')
        for hook in config.registry.__dict__.get('livehub_setup_hooks', ()):
            hook(config, settings)

    # PHASE1: before routes and views are registered, so that the routes and
    # views that ``register`` (and the setup hooks) add are still accepted.
    config.action(('pyramid_livehub', 'setup'), register, order=PHASE1_CONFIG)
    # Feature modules that only register things until their settings turn them on.
    config.include('pyramid_livehub.models')          # config.add_livehub_model(...)
    config.include('pyramid_livehub.security.views')  # /livehub/ticket when livehub.auth is on


def add_setup_hook(config, hook):
    """Let a feature module run ``hook(config, settings)`` once settings are parsed."""
    hooks = config.registry.__dict__.setdefault('livehub_setup_hooks', [])
    if hook not in hooks:  # including a feature module twice must not add its views twice
        hooks.append(hook)
