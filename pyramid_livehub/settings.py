"""Every ``livehub.*`` setting: one table and the one function that parses it.

The rest of the package never reads a raw settings string: it gets the typed
:class:`LivehubSettings` that :func:`parse_settings` returns (the app
registers it once as the :class:`~pyramid_livehub.interfaces.ILivehubSettings`
utility).  A wrong value, or a combination of values that cannot work,
raises :class:`pyramid.exceptions.ConfigurationError` naming the key and the
fix, at app start-up and at ``livehub router`` start-up.

Each concern declares its own rows (lists of :class:`Setting`) and its
cross-key checks in its own module; :func:`all_settings` joins the rows
into the one table the settings reference is generated from, and
:func:`parse_settings` runs every check.  The pattern language of the keys
that name topics is :mod:`pyramid_livehub.patterns`.
"""
import difflib
from typing import Any, Callable, Collection, Iterable, Mapping
from urllib.parse import urlsplit


from pyramid_livehub._parse import (PREFIX, Setting, as_bool, as_float, as_int, as_list,
                                    as_listen_address, as_realm, as_route_prefix, as_text,
                                    as_url, configuration_error, one_of, split_listen_address)
from pyramid_livehub.history import settings as history_settings
from pyramid_livehub.models import settings as model_settings
from pyramid_livehub.plugins import settings as plugin_settings
from pyramid_livehub.router.bridges import settings as bridge_settings
from pyramid_livehub.router.guard import settings as guard_settings
from pyramid_livehub.security import settings as security_settings

__all__ = ['PREFIX', 'Setting', 'LivehubSettings', 'all_settings', 'parse_settings',
           'as_bool', 'as_float', 'as_int', 'as_list', 'as_realm', 'as_route_prefix',
           'as_text', 'as_url', 'one_of']


#: Core settings: the router, the publisher and the views.
CORE_SETTINGS: list[Setting] = [
    Setting('router_url', 'rs://127.0.0.1:8081', as_url('rs', 'rss', 'ws', 'wss'),
            'Where the backend publisher connects: a rawsocket (`rs://`) or WebSocket '
            '(`ws://`) URL. `livehub router` listens for the backend here, unless '
            '`livehub.router_listen` is set.'),
    Setting('browser_url', 'ws://127.0.0.1:8080/ws', as_url('ws', 'wss'),
            'WebSocket URL the browser connects to (served in `/livehub/config.json`). '
            '`livehub router` listens for browsers here (plain WebSocket, also for a `wss://` '
            'URL), unless `livehub.browser_listen` is set.'),
    Setting('router_listen', '', as_listen_address('127.0.0.1:8081'),
            'Where `livehub router` listens for the backend (the web processes\' publishers), '
            'as `host:port`: `0.0.0.0:8081` for every interface, `[::1]:8081` for IPv6 (a port '
            'alone is refused: say which interface). The router\'s own components connect '
            'here too (to 127.0.0.1 or ::1 for an every-interface address). Empty: the host '
            'and port of `livehub.router_url`. For a router on another host, e.g. '
            '`livehub.router_url = rs://router-host:8081` and `0.0.0.0:8081` here. The router '
            'listens without TLS: an `rss://`/`wss://` router URL needs a proxy that '
            'terminates TLS.'),
    Setting('browser_listen', '', as_listen_address('127.0.0.1:8080'),
            'Where `livehub router` listens for browsers, as `host:port` (`0.0.0.0:8080` '
            'every interface, `[::1]:8080` IPv6; a port alone is refused); the WebSocket path '
            'is still that of `livehub.browser_url`. Empty: the host and port of '
            '`livehub.browser_url`. Behind a proxy that terminates TLS: '
            '`livehub.browser_url = wss://example.com/ws` for browsers and `127.0.0.1:8080` '
            'here. The router never speaks TLS itself: it listens plain here (and, without '
            'this setting, on a `wss://` URL\'s host and port, 443 by default).'),
    Setting('realm', 'livehub', as_realm, 'WAMP realm used by the app, browsers and bridges.'),
    Setting('serializer', 'msgpack', one_of('json', 'msgpack', 'cbor'),
            'Serializer of the backend publisher\'s connection (the router components '
            'always use msgpack). `msgpack` (the default) halves the router\'s CPU per event '
            '(it decodes msgpack in C); payload integers must then fit in 64 bits, which '
            '`publish()` checks (TypeError naming the value). `json` carries any integer.'),
    Setting('backend_authid', 'backend', as_text(allow_empty=False),
            'WAMP-CRA identity of the backend publisher and the router components.'),
    Setting('backend_secret', 'livehub-dev-secret-change-me', as_text(allow_empty=False),
            'WAMP-CRA secret of the backend identity. Change it in production; the default '
            'is only accepted when both router URLs are on a loopback address.'),
    Setting('queue_size', 10000, as_int(minimum=1),
            'Bound of the publisher queue (events waiting for the router).'),
    Setting('overflow', 'drop_oldest', one_of('drop_oldest', 'drop_newest', 'raise'),
            'What `publish()` does when the queue is full: drop the oldest queued event, '
            'drop the new one, or raise `QueueFull`. Every drop is counted.'),
    Setting('publish_block_timeout', 5.0, as_float(minimum=0.0),
            'Seconds `publish()` outside a request (a script, a worker, `livehub publish`, '
            'a bare `Publisher`) waits for room when the queue is full, so that a burst '
            'goes out at the router\'s pace instead of losing events; after that the '
            '`livehub.overflow` policy applies (counted, logged) and later calls do not wait '
            'again until the queue has room. Requests never wait (`request.livehub`, live '
            'models during a request): a slow router must not stall the web. 0: never wait.'),
    Setting('publish_linger', 0.0, as_float(minimum=0.0, maximum=0.1),
            'Seconds the publisher thread waits for more events after sending some, so that '
            'a busy app sends them in one write instead of waking the thread per event. '
            '0 sends each event at once (lowest latency); 0.002 saved ~60 us of CPU per '
            'published event at ~1,500 events/s here, for ~1 ms more latency.'),
    Setting('publish_acks', True, as_bool,
            'The publisher keeps each event until the router acknowledged it and resends '
            'what was not acknowledged after a lost connection (one confirming call per batch; '
            'topics in `livehub.history` through the history component, where a resend is '
            'dropped as a duplicate). `false`: fire-and-forget, as fast but an event in flight '
            'when the router dies is lost (`flush()` then only confirms that the router read '
            'what was written).'),
    Setting('transactional', True, as_bool,
            'With pyramid_tm, `request.livehub.publish()` waits for the commit and drops the '
            'event on abort. Set false to always publish at once.'),
    Setting('max_retries', -1, as_int(minimum=-1),
            'Reconnect attempts after the router goes away (-1: forever).'),
    Setting('initial_retry_delay', 0.5, as_float(minimum=0.01),
            'Seconds before the first reconnect attempt.'),
    Setting('max_retry_delay', 5.0, as_float(minimum=0.01),
            'Longest wait between reconnect attempts, in seconds.'),
    Setting('retry_delay_growth', 1.5, as_float(minimum=1.0),
            'Factor the wait grows by after each failed attempt.'),
    Setting('retry_delay_jitter', 0.1, as_float(minimum=0.0, maximum=1.0),
            'Random fraction added to each wait so that many processes do not reconnect at once.'),
    Setting('shutdown_timeout', 5.0, as_float(minimum=0.0),
            'Seconds the publisher waits at interpreter exit to send what is queued.'),
    Setting('route_prefix', '/livehub', as_route_prefix,
            'URL prefix of the views (`config.json`, static files).'),
    Setting('health', True, as_bool,
            'Serve `GET <route_prefix>/health`: this process\'s publisher counters as JSON, '
            'status 200 while connected to the router, 503 when not.'),
    Setting('metrics', True, as_bool,
            'Serve `GET <route_prefix>/metrics`: Prometheus metrics of this process\'s publisher '
            'and of the router (sessions, subscriptions, slow-client closes, bridges, plugins, '
            'history, auth refusals), read over the publisher\'s session.'),
]

#: The concerns' rows, in the order of the settings reference.
TABLE: list[Setting] = (CORE_SETTINGS + bridge_settings.SETTINGS + security_settings.SETTINGS
                        + model_settings.SETTINGS + plugin_settings.SETTINGS
                        + history_settings.SETTINGS + guard_settings.SETTINGS)


def all_settings() -> list[Setting]:
    """Every :class:`Setting` known to the package, core first."""
    return list(TABLE)


#: Keys every container component joins the router with (WAMP-CRA).
JOIN_KEYS = ['realm', 'backend_authid', 'backend_secret']


class LivehubSettings(dict[str, Any]):
    """Parsed settings: a dict keyed by short name with attribute access.

    ``settings.realm == settings['realm']``.  Built by :func:`parse_settings`.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def subset(self, names: Iterable[str]) -> dict[str, Any]:
        """Only the keys ``names`` (JSON-serializable): what one router component gets.

        A router component gets the keys it uses and no others, so that no
        bridge holds the ticket secret and the auth component holds no broker
        password.
        """
        return {name: self[name] for name in names}


#: Documented near-names of keys, for the "Did you mean" hint (difflib alone
#: would offer ``mqtt_qos`` for ``mqtt_host``).
ALIASES = {
    'mqtt_host': 'mqtt_hostname', 'mqtt_server': 'mqtt_hostname', 'mqtt_broker': 'mqtt_hostname',
    'mqtt_url': 'mqtt_hostname', 'mqtt_user': 'mqtt_username', 'mqtt_pass': 'mqtt_password',
    'amqp_url': 'amqp_broker', 'amqp_uri': 'amqp_broker', 'amqp_host': 'amqp_broker',
    'amqp_server': 'amqp_broker', 'stomp_url': 'stomp_uri', 'stomp_host': 'stomp_uri',
    'stomp_hostname': 'stomp_uri', 'stomp_password': 'stomp_pass', 'stomp_username': 'stomp_user',
    'stomp_login': 'stomp_user', 'zmq_publish': 'zmq_publish_endpoints',
    'zmq_subscribe': 'zmq_subscribe_endpoints', 'zmq_endpoints': 'zmq_subscribe_endpoints',
    'bridge': 'bridges', 'secret': 'backend_secret', 'url': 'router_url',
    'websocket_url': 'browser_url', 'ws_url': 'browser_url', 'consumer': 'consumers',
    'producer': 'producers',
}


def suggest_key(key: str, known: Collection[str]) -> str | None:
    """The documented key the unknown ``key`` most likely means, or None."""
    name = key[len(PREFIX):]
    if name in ALIASES:
        return PREFIX + ALIASES[name]
    # a key cut short (mqtt_hostn) is a start of the real one
    starts = [k for k in known if k.startswith(key)]
    if len(starts) == 1:
        return starts[0]
    close = difflib.get_close_matches(key, known, n=1)
    return close[0] if close else None


def _check_known_keys(settings: Mapping[str, Any], known: Collection[str]) -> None:
    for key in settings:
        if key.startswith(PREFIX) and key not in known:
            close = suggest_key(key, known)
            hint = ' Did you mean %r?' % close if close else ''
            raise configuration_error(
                'Unknown setting %r.%s Every livehub setting is listed in the settings '
                'reference (docs/settings.rst).' % (key, hint))


def parse_settings(settings: Mapping[str, Any] | None = None) -> LivehubSettings:
    """Parse the ``livehub.*`` keys of a Pyramid settings dict and check them together.

    Missing keys take their defaults.  Unknown ``livehub.*`` keys are refused
    with a suggestion, because a typo would otherwise silently fall back to a
    default.  Then every cross-key check runs (:data:`CHECKS`).
    """
    settings = settings or {}
    known = {s.key: s for s in TABLE}
    _check_known_keys(settings, known)
    parsed = LivehubSettings()
    for setting in TABLE:
        raw = settings.get(setting.key, setting.default)
        try:
            parsed[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise configuration_error(
                '%s: %s, got %r; fix it in the [app:main] section of your .ini '
                '(default: %r)' % (setting.key, exc, raw, setting.default)) from None
    for check in CHECKS:
        check(parsed)
    return parsed


_LOOPBACK = ('127.0.0.1', 'localhost', '::1')


def check_backend_secret(parsed: LivehubSettings) -> None:
    """The development secret only on this machine; a real one at least 16 characters."""
    default = CORE_SETTINGS[[s.name for s in CORE_SETTINGS].index('backend_secret')].default
    if parsed['backend_secret'] != default:
        if len(parsed['backend_secret']) < 16:
            raise configuration_error(
                'livehub.backend_secret: too short (%d characters); use at least 16 random '
                'characters, e.g. from `python -c "import secrets; print(secrets.token_urlsafe())"`'
                % len(parsed['backend_secret']))
        return
    for key in ('router_url', 'browser_url'):
        host = urlsplit(parsed[key]).hostname
        if host not in _LOOPBACK:
            raise configuration_error(
                'livehub.backend_secret: the development default is only allowed when the '
                'router is on this machine, but livehub.%s is %r; set livehub.backend_secret '
                'to a random value of at least 16 characters' % (key, parsed[key]))
    for key in ('router_listen', 'browser_listen'):
        if parsed.get(key) and split_listen_address(parsed[key])[0] not in _LOOPBACK:
            raise configuration_error(
                'livehub.backend_secret: the development default is only allowed when the '
                'router listens on this machine only, but livehub.%s is %r; set '
                'livehub.backend_secret to a random value of at least 16 characters'
                % (key, parsed[key]))


#: Cross-key checks run by :func:`parse_settings`; each raises ConfigurationError naming the key.
CHECKS: list[Callable[[LivehubSettings], None]] = [check_backend_secret, bridge_settings.check_bridge_settings,
          security_settings.check_security_settings]
