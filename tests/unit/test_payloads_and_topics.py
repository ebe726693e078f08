"""Unit tests of the pure checks: topic URIs and the JSON codec."""
import datetime
import decimal
import uuid

import pytest

from pyramid_livehub._codec import MSGPACK_INT_RANGE, prepare_event, prepare_payload
from pyramid_livehub._uri import check_topic, topic_error


@pytest.mark.parametrize('topic', ['app', 'app.orders.created', 'App.Orders-1', 'a.b_c.d9',
                                   'app.ünïcode.ok'])
def test_valid_topics(topic):
    assert check_topic(topic) == topic


@pytest.mark.parametrize('topic,reason', [
    ('', 'it is empty'),
    ('a..b', 'empty component at position 2'),
    ('.a', 'empty component at position 1'),
    ('a.', 'empty component at position 2'),
    ('a b.c', 'whitespace'),
    ('a.#', '"#"'),
    ('wamp.session.count', 'reserved'),
    ('app.orders\n', 'whitespace'),  # a regex $ would accept the trailing newline
    ('app\n', 'whitespace'),
])
def test_invalid_topics_name_the_fault(topic, reason):
    with pytest.raises(ValueError, match='not a valid WAMP topic URI') as info:
        check_topic(topic)
    assert reason in str(info.value)


def test_non_string_topic_is_refused():
    with pytest.raises(ValueError, match='expected a str'):
        check_topic(42)


def test_wildcard_patterns_may_have_empty_components():
    assert topic_error('a..c', allow_empty_components=True) is None


def test_plain_json_payload_passes_unchanged():
    args, kwargs = prepare_payload(({'a': [1, 2.5, None, True]},), {'x': 'y'})
    assert args == [{'a': [1, 2.5, None, True]}]
    assert kwargs == {'x': 'y'}


def test_common_python_types_are_converted():
    when = datetime.datetime(2026, 11, 22, 10, 30)
    ident = uuid.UUID(int=1)
    args, kwargs = prepare_payload((when, decimal.Decimal('1.50'), ident, (1, 2), b'\x00\x01'), {})
    assert args == ['2026-11-22T10:30:00', '1.50', str(ident), [1, 2], b'\x00\x01']


def test_objects_with_json_method_follow_pyramid_convention():
    class Order:
        def __json__(self, request):
            return {'id': 7, 'request': request}

    args, _ = prepare_payload((Order(),), {}, request='REQ')
    assert args == [{'id': 7, 'request': 'REQ'}]


@pytest.mark.parametrize('payload,where', [
    ((object(),), 'args[0] is a object'),
    (({'a': {'b': {1, object()}}},), "args[0]['a']['b']"),
    (({(1, 2): 'x', 'b': object()},), 'keys must be str'),
])
def test_unserializable_payload_names_the_path(payload, where):
    with pytest.raises(TypeError, match='not JSON-serializable') as info:
        prepare_payload(payload, {})
    assert where in str(info.value)


def test_nan_is_refused():
    with pytest.raises(TypeError, match='NaN'):
        prepare_payload((float('nan'),), {})


# -- msgpack's 64-bit integers, checked in the caller's thread (issue 13) --

@pytest.mark.parametrize('value', [MSGPACK_INT_RANGE[0], MSGPACK_INT_RANGE[1], 0, -1, 2 ** 63,
                                   '123456789012345678901234'])
def test_msgpack_accepts_integers_that_fit(value):
    import msgpack
    args, kwargs = prepare_event('app.topic', [value], {'n': value})
    assert msgpack.unpackb(msgpack.packb([args, kwargs])) == [[value], {'n': value}]


@pytest.mark.parametrize('value, path', [
    (2 ** 64, "kwargs['deep'][1]['id']"),
    (-2 ** 63 - 1, "kwargs['deep'][1]['id']"),
    (10 ** 30, "kwargs['deep'][1]['id']"),
])
def test_msgpack_refuses_integer_out_of_range_naming_the_path(value, path):
    with pytest.raises(TypeError) as info:
        prepare_event('app.topic', [], {'deep': [1, {'id': value}]})
    assert path in str(info.value)
    assert 'livehub.serializer = json' in str(info.value)


def test_msgpack_range_checked_in_args_keys_and_converted_payloads():
    with pytest.raises(TypeError, match=r'args\[1\]'):
        prepare_event('app.topic', [1, 2 ** 70], {})
    with pytest.raises(TypeError, match='key'):
        prepare_event('app.topic', [{2 ** 70: 'x'}], {})
    # the slow path (a converted value) is checked too
    with pytest.raises(TypeError, match=r'args\[0\]\[1\]'):
        prepare_event('app.topic', [(datetime.date(2020, 1, 1), 2 ** 70)], {})


def test_json_serializer_carries_big_integers():
    args, kwargs = prepare_event('app.topic', [2 ** 70], {'n': -2 ** 70}, serializer='json')
    assert args == [2 ** 70] and kwargs == {'n': -2 ** 70}


def test_publisher_checks_the_range_in_publish():
    from pyramid_livehub.publisher import Publisher
    from pyramid_livehub.settings import parse_settings
    assert parse_settings({})['serializer'] == 'msgpack'
    publisher = Publisher(parse_settings({}))
    try:
        with pytest.raises(TypeError, match=r"kwargs\['n'\]"):
            publisher.publish('app.topic', n=2 ** 64)
    finally:
        publisher.close(0)
    json_publisher = Publisher(parse_settings({'livehub.serializer': 'json'}))
    try:
        json_publisher.publish('app.topic', n=2 ** 64)  # queued: json carries it
    finally:
        json_publisher.close(0)


@pytest.mark.parametrize('serializer, accepted', [('msgpack', False), ('json', True)])
def test_request_livehub_checks_the_range_of_the_configured_serializer(serializer, accepted):
    """``request.livehub`` and the recording publisher check as ``Publisher.publish`` does."""
    from pyramid import testing as pyramid_testing
    from pyramid_livehub._request import RequestPublisher
    from pyramid_livehub.settings import parse_settings
    from pyramid_livehub.testing import RecordingPublisher
    recording = RecordingPublisher(parse_settings({'livehub.serializer': serializer}))
    view_side = RequestPublisher(pyramid_testing.DummyRequest(), recording)
    for publish in (view_side.publish, view_side.publish_immediately, recording.publish):
        if accepted:
            publish('app.topic', n=2 ** 64)
        else:
            with pytest.raises(TypeError, match=r"kwargs\['n'\]"):
                publish('app.topic', n=2 ** 64)
    assert len(recording.outbox) == (3 if accepted else 0)
