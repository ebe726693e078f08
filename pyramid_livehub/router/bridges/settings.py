"""The ``livehub.*`` settings of the broker bridges (rows of the one settings table).

Names echo Moksha's where it had one (``amqp_broker``,
``zmq_publish_endpoints``, ``mqtt_hostname``, ``stomp_uri``, ...).  For every
bridge ``X`` there are three routing keys:

* ``livehub.X_inbound``: broker-side patterns, in the broker's own syntax,
  whose messages are published into WAMP (default ``#``: everything);
* ``livehub.X_outbound``: broker-side patterns whose WAMP events are sent
  to the broker (default: none);
* ``livehub.X_wamp_prefix``: WAMP prefix of the bridge's topics (default
  none: AMQP ``a.b`` <-> WAMP ``a.b``).

Reconnecting uses the core settings ``livehub.initial_retry_delay``,
``max_retry_delay``, ``retry_delay_growth`` and ``retry_delay_jitter``: one
reconnect policy for the publisher and the bridges.

:func:`check_bridge_settings` (cross-key checks) runs in
:func:`pyramid_livehub.settings.parse_settings`, so a bridge mistake fails at
app start-up and at ``livehub router`` start-up; :func:`bridge_keys` says
which keys each bridge component gets.
"""
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit


from pyramid_livehub._parse import (Setting, as_bool, as_float, as_int, as_list, as_text,
                                    as_url, configuration_error)
from pyramid_livehub.router.bridges import NoSuchBridge, check_bridge_name
from pyramid_livehub.router.bridges.topics import check_prefix, parse_dotted_pattern, parse_mqtt_pattern


def as_bridge_names(value: Any) -> list[str]:
    """List of bridge names; an unknown one is refused with a suggestion."""
    names = as_list(value)
    for name in names:
        try:
            check_bridge_name(name)
        except NoSuchBridge as exc:
            raise ValueError(str(exc)) from None
    if len(set(names)) != len(names):
        raise ValueError('a bridge is listed twice')
    return names


def as_patterns(parse_pattern: Callable[[str], Any]) -> Callable[[Any], list[str]]:
    """List of topic patterns checked with ``parse_pattern`` (kept as text)."""
    def parse(value: Any) -> list[str]:
        patterns = as_list(value)
        for pattern in patterns:
            parse_pattern(pattern)
        return patterns
    return parse


def as_prefix(value: Any) -> str:
    """A WAMP topic prefix or empty."""
    return check_prefix(str(value or '').strip())


def as_endpoints(value: Any) -> list[str]:
    """ZeroMQ endpoints (``tcp://*:6543``)."""
    endpoints = as_list(value)
    for endpoint in endpoints:
        if '://' not in endpoint:
            raise ValueError('%r is not a ZeroMQ endpoint; expected e.g. tcp://127.0.0.1:6543'
                             % endpoint)
    return endpoints


def as_host_ports(value: Any) -> list[list[Any]]:
    """``host:port[,host:port...]`` (Moksha's ``stomp_uri``) -> list of ``[host, port]``."""
    result: list[list[Any]] = []
    for item in str(value).replace(',', ' ').split():
        host, sep, port = item.rpartition(':')
        if not sep or not host or not port.isdigit():
            raise ValueError('expected host:port, e.g. 127.0.0.1:61613, got %r' % item)
        result.append([host, int(port)])
    if not result:
        raise ValueError('expected at least one host:port')
    return result


def as_optional_text(value: Any) -> str:
    """A string where ``None`` (Moksha's way of saying unset) means empty."""
    text = as_text()(value)
    return '' if text == 'None' else text


def _routing(name: str, syntax: str, parse_pattern: Callable[[str], Any],
             example: str) -> list[Setting]:
    return [
        Setting('%s_inbound' % name, '#', as_patterns(parse_pattern),
                '%s patterns whose messages the %s bridge publishes into WAMP (e.g. `%s`).'
                % (syntax, name, example)),
        Setting('%s_outbound' % name, '', as_patterns(parse_pattern),
                '%s patterns (same syntax as inbound) whose WAMP events the %s bridge sends '
                'to the broker; empty: none.' % (syntax, name)),
        Setting('%s_wamp_prefix' % name, '', as_prefix,
                'WAMP topic prefix of the %s bridge: with `iot`, `%s` is WAMP `iot.%s`.'
                % (name, example, example.replace('/', '.').replace('+', '*'))),
    ]


SETTINGS: list[Setting] = [
    Setting('bridges', '', as_bridge_names,
            'Broker bridges the router runs, by name: `amqp`, `mqtt`, `zmq`, `stomp` '
            '(none by default).'),
    Setting('bridge_queue_size', 10000, as_int(minimum=1),
            'Bound of each bridge queue (each direction); drops are counted.'),
    Setting('bridge_stats_interval', 60.0, as_float(minimum=0.0),
            'Seconds between the counter log lines of each bridge (0: never).'),
    # AMQP (pika)
    Setting('amqp_broker', 'amqp://guest:guest@127.0.0.1:5672/%2F', as_url('amqp', 'amqps'),
            'AMQP broker URL of the amqp bridge (pika URL parameters allowed).'),
    Setting('amqp_exchange', 'amq.topic', as_text(allow_empty=False),
            'Topic exchange the amqp bridge binds and publishes to.'),
    Setting('amqp_durable', False, as_bool,
            'Durable mode: a durable queue and persistent messages, so that messages sent '
            'while the bridge is away are delivered when it is back.'),
    Setting('amqp_queue', '', as_text(),
            'Name of the durable queue (durable mode); default `livehub.<realm>.bridge`. '
            'Give each router its own.'),
] + _routing('amqp', 'AMQP binding', parse_dotted_pattern, 'sensors.#') + [
    # MQTT (paho-mqtt, MQTT 5)
    Setting('mqtt_hostname', '127.0.0.1', as_text(allow_empty=False), 'MQTT broker host.'),
    Setting('mqtt_port', 1883, as_int(minimum=1, maximum=65535), 'MQTT broker port.'),
    Setting('mqtt_client_id', '', as_optional_text,
            'MQTT client id; default: random, or `livehub-<realm>` in durable mode '
            '(give each router its own: the broker keeps one session per id).'),
    Setting('mqtt_keepalive', 60, as_int(minimum=1), 'MQTT keepalive in seconds.'),
    Setting('mqtt_username', '', as_optional_text, 'MQTT user name (empty: none).'),
    Setting('mqtt_password', '', as_optional_text, 'MQTT password.'),
    Setting('mqtt_ca_certs', '', as_optional_text, 'CA file: set to use TLS.'),
    Setting('mqtt_certfile', '', as_optional_text, 'Client certificate file for TLS.'),
    Setting('mqtt_keyfile', '', as_optional_text, 'Client key file for TLS.'),
    Setting('mqtt_qos', 0, as_int(minimum=0, maximum=2),
            'QoS of the mqtt bridge subscriptions and publications.'),
    Setting('mqtt_durable', False, as_bool,
            'Durable mode: persistent session (clean start off, session kept for a day) '
            'and QoS at least 1, so messages sent while the bridge is away are delivered.'),
] + _routing('mqtt', 'MQTT filter', parse_mqtt_pattern, 'sensors/#') + [
    # ZeroMQ (pyzmq)
    Setting('zmq_publish_endpoints', '', as_endpoints,
            'Endpoints the zmq bridge binds its PUB socket to (outbound), e.g. `tcp://*:6543`.'),
    Setting('zmq_subscribe_endpoints', '', as_endpoints,
            'Endpoints the zmq bridge connects its SUB socket to (inbound). Do not list '
            'the bridge\'s own publish endpoint: ZeroMQ frames carry no origin mark.'),
] + _routing('zmq', 'Dotted (`*`, `#`)', parse_dotted_pattern, 'sensors.#') + [
    # STOMP (stomp.py)
    Setting('stomp_uri', '127.0.0.1:61613', as_host_ports,
            'STOMP broker `host:port` (comma-separated for fail-over).'),
    Setting('stomp_user', 'guest', as_optional_text, 'STOMP login.'),
    Setting('stomp_pass', 'guest', as_optional_text, 'STOMP passcode.'),
    Setting('stomp_vhost', '/', as_text(allow_empty=False), 'STOMP virtual host.'),
    Setting('stomp_destination_prefix', '/topic/', as_text(allow_empty=False),
            'Destination prefix of the routing keys (RabbitMQ: `/topic/` on amq.topic).'),
] + _routing('stomp', 'Dotted (`*`, `#`)', parse_dotted_pattern, 'sensors.#')


def check_bridge_settings(parsed: Mapping[str, Any]) -> None:
    """Cross-key checks that one row cannot make; raise ``ConfigurationError`` naming the key."""
    if 'zmq' in parsed.get('bridges', []):
        if parsed['zmq_outbound'] and not parsed['zmq_publish_endpoints']:
            raise configuration_error(
                'livehub.zmq_outbound is set but livehub.zmq_publish_endpoints is empty; '
                'add e.g. livehub.zmq_publish_endpoints = tcp://*:6543')
        if parsed['zmq_inbound'] and not parsed['zmq_subscribe_endpoints'] \
                and not parsed['zmq_outbound']:
            raise configuration_error(
                'livehub.bridges has zmq, but the zmq bridge has nothing to do: set '
                'livehub.zmq_subscribe_endpoints and/or livehub.zmq_publish_endpoints')


#: Keys every bridge uses besides its own ``<name>_*`` rows.
BRIDGE_COMMON_KEYS = ['bridges', 'bridge_queue_size', 'bridge_stats_interval',
                      'initial_retry_delay', 'max_retry_delay', 'retry_delay_growth',
                      'retry_delay_jitter']


def bridge_keys(name: str) -> list[str]:
    """The setting names the ``name`` bridge component gets (not the other bridges' secrets)."""
    return BRIDGE_COMMON_KEYS + [s.name for s in SETTINGS if s.name.startswith(name + '_')]


def endpoint_port(endpoint: str) -> int | None:
    """TCP port of a ZeroMQ endpoint, or None."""
    try:
        return urlsplit(endpoint.replace('*', 'any')).port
    except ValueError:
        return None
