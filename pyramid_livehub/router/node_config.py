"""Render the Crossbar node configuration from ``livehub.*`` settings.

``crossbar_config/config.json`` is this function's output for the default
settings (a test keeps them equal), and ``livehub router --ini app.ini``
renders one from the app's own .ini, so app and router share one file.

The node has:

* a **router worker** with the realm and two roles: ``anonymous`` (browsers,
  subscribe only) and ``backend`` (the Pyramid publisher, bridges, plugins:
  everything);
* a **web transport** for browsers at ``livehub.browser_url`` (WebSocket at
  its path), listening on ``livehub.browser_listen`` when set;
* a **rawsocket (or WebSocket) transport** for the backend at
  ``livehub.router_url``, listening on ``livehub.router_listen`` when set,
  with WAMP-CRA for the backend identity;
* a **container worker** with the router components (bridges, consumers,
  producers, authenticators) that the settings enable, if any; they connect
  to the backend transport's listen address (:func:`local_address`), not to
  the public URL.

The router never speaks TLS: a ``wss://``/``rss://`` URL is for a proxy that
terminates TLS, and the transport listens plain.

Feature modules contribute components through :data:`COMPONENT_PROVIDERS`:
each is ``function(settings) -> [component, ...]`` where a component is
``{'classname': 'pkg.mod.Class', 'extra': {...}}``.  They may also contribute
realm roles and transport auth through the optional
``function.patch_node(node, settings)`` hook.  Each component gets only the
settings it uses (:func:`component_settings`).  None of these modules
imports Twisted.
"""
from urllib.parse import urlsplit

from pyramid_livehub._parse import configuration_error, split_listen_address
from pyramid_livehub.history import COMPONENT_CLASS as HISTORY_CLASS
from pyramid_livehub.history import history_components
from pyramid_livehub.history.settings import HISTORY_KEYS, HISTORY_PUBLISH_KEYS
from pyramid_livehub.plugins.settings import PLUGIN_HOST_KEYS
from pyramid_livehub.router.auth import HISTORY_READ_PROCEDURES, auth_components
from pyramid_livehub.router.bridges import bridge_components
from pyramid_livehub.router.guard import guard_components
from pyramid_livehub.router.bridges.settings import bridge_keys
from pyramid_livehub.router.plugins import plugin_components
from pyramid_livehub.security.settings import AUTH_COMPONENT_KEYS
from pyramid_livehub.settings import JOIN_KEYS

#: Where router components come from.
COMPONENT_PROVIDERS = [bridge_components, plugin_components, history_components, auth_components,
                       guard_components]

#: Class of the plugin host (it gets :data:`PLUGIN_HOST_KEYS`).
PLUGIN_HOST_CLASS = 'pyramid_livehub.router.plugins.host.PluginHost'

ALL_ACTIONS = {'call': True, 'register': True, 'publish': True, 'subscribe': True}


#: Topic prefixes the static ``anonymous`` role may not subscribe to (auth off);
#: the history component applies the same to history reads.
ANONYMOUS_CLOSED_PREFIXES = ('app.user.', 'wamp.')

def _permission(uri, match='prefix', disclose_caller=False, **allow):
    actions = {action: bool(allow.get(action, False)) for action in ALL_ACTIONS}
    return {
        'uri': uri,
        'match': match,
        'allow': actions,
        'disclose': {'caller': disclose_caller, 'publisher': False},
        'cache': True,
    }


#: The listen-address setting of each public URL setting.
LISTEN_KEYS = {'browser_url': 'browser_listen', 'router_url': 'router_listen'}

#: Where a client on the router host reaches a server listening on every interface.
_EVERY_INTERFACE = {'0.0.0.0': '127.0.0.1', '::': '::1', '': '127.0.0.1'}


def listen_address(settings, url_key):
    """``(interface, port)`` the router listens on for ``url_key`` (``browser_url``/``router_url``).

    ``livehub.browser_listen``/``livehub.router_listen`` when set, else the
    URL's host and port (80, or 443 for ``wss://``/``rss://``, when it has
    none).  Either way the transport listens plain: TLS is the proxy's.
    """
    given = settings.get(LISTEN_KEYS[url_key])
    if given:
        return split_listen_address(given)
    parts = urlsplit(settings[url_key])
    return parts.hostname, parts.port or (443 if parts.scheme in ('wss', 'rss') else 80)


def local_address(settings, url_key):
    """``(host, port)`` where a client on the router host reaches the ``url_key`` transport.

    The listen address, with an every-interface address (``0.0.0.0``, ``::``)
    replaced by the loopback address: what the router's own components and
    ``livehub router``'s readiness checks connect to.
    """
    host, port = listen_address(settings, url_key)
    return _EVERY_INTERFACE.get(host, host), port


def _tcp(host_key, host, port):
    endpoint = {'type': 'tcp', host_key: host, 'port': port}
    if ':' in host:
        endpoint['version'] = 6
    return endpoint


def listen_endpoint(settings, url_key):
    """Crossbar TCP listening endpoint of the ``url_key`` transport (:func:`listen_address`)."""
    return _tcp('interface', *listen_address(settings, url_key))


#: Serializer of the router components' own connection, whatever
#: ``livehub.serializer`` says: Crossbar ships msgpack, and the router decodes
#: it in C, where its JSON decoder (Autobahn's, with a custom decoder class)
#: runs in pure Python; benchmarks/bridges.py measured ~20% less router CPU
#: per bridged event and lower bridge latency with it.
COMPONENT_SERIALIZER = 'msgpack'


def connect_transport(settings):
    """Crossbar connecting-transport config for a component to reach the backend transport.

    Container components run on the router host: they connect to where the
    backend transport listens (:func:`local_address`), plain, not to the
    public ``livehub.router_url``, whose host may be a proxy or a name only
    the web hosts resolve.
    """
    parts = urlsplit(settings['router_url'])
    host, port = local_address(settings, 'router_url')
    endpoint = _tcp('host', host, port)
    if parts.scheme in ('rs', 'rss'):
        return {'type': 'rawsocket', 'endpoint': endpoint, 'serializer': COMPONENT_SERIALIZER}
    url = 'ws://%s:%d%s' % ('[%s]' % host if ':' in host else host, port, parts.path or '/')
    return {'type': 'websocket', 'endpoint': endpoint, 'url': url,
            'serializers': [COMPONENT_SERIALIZER]}


def component_settings(settings, component):
    """The subset of ``settings`` one container component gets (crossbar ``extra``).

    Every component joins with :data:`~pyramid_livehub.settings.JOIN_KEYS`;
    a bridge gets its own keys and the shared bridge keys (no ticket secret,
    no other bridge's password), the plugin host its own and a few app-wide
    ones; both get ``livehub.history``, to send events on history topics
    through the history component.
    """
    bridge = component.get('extra', {}).get('bridge')
    if bridge is not None:
        return settings.subset(JOIN_KEYS + bridge_keys(bridge) + HISTORY_PUBLISH_KEYS)
    if component['classname'] == PLUGIN_HOST_CLASS:
        return settings.subset(JOIN_KEYS + PLUGIN_HOST_KEYS + HISTORY_PUBLISH_KEYS)
    if component['classname'] == HISTORY_CLASS:
        # and the topic rules, to check browsers' reads (not the ticket secret)
        return settings.subset(JOIN_KEYS + HISTORY_KEYS + [
            key for key in AUTH_COMPONENT_KEYS if key not in JOIN_KEYS + ['ticket_secret']])
    raise ValueError('no settings subset for router component %r' % component['classname'])


def backend_transport(settings):
    """The backend's rawsocket (or WebSocket) transport, with WAMP-CRA for the backend identity."""
    url = settings['router_url']
    return {
        'type': 'rawsocket' if urlsplit(url).scheme in ('rs', 'rss') else 'websocket',
        'id': 'backend',
        'endpoint': listen_endpoint(settings, 'router_url'),
        'serializers': ['json', 'msgpack', 'cbor'],
        'auth': {'wampcra': {'type': 'static', 'users': {
            settings['backend_authid']: {'secret': settings['backend_secret'], 'role': 'backend'},
        }}},
    }


def browser_transport(settings):
    """The browsers' web transport: the WebSocket at ``livehub.browser_url``'s path.

    It listens on :func:`listen_address`; the path is always the URL's.
    """
    url = settings['browser_url']
    ws_path = urlsplit(url).path.strip('/') or 'ws'
    return {
        'type': 'web',
        'id': 'browsers',
        'endpoint': listen_endpoint(settings, 'browser_url'),
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


def realm_config(settings):
    """The realm and its two roles, ``anonymous`` (browsers) and ``backend``."""
    return {
        'name': settings['realm'],
        'roles': [
            # Browsers subscribe, and read history (livehub.js recovers missed
            # events; the history component checks the topic); per-user topics
            # and the meta API stay closed (longest prefix wins).  With
            # livehub.auth on, the topic rules of pyramid_livehub.router.auth
            # replace this role.
            {'name': 'anonymous',
             'permissions': [_permission('', subscribe=True)]
                + [_permission(prefix) for prefix in ANONYMOUS_CLOSED_PREFIXES]
                + [_permission(uri, match='exact', disclose_caller=True, call=True)
                   for uri in HISTORY_READ_PROCEDURES]},
            {'name': 'backend',
             'permissions': [_permission('', **ALL_ACTIONS)]},
        ],
    }


def container_worker(settings, components):
    """The container worker that runs ``components`` (bridges, plugin host, history)."""
    transport = connect_transport(settings)
    return {
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
                'extra': dict(component.get('extra', {}),
                              settings=component_settings(settings, component)),
            }
            for component in components
        ],
    }


def check_listen_addresses(settings):
    """Raise ``ConfigurationError`` when the two transports would listen on one port.

    Crossbar would only log "address already in use" from its worker, and
    ``livehub router`` would wait for a transport that never comes up.
    """
    browser = listen_address(settings, 'browser_url')
    router = listen_address(settings, 'router_url')
    if browser[1] != router[1]:
        return
    # one port on two interfaces is fine, unless one of them is every interface
    if browser[0] == router[0] or browser[0] in _EVERY_INTERFACE or router[0] in _EVERY_INTERFACE:
        def where(url_key):
            key = LISTEN_KEYS[url_key]
            return ('livehub.%s = %s' % (key, settings[key]) if settings.get(key)
                    else 'livehub.%s = %s' % (url_key, settings[url_key]))
        raise configuration_error(
            'the browser and backend transports would both listen on port %d (%s; %s); '
            'give each its own port, e.g. 8080 for browsers and 8081 for the backend'
            % (browser[1], where('browser_url'), where('router_url')))


def render_node_config(settings):
    """Return the Crossbar node configuration (a JSON-ready dict).

    ``settings`` is a parsed :class:`~pyramid_livehub.settings.LivehubSettings`;
    raises ``ConfigurationError`` for transports that cannot both listen
    (:func:`check_listen_addresses`).
    """
    check_listen_addresses(settings)
    node = {
        'version': 2,
        'controller': {},
        'workers': [{
            'type': 'router',
            'id': 'router',
            'realms': [realm_config(settings)],
            'transports': [browser_transport(settings), backend_transport(settings)],
        }],
    }
    components = []
    for provider in COMPONENT_PROVIDERS:
        components.extend(provider(settings))
        patch = getattr(provider, 'patch_node', None)
        if patch is not None:
            patch(node, settings)
    if components:
        node['workers'].append(container_worker(settings, components))
    return node
