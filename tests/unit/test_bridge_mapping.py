"""Unit tests of the bridges' pure parts: topic mapping, payload rules, settings, name table."""
import pytest
from pyramid.exceptions import ConfigurationError

from pyramid_livehub._queue import BoundedQueue
from pyramid_livehub._retry import RetryPolicy
from pyramid_livehub.router.bridges.stats import BridgeStats
from pyramid_livehub.router.bridges.payload import META_KEY, decode_body, encode_event, inbound_event
from pyramid_livehub.router.bridges import (BRIDGES, NoSuchBridge, bridge_class_path,
                                            bridge_components, check_bridge_name)
from pyramid_livehub.router.bridges.topics import (
    MANY, ONE, UnmappableTopic, escape_level, levels_to_mqtt_topic, levels_to_routing_key,
    levels_to_stomp_destination, levels_to_wamp, literal_head, mqtt_topic_to_levels,
    parse_dotted_pattern, parse_mqtt_pattern, pattern_matches, pattern_to_dotted,
    pattern_to_mqtt, routing_key_to_levels, stomp_destination_to_levels, unescape_level,
    wamp_subscription, wamp_to_levels)
from pyramid_livehub.settings import parse_settings
from tests.support import run_python


# -- topic mapping -------------------------------------------------------------

def test_amqp_routing_key_maps_to_the_same_wamp_topic():
    assert levels_to_wamp(routing_key_to_levels('a.b.c')) == 'a.b.c'
    assert levels_to_routing_key(wamp_to_levels('a.b.c')) == 'a.b.c'


def test_mqtt_topic_maps_to_dotted_wamp_topic_under_the_prefix():
    assert levels_to_wamp(mqtt_topic_to_levels('sensors/t1'), 'iot') == 'iot.sensors.t1'
    assert levels_to_mqtt_topic(wamp_to_levels('iot.sensors.t1', 'iot')) == 'sensors/t1'


def test_stomp_destination_maps_through_the_routing_key():
    assert stomp_destination_to_levels('/topic/a.b') == ['a', 'b']
    assert levels_to_stomp_destination(['a', 'b']) == '/topic/a.b'
    with pytest.raises(UnmappableTopic, match='does not start with'):
        stomp_destination_to_levels('/queue/a')


@pytest.mark.parametrize('level, escaped', [
    ('v1.2', 'v1%2E2'), ('living room', 'living%20room'), ('50%', '50%25'),
    ('a#b', 'a%23b'), ('tab\there', 'tab%09here'), ('plain', 'plain'), ('ü', 'ü'),
])
def test_levels_wamp_cannot_hold_are_percent_escaped_and_round_trip(level, escaped):
    assert escape_level(level) == escaped
    assert unescape_level(escaped) == level


def test_mqtt_level_with_a_dot_becomes_one_wamp_component():
    topic = levels_to_wamp(mqtt_topic_to_levels('fw/v1.2/x y'))
    assert topic == 'fw.v1%2E2.x%20y'
    assert levels_to_mqtt_topic(wamp_to_levels(topic)) == 'fw/v1.2/x y'


@pytest.mark.parametrize('func, name', [
    (mqtt_topic_to_levels, 'a//b'), (mqtt_topic_to_levels, '/a'), (mqtt_topic_to_levels, 'a/'),
    (routing_key_to_levels, 'a..b'), (routing_key_to_levels, ''),
])
def test_empty_levels_are_refused_with_a_reason(func, name):
    with pytest.raises(UnmappableTopic, match='empty'):
        func(name)


def test_names_that_cannot_be_written_on_the_other_side_are_refused():
    with pytest.raises(UnmappableTopic, match='"."'):
        levels_to_routing_key(['v1.2'])
    with pytest.raises(UnmappableTopic, match='MQTT'):
        levels_to_mqtt_topic(['a+b'])
    with pytest.raises(UnmappableTopic, match='reserved'):
        levels_to_wamp(['wamp', 'session'])
    with pytest.raises(UnmappableTopic, match='outside the bridge prefix'):
        wamp_to_levels('other.x', 'iot')
    with pytest.raises(UnmappableTopic, match='outside the bridge prefix'):
        wamp_to_levels('iotx.y', 'iot')


def test_patterns_parse_in_each_syntax_and_print_back():
    assert parse_dotted_pattern('a.*.#') == ['a', ONE, MANY]
    assert parse_mqtt_pattern('a/+/#') == ['a', ONE, MANY]
    assert pattern_to_dotted(parse_mqtt_pattern('a/+/#')) == 'a.*.#'
    assert pattern_to_mqtt(parse_dotted_pattern('a.*.#')) == 'a/+/#'
    assert literal_head(parse_dotted_pattern('a.b.*.c')) == ['a', 'b']


@pytest.mark.parametrize('bad', ['a/#/b', 'a/b#', 'a//b', ''])
def test_bad_mqtt_filters_are_refused(bad):
    with pytest.raises(ValueError):
        parse_mqtt_pattern(bad)


@pytest.mark.parametrize('pattern, levels, expected', [
    ('a.#', ['a'], True), ('a.#', ['a', 'b', 'c'], True), ('a.#', ['ab'], False),
    ('a.*', ['a', 'b'], True), ('a.*', ['a'], False), ('a.*', ['a', 'b', 'c'], False),
    ('#.error', ['x', 'y', 'error'], True), ('#.error', ['error'], True),
    ('#.error', ['x', 'warn'], False), ('#', [], True), ('a.b', ['a', 'b'], True),
])
def test_pattern_matching_follows_amqp_semantics(pattern, levels, expected):
    assert pattern_matches(parse_dotted_pattern(pattern), levels) is expected


def test_patterns_become_the_narrowest_wamp_subscription():
    assert wamp_subscription(parse_mqtt_pattern('sensors/#'), 'iot') == ('iot.sensors', 'prefix')
    assert wamp_subscription(parse_mqtt_pattern('s/+/t'), 'iot') == ('iot.s..t', 'wildcard')
    assert wamp_subscription(parse_dotted_pattern('a.b'), '') == ('a.b', 'exact')
    assert wamp_subscription(parse_dotted_pattern('#'), '') == ('', 'prefix')
    assert wamp_subscription(parse_dotted_pattern('x y.#'), '') == ('x%20y', 'prefix')


# -- payloads ------------------------------------------------------------------

@pytest.mark.parametrize('body, content_type, value, encoding', [
    (b'{"a": [1, 2]}', None, {'a': [1, 2]}, 'json'),
    (b'42', None, 42, 'json'),
    (b'hello', None, 'hello', 'text'),
    (b'42', 'text/plain', '42', 'text'),
    (b'\xff\x00\x01', None, b'\xff\x00\x01', 'binary'),
    (b'{"a": 1}', 'application/octet-stream', b'{"a": 1}', 'binary'),
    (b'[' * 100000, None, '[' * 100000, 'text'),
    # Integers WAMP serializers can carry stay numbers; beyond 64 bits the body is text.
    (b'[-9223372036854775808, 18446744073709551615]', None,
     [-2 ** 63, 2 ** 64 - 1], 'json'),
    (b'{"big": 18446744073709551616}', None, '{"big": 18446744073709551616}', 'text'),
])
def test_broker_bodies_become_json_text_or_bytes_and_nothing_is_lost(body, content_type,
                                                                      value, encoding):
    assert decode_body(body, content_type) == (value, encoding)


def test_inbound_event_carries_broker_metadata_under_one_key():
    args, kwargs = inbound_event(b'{"x": 1}', {'topic': 'a.b'}, 'application/json')
    assert args == [{'x': 1}]
    assert list(kwargs) == [META_KEY]
    assert kwargs[META_KEY] == {'topic': 'a.b', 'encoding': 'json',
                                'content_type': 'application/json'}


def test_wamp_events_become_broker_bodies():
    assert encode_event([{'a': 1}], {}) == (b'{"a":1}', 'application/json')
    assert encode_event([b'\x00\xff'], {}) == (b'\x00\xff', 'application/octet-stream')
    assert encode_event([], {}) == (b'null', 'application/json')
    assert encode_event([1, 2], {'k': 3}) == (b'{"args":[1,2],"kwargs":{"k":3}}',
                                              'application/json')
    with pytest.raises(TypeError):
        encode_event([[b'bytes inside']], {})


def test_the_stream_position_of_a_history_event_is_not_sent_to_brokers():
    position = {'livehub_position': {'epoch': 'e', 'offset': 7, 'msgid': 'm'}}
    # the same bodies as the same events on a topic without history
    assert encode_event([{'a': 1}], dict(position)) == (b'{"a":1}', 'application/json')
    assert encode_event([b'\x00'], dict(position)) == (b'\x00', 'application/octet-stream')
    assert encode_event([], dict(position)) == (b'null', 'application/json')
    assert encode_event([], dict(position, k=3)) == (b'{"args":[],"kwargs":{"k":3}}',
                                                     'application/json')
    kwargs = dict(position, k=3)
    encode_event([1], kwargs)
    assert 'livehub_position' in kwargs  # the caller's kwargs are left as they were


# -- settings and the name table ------------------------------------------------

def test_unknown_bridge_name_suggests_the_closest_one():
    with pytest.raises(NoSuchBridge, match=r"No such bridge: 'amqpp'. Did you mean 'amqp'\?"):
        check_bridge_name('amqpp')
    with pytest.raises(ConfigurationError, match=r"No such bridge: 'mqt'. Did you mean 'mqtt'\?"):
        parse_settings({'livehub.bridges': 'mqt'})


def test_default_settings_enable_no_bridge_and_no_component():
    settings = parse_settings({})
    assert settings['bridges'] == []
    assert bridge_components(settings) == []


def test_enabling_a_bridge_is_one_line_and_gives_a_component():
    settings = parse_settings({'livehub.bridges': 'amqp'})
    assert settings['amqp_exchange'] == 'amq.topic'
    assert settings['amqp_inbound'] == ['#']
    assert bridge_components(settings) == [{
        'classname': 'pyramid_livehub.router.bridges.amqp.AmqpBridge', 'id': 'bridge-amqp',
        'extra': {'bridge': 'amqp'}}]


def test_every_bridge_class_in_the_table_exists():
    # In a child process: importing a bridge loads Twisted, which must not
    # choose txaio's framework for this test process.
    code = 'import importlib\n' + ''.join(
        'm, _, c = %r.rpartition(".")\nassert getattr(importlib.import_module(m), c).name == %r\n'
        % (bridge_class_path(name), name) for name in BRIDGES)
    run_python(code)


def test_rendering_a_config_with_every_bridge_does_not_import_twisted():
    code = ('import sys\nfrom pyramid_livehub.settings import parse_settings\n'
            'from pyramid_livehub.router.bridges import bridge_components\n'
            'bridge_components(parse_settings({"livehub.bridges": "amqp mqtt zmq stomp", '
            '"livehub.zmq_subscribe_endpoints": "tcp://127.0.0.1:6543"}))\n'
            'assert not [m for m in sys.modules if m.startswith("twisted")]\n')
    run_python(code)


@pytest.mark.parametrize('key, value, message', [
    ('livehub.mqtt_inbound', 'a/#/b', '"#" must be the last level'),
    ('livehub.amqp_outbound', 'a..b', 'empty word'),
    ('livehub.mqtt_wamp_prefix', 'a..b', 'empty component'),
    ('livehub.zmq_publish_endpoints', '127.0.0.1:5', 'not a ZeroMQ endpoint'),
    ('livehub.stomp_uri', 'localhost', 'expected host:port'),
    ('livehub.amqp_broker', 'http://x', 'amqp://'),
    ('livehub.mqtt_qos', '3', '<= 2'),
])
def test_bad_bridge_settings_name_the_key_and_the_fix(key, value, message):
    with pytest.raises(ConfigurationError) as info:
        parse_settings({key: value})
    assert key in str(info.value) and message in str(info.value)


def test_moksha_style_values_are_understood():
    settings = parse_settings({'livehub.mqtt_client_id': 'None',
                               'livehub.stomp_uri': 'localhost:61613, b:61614',
                               'livehub.zmq_publish_endpoints': 'tcp://*:6543'})
    assert settings['mqtt_client_id'] == ''
    assert settings['stomp_uri'] == [['localhost', 61613], ['b', 61614]]
    assert settings['zmq_publish_endpoints'] == ['tcp://*:6543']


# -- queue, counters, retry ---------------------------------------------------------

def test_bounded_queue_drops_the_oldest_and_says_so():
    queue = BoundedQueue(2)
    assert [queue.put(i) for i in range(3)] == [False, False, True]
    assert queue.get_batch(10) == [1, 2]
    queue.put('x')
    assert queue.put_back(['a', 'b']) == 1
    assert queue.get_batch(10) == ['a', 'x']


def test_retry_delays_grow_to_the_cap_and_reset():
    delays = RetryPolicy(initial_retry_delay=0.5, max_retry_delay=2.0, retry_delay_growth=2.0,
                         retry_delay_jitter=0.0)
    assert [delays.next() for _ in range(4)] == [0.5, 1.0, 2.0, 2.0]
    delays.reset()
    assert delays.next() == 0.5


def test_stats_have_every_counter_in_the_log_line():
    stats = BridgeStats()
    stats.received = 3
    line = stats.log_line()
    assert 'received=3' in line and all(name + '=' in line for name in BridgeStats.COUNTERS)


def test_bounded_queue_put_with_wait_takes_the_room_a_reader_makes():
    import threading
    queue = BoundedQueue(1)
    queue.put('old')
    threading.Timer(0.2, queue.get_batch, args=(1,)).start()
    assert queue.put('new', wait=5) is False
    assert queue.get_batch(5) == ['new']
    assert queue.put('x') is False and queue.put('y', wait=0.05) is True


def test_rendered_node_config_runs_enabled_bridges_in_the_container_worker():
    from pyramid_livehub.router.node_config import render_node_config
    node = render_node_config(parse_settings({'livehub.bridges': 'amqp mqtt'}))
    container = [w for w in node['workers'] if w['type'] == 'container'][0]
    bridges = {c['id']: c for c in container['components'] if c['id'].startswith('bridge-')}
    assert sorted(bridges) == ['bridge-amqp', 'bridge-mqtt']
    amqp = bridges['bridge-amqp']
    assert amqp['classname'] == 'pyramid_livehub.router.bridges.amqp.AmqpBridge'
    assert amqp['extra']['bridge'] == 'amqp'
    assert amqp['extra']['settings']['amqp_exchange'] == 'amq.topic'
    assert amqp['transport']['type'] == 'rawsocket'
