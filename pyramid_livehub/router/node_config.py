"""Render the Crossbar node configuration from ``livehub.*`` settings.

``crossbar_config/config.json`` is this function's output for the default
settings (a test keeps them equal), and ``livehub router --ini app.ini``
renders one from the app's own .ini, so app and router share one file.

The node has:

* a **router worker** with the realm and two roles: ``anonymous`` (browsers,
  subscribe only) and ``backend`` (the Pyramid publisher, bridges, plugins:
  everything);
* a **web transport** for browsers at ``livehub.browser_url`` (WebSocket at
  its path);
* a **rawsocket (or WebSocket) transport** for the backend at
  ``livehub.router_url``, with WAMP-CRA for the backend identity;
* a **container worker** with the router components (bridges, consumers,
  producers, authenticators) that the settings enable, if any.

Feature modules contribute components through :data:`COMPONENT_PROVIDERS`:
each is ``'module:function'`` with ``function(settings) -> [component, ...]``
where a component is ``{'classname': 'pkg.mod.Class', 'extra': {...}}``.
They may also contribute realm roles and transport auth through the optional
``function.patch_node(node, settings)`` hook.
"""
from urllib.parse import urlsplit

from pyramid_livehub.settings import import_optional

#: Where router components come from (missing modules are skipped).
COMPONENT_PROVIDERS = [
    'pyramid_livehub.router.bridges:bridge_components',
    'pyramid_livehub.router.plugins:plugin_components',
    'pyramid_livehub.router.auth:auth_components',
    'pyramid_livehub.router.guard:guard_components',
]

ALL_ACTIONS = {'call': True, 'register': True, 'publish': True, 'subscribe': True}


def _permission(uri, match='prefix', **allow):
    actions = {action: bool(allow.get(action, False)) for action in ALL_ACTIONS}
    return {
        'uri': uri,
        'match': match,
        'allow': actions,
        'disclose': {'caller': False, 'publisher': False},
        'cache': True,
    }


def listen_endpoint(url):
    """Crossbar TCP listening endpoint for a ``ws://``/``rs://`` URL."""
    parts = urlsplit(url)
    default_port = 443 if parts.scheme in ('wss', 'rss') else 80
    return {
        'type': 'tcp',
        'interface': parts.hostname,
        'port': parts.port or default_port,
    }


#: Serializer of the router components' own connection, whatever
#: ``livehub.serializer`` says: Crossbar ships msgpack, and the router decodes
#: it in C, where its JSON decoder (Autobahn's, with a custom decoder class)
#: runs in pure Python; benchmarks/bridges.py measured ~20% less router CPU
#: per bridged event and lower bridge latency with it.
COMPONENT_SERIALIZER = 'msgpack'


def connect_transport(settings):
    """Crossbar connecting-transport config for a component to reach the backend transport."""
    url = settings['router_url']
    parts = urlsplit(url)
    endpoint = {'type': 'tcp', 'host': parts.hostname, 'port': parts.port}
    if parts.scheme in ('rs', 'rss'):
        return {'type': 'rawsocket', 'endpoint': endpoint, 'serializer': COMPONENT_SERIALIZER}
    return {'type': 'websocket', 'endpoint': endpoint, 'url': url,
            'serializers': [COMPONENT_SERIALIZER]}


def _component_providers():
    for spec in COMPONENT_PROVIDERS:
        module_name, func_name = spec.split(':')
        module = import_optional(module_name)
        if module is not None:
            yield getattr(module, func_name)


def render_node_config(settings):
    """Return the Crossbar node configuration (a JSON-ready dict).

    ``settings`` is a parsed :class:`~pyramid_livehub.settings.LivehubSettings`.
    """
    backend_url = settings['router_url']
    browser_url = settings['browser_url']
    backend_scheme = urlsplit(backend_url).scheme
    ws_path = urlsplit(browser_url).path.strip('/') or 'ws'
    backend_auth = {
        'wampcra': {
            'type': 'static',
            'users': {
                settings['backend_authid']: {
                    'secret': settings['backend_secret'],
                    'role': 'backend',
                },
            },
        },
    }
    browser_transport = {
        'type': 'web',
        'id': 'browsers',
        'endpoint': listen_endpoint(browser_url),
        'paths': {
            # No "/" path: it would swallow the WebSocket path.
            ws_path: {
                'type': 'websocket',
                'serializers': ['json'],
                'auth': {'anonymous': {'type': 'static', 'role': 'anonymous'}},
            },
            'info': {'type': 'nodeinfo'},
        },
    }
    backend_transport = {
        'type': 'rawsocket' if backend_scheme in ('rs', 'rss') else 'websocket',
        'id': 'backend',
        'endpoint': listen_endpoint(backend_url),
        'serializers': ['json', 'msgpack', 'cbor'],
        'auth': backend_auth,
    }
    realm = {
        'name': settings['realm'],
        'roles': [
            # Browsers subscribe; per-user topics and the meta API stay closed
            # (longest prefix wins).  With livehub.auth on, the topic rules of
            # pyramid_livehub.router.auth replace this role.
            {'name': 'anonymous',
             'permissions': [_permission('', subscribe=True),
                             _permission('app.user.'),
                             _permission('wamp.')]},
            {'name': 'backend',
             'permissions': [_permission('', **ALL_ACTIONS)]},
        ],
    }
    node = {
        'version': 2,
        'controller': {},
        'workers': [{
            'type': 'router',
            'id': 'router',
            'realms': [realm],
            'transports': [browser_transport, backend_transport],
        }],
    }
    components = []
    for provider in _component_providers():
        components.extend(provider(settings))
        patch = getattr(provider, 'patch_node', None)
        if patch is not None:
            patch(node, settings)
    if components:
        transport = connect_transport(settings)
        extra_settings = settings.for_router()
        node['workers'].append({
            'type': 'container',
            'id': 'components',
            'options': {'shutdown': 'shutdown-manual'},
            'components': [
                {
                    'type': 'class',
                    'id': component.get('id', component['classname'].rsplit('.', 1)[-1].lower()),
                    'classname': component['classname'],
                    'realm': settings['realm'],
                    'transport': transport,
                    'extra': dict(component.get('extra', {}), settings=extra_settings),
                }
                for component in components
            ],
        })
    return node
