"""Message bodies between brokers and WAMP: the rules every bridge follows.

Broker -> WAMP: the event has one positional argument, the body, and one
keyword argument, :data:`META_KEY`, with the broker metadata::

    session.subscribe(on_reading, 'iot.sensors.t1')
    def on_reading(value, livehub_broker=None): ...

* a JSON body (any JSON text, or a content type ending in ``json``) becomes
  the JSON value, unless it holds an integer that WAMP serializers cannot
  carry (beyond 64 bits: msgpack, which the router components use, refuses
  it), in which case it arrives as text;
* other UTF-8 text (or a ``text/*`` content type) arrives as a ``str``;
* anything else arrives as ``bytes`` (WAMP binary: Autobahn's JSON
  serializer carries it as base64 with a marker byte and every Autobahn
  client decodes it); nothing is lost and nothing crashes.

``livehub_broker`` holds ``bridge`` (``amqp``...), ``topic`` (the original
topic / routing key / destination), ``encoding`` (``json``, ``text`` or
``binary``) and, where the broker gives them, ``content_type``, ``headers``
(AMQP headers, STOMP headers, MQTT user properties), ``qos``, ``retain``,
``message_id``, ``exchange``.

WAMP -> broker: one positional argument and no keyword arguments sends that
value (``bytes`` as they are, anything else as JSON); any other shape sends
``{"args": [...], "kwargs": {...}}`` as JSON.  The stream position of an event
on a history topic (``livehub_position``, see :mod:`pyramid_livehub.history`)
is livehub's wire metadata, not the event's payload: it is left out, so an
event sends the same body whether its topic keeps history or not.
"""
import json

from pyramid_livehub._codec import dumps
from pyramid_livehub.history import POSITION_KEY

#: The kwargs key with the broker metadata of an event that came in through a bridge.
META_KEY = 'livehub_broker'

#: Broker header that marks a message a bridge of this router sent (loop guard).
ORIGIN_HEADER = 'x-livehub-origin'

JSON_TYPE = 'application/json'
BINARY_TYPE = 'application/octet-stream'


def decode_body(body, content_type=None):
    """Broker body (bytes) -> ``(value, encoding)`` with encoding json/text/binary."""
    if isinstance(body, str):
        body = body.encode('utf-8')
    kind = (content_type or '').split(';')[0].strip().lower()
    if kind and kind != JSON_TYPE and not kind.endswith('+json') and not kind.endswith('/json'):
        if kind.startswith('text/'):
            try:
                return body.decode('utf-8'), 'text'
            except UnicodeDecodeError:
                return bytes(body), 'binary'
        if kind == BINARY_TYPE:
            return bytes(body), 'binary'
    try:
        text = body.decode('utf-8')
    except UnicodeDecodeError:
        return bytes(body), 'binary'
    try:
        return json.loads(text, parse_int=_wamp_int), 'json'
    except (ValueError, RecursionError):
        return text, 'text'


def _wamp_int(digits):
    # msgpack carries -2**63 .. 2**64-1; a larger integer would make the
    # publish fail inside the bridge, so the body travels as its text instead.
    value = int(digits)
    if not -2 ** 63 <= value < 2 ** 64:
        raise ValueError('integer beyond 64 bits')
    return value


def encode_event(args, kwargs):
    """WAMP event payload -> ``(body bytes, content type)`` for the broker.

    Raises ``TypeError`` for a payload with no JSON form (bytes inside a list).
    """
    if kwargs and POSITION_KEY in kwargs:
        kwargs = {key: value for key, value in kwargs.items() if key != POSITION_KEY}
    if len(args) == 1 and not kwargs:
        value = args[0]
        if isinstance(value, (bytes, bytearray)):
            return bytes(value), BINARY_TYPE
    elif not args and not kwargs:
        value = None
    else:
        value = {'args': list(args), 'kwargs': kwargs}
    return dumps(value).encode('utf-8'), JSON_TYPE


def inbound_event(body, meta, content_type=None):
    """``(args, kwargs)`` of the WAMP event for a broker message."""
    value, encoding = decode_body(body, content_type)
    meta['encoding'] = encoding
    if content_type:
        meta['content_type'] = content_type
    return [value], {META_KEY: meta}


def jsonable_headers(headers):
    """Broker headers as JSON values (bytes become text or are left out)."""
    result = {}
    for key, value in (headers or {}).items():
        if isinstance(value, (bytes, bytearray)):
            try:
                value = bytes(value).decode('utf-8')
            except UnicodeDecodeError:
                continue
        if isinstance(value, (str, int, float, bool, type(None))):
            result[str(key)] = value
        else:
            result[str(key)] = str(value)
    return result
