"""The one JSON codec: what may travel as an event payload, and how.

A payload must survive the router's JSON serializer, so it is checked in the
caller's thread (a bad one raises ``TypeError`` from ``publish()``; it never
vanishes in a background thread).  Objects that know how to turn themselves
into JSON follow Pyramid's JSON renderer convention: a ``__json__(request)``
method.  ``datetime``/``date``/``time`` become ISO 8601 strings, ``Decimal``
and ``UUID`` become strings, sets and tuples become lists.  ``bytes`` are
allowed: WAMP's JSON serializer carries them as binary.

With the msgpack serializer (``livehub.serializer``, the default), integers
must also fit msgpack's 64 bits, [-2**63, 2**64 - 1]; that is checked here
too, so a too-big integer raises from ``publish()`` instead of failing later
in the sender thread.
"""
import datetime
import decimal
import json
import re
import uuid
from typing import Any, Iterable, Mapping

from pyramid_livehub._uri import check_topic

_SCALARS = (str, int, float, bool, type(None), bytes)

#: The fast path's check: JSON text or TypeError/ValueError (built once, not per call).
_check_json = json.JSONEncoder(separators=(',', ':'), allow_nan=False).encode

#: Smallest and largest integer msgpack can carry.
MSGPACK_INT_RANGE = (-2 ** 63, 2 ** 64 - 1)

# Any integer outside MSGPACK_INT_RANGE has 19 or more digits in JSON text;
# only then is the payload walked (a string of digits may match too: harmless).
_LONG_DIGITS = re.compile(r'\d{19}')


def _convert(value: Any, request: Any, path: str) -> Any:
    """Plain-JSON copy of ``value``; raises TypeError naming the path."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                if not isinstance(key, (int, float, bool, type(None))):
                    raise TypeError('payload is not JSON-serializable: key %r at %s is a %s, '
                                    'keys must be str' % (key, path, type(key).__name__))
                key = json.dumps(key)  # what json.dumps does with such keys
            out[key] = _convert(item, request, '%s[%r]' % (path, key))
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_convert(item, request, '%s[%d]' % (path, i)) for i, item in enumerate(value)]
    if hasattr(value, '__json__'):
        return _convert(value.__json__(request), request, path + '.__json__()')
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    raise TypeError('payload is not JSON-serializable: %s is a %s; pass plain '
                    'dict/list/str/number values, or give the class a __json__(request) '
                    'method' % (path, type(value).__name__))


def prepare_payload(args: Iterable[Any], kwargs: Mapping[str, Any], request: Any = None,
                    serializer: str = 'msgpack') -> tuple[list[Any], dict[str, Any]]:
    """Check and normalise an event's positional and keyword payload.

    Returns ``(list, dict)`` made of JSON values (and bytes).  Raises
    ``TypeError`` naming the offending value and how to fix it; with
    ``serializer='msgpack'`` also for an integer outside :data:`MSGPACK_INT_RANGE`.
    """
    try:
        # Fast path: plain JSON values are by far the common case.
        text = _check_json((args, kwargs) if kwargs else args)
        plain_args, plain_kwargs = list(args), dict(kwargs)
    except (TypeError, ValueError):
        plain_args = [_convert(a, request, 'args[%d]' % i) for i, a in enumerate(args)]
        plain_kwargs = _convert(dict(kwargs), request, 'kwargs')
        try:
            text = json.dumps([plain_args, plain_kwargs], default=_allow_bytes, allow_nan=False)
        except ValueError as exc:
            raise TypeError('payload is not JSON-serializable: %s (NaN and Infinity have no '
                            'JSON form)' % exc) from None
    if serializer == 'msgpack' and _LONG_DIGITS.search(text):
        for i, value in enumerate(plain_args):
            _check_int_range(value, 'args[%d]' % i)
        _check_int_range(plain_kwargs, 'kwargs')
    return plain_args, plain_kwargs


def _check_int_range(value: Any, path: str) -> None:
    """Raise TypeError naming the path of an integer msgpack cannot carry."""
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = MSGPACK_INT_RANGE
        if not low <= value <= high:
            raise TypeError(
                'payload integer %s at %s does not fit the msgpack serializer\'s 64 bits '
                '[-2**63, 2**64-1]; send it as a string, or set livehub.serializer = json'
                % (value, path))
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_int_range(key, '%s key %r' % (path, key))
            _check_int_range(item, '%s[%r]' % (path, key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_int_range(item, '%s[%d]' % (path, i))


def prepare_event(topic: str, args: Iterable[Any], kwargs: Mapping[str, Any],
                  request: Any = None,
                  serializer: str = 'msgpack') -> tuple[list[Any], dict[str, Any]]:
    """Check a whole event in the caller's thread: ``check_topic`` then ``prepare_payload``.

    Returns ``(args, kwargs)`` ready to queue; raises ``ValueError`` (topic)
    or ``TypeError`` (payload).  Every way to publish goes through here;
    ``serializer`` is the connection's (``livehub.serializer``).
    """
    check_topic(topic)
    return prepare_payload(args, kwargs, request, serializer)


def _allow_bytes(value: Any) -> None:
    if isinstance(value, bytes):
        return None
    raise TypeError(type(value).__name__)


def dumps(value: Any) -> str:
    """Compact JSON text (the codec used for broker bodies and the CLI)."""
    return json.dumps(value, separators=(',', ':'), ensure_ascii=False)


def loads(text: str | bytes) -> Any:
    """Inverse of :func:`dumps`."""
    return json.loads(text)
