"""Topic mapping between WAMP and the brokers: pure functions used by every bridge.

Every broker name is first split into **levels** (a list of plain strings),
and levels are joined into the other side's name:

==========  =====================  ============================  ==============
side        name                   wildcards                     separator
==========  =====================  ============================  ==============
WAMP        ``iot.sensors.t1``     prefix / wildcard match       ``.``
AMQP        ``sensors.t1``         ``*`` one word, ``#`` any     ``.``
MQTT        ``sensors/t1``         ``+`` one level, ``#`` rest   ``/``
ZeroMQ      ``sensors.t1`` frame   like AMQP (prefix-filtered)   ``.``
STOMP       ``/topic/sensors.t1``  like AMQP (RabbitMQ)          ``.``
==========  =====================  ============================  ==============

Each bridge has an optional WAMP **prefix**: with ``iot`` the MQTT topic
``sensors/t1`` is the WAMP topic ``iot.sensors.t1``, and the MQTT pattern
``sensors/#`` is a WAMP prefix subscription on ``iot.sensors``.

**Escaping rule** (broker -> WAMP): a WAMP URI component may not hold ``.``,
``#`` or whitespace, so in a level those characters and ``%`` itself are
percent-escaped (``v1.2`` -> ``v1%2E2``, ``living room`` -> ``living%20room``);
WAMP -> broker undoes it.  Names that cannot be mapped at all raise
:class:`UnmappableTopic` with the reason, which the bridge counts and logs:
empty levels (``a//b``, ``/a``, ``a..b``), a level that cannot be written on
the other side (a ``/`` or ``+`` in an MQTT level, a ``.`` in an AMQP word),
topics outside the bridge's prefix, and names under the reserved ``wamp.``.
"""
import re
from urllib.parse import unquote

from pyramid_livehub._uri import topic_error
from pyramid_livehub.patterns import ONE as WAMP_ONE
from pyramid_livehub.patterns import Pattern, prefix_subscription

#: Pattern token: exactly one level (AMQP ``*``, MQTT ``+``).
ONE = object()
#: Pattern token: any number of levels, including none (AMQP/MQTT ``#``).
MANY = object()


class UnmappableTopic(ValueError):
    """A name that has no counterpart on the other side; the message says why."""


# -- levels <-> WAMP ------------------------------------------------------------

_NEEDS_ESCAPE = re.compile(r'[%.#\s]')


def escape_level(level):
    """Make one level a valid WAMP URI component (see the escaping rule)."""
    if level == '':
        raise UnmappableTopic('empty level')
    return _NEEDS_ESCAPE.sub(lambda m: ''.join('%%%02X' % b for b in m.group().encode()), level)


def unescape_level(component):
    """Inverse of :func:`escape_level`."""
    if '%' not in component:
        return component
    try:
        return unquote(component, errors='strict')
    except UnicodeDecodeError:
        raise UnmappableTopic('%r is not valid percent-escaped UTF-8' % component) from None


def check_prefix(prefix):
    """Return ``prefix`` if it can prefix WAMP topics (``''`` or ``a.b``), else raise ValueError."""
    if prefix == '':
        return prefix
    reason = topic_error(prefix)
    if reason:
        raise ValueError('%r cannot be a WAMP topic prefix: %s' % (prefix, reason))
    return prefix


def levels_to_wamp(levels, prefix=''):
    """``['sensors', 't1'], 'iot'`` -> ``'iot.sensors.t1'``."""
    if not levels:
        raise UnmappableTopic('empty topic')
    topic = '.'.join(([prefix] if prefix else []) + [escape_level(level) for level in levels])
    reason = topic_error(topic)
    if reason:
        raise UnmappableTopic(reason)
    return topic


def wamp_to_levels(topic, prefix=''):
    """``'iot.sensors.t1', 'iot'`` -> ``['sensors', 't1']``."""
    if prefix:
        if not topic.startswith(prefix + '.'):
            raise UnmappableTopic('%r is outside the bridge prefix %r' % (topic, prefix))
        topic = topic[len(prefix) + 1:]
    components = topic.split('.')
    if '' in components:
        raise UnmappableTopic('empty component in %r' % topic)
    return [unescape_level(component) for component in components]


# -- broker names <-> levels ----------------------------------------------------

def routing_key_to_levels(key):
    """AMQP routing key (also ZeroMQ topic frame, STOMP routing key) -> levels."""
    levels = key.split('.')
    if '' in levels:
        raise UnmappableTopic('empty word in routing key %r' % key)
    return levels


def levels_to_routing_key(levels):
    """Levels -> AMQP routing key; a level with a ``.`` cannot be one word."""
    for level in levels:
        if '.' in level:
            raise UnmappableTopic('level %r has a "." and cannot be one routing-key word' % level)
        if level == '':
            raise UnmappableTopic('empty level')
    return '.'.join(levels)


def mqtt_topic_to_levels(topic):
    """MQTT topic name -> levels; empty levels are refused."""
    levels = topic.split('/')
    if '' in levels:
        raise UnmappableTopic('empty level in MQTT topic %r' % topic)
    return levels


def levels_to_mqtt_topic(levels):
    """Levels -> MQTT topic name; ``/``, ``+``, ``#`` cannot be inside a level."""
    for level in levels:
        if level == '':
            raise UnmappableTopic('empty level')
        bad = set(level) & set('/+#\0')
        if bad:
            raise UnmappableTopic('level %r has %s, not allowed in an MQTT topic name'
                                  % (level, ''.join(sorted(bad))))
    return '/'.join(levels)


def stomp_destination_to_levels(destination, destination_prefix='/topic/'):
    """STOMP destination (``/topic/a.b``) -> levels."""
    if not destination.startswith(destination_prefix):
        raise UnmappableTopic('destination %r does not start with %r'
                              % (destination, destination_prefix))
    return routing_key_to_levels(destination[len(destination_prefix):])


def levels_to_stomp_destination(levels, destination_prefix='/topic/'):
    """Levels -> STOMP destination."""
    return destination_prefix + levels_to_routing_key(levels)


# -- patterns --------------------------------------------------------------------

def parse_dotted_pattern(text):
    """AMQP binding key / ZeroMQ / STOMP pattern (``a.*.#``) -> pattern levels."""
    text = text.strip()
    if not text:
        raise ValueError('empty pattern')
    words = text.split('.')
    if '' in words:
        raise ValueError('pattern %r has an empty word' % text)
    return [ONE if w == '*' else MANY if w == '#' else w for w in words]


def parse_mqtt_pattern(text):
    """MQTT topic filter (``sensors/+/t``, ``a/#``) -> pattern levels."""
    text = text.strip()
    if not text:
        raise ValueError('empty pattern')
    levels = text.split('/')
    if '' in levels:
        raise ValueError('MQTT filter %r has an empty level' % text)
    for position, level in enumerate(levels):
        if level == '#' and position != len(levels) - 1:
            raise ValueError('MQTT filter %r: "#" must be the last level' % text)
        if level not in ('+', '#') and set(level) & set('+#'):
            raise ValueError('MQTT filter %r: "+" and "#" must fill a whole level' % text)
    return [ONE if w == '+' else MANY if w == '#' else w for w in levels]


def pattern_to_dotted(pattern):
    """Pattern levels -> AMQP binding key."""
    return '.'.join('*' if w is ONE else '#' if w is MANY else w for w in pattern)


def pattern_to_mqtt(pattern):
    """Pattern levels -> MQTT topic filter."""
    return '/'.join('+' if w is ONE else '#' if w is MANY else w for w in pattern)


def literal_head(pattern):
    """The levels before the first wildcard (ZeroMQ subscribes to their prefix)."""
    head = []
    for level in pattern:
        if level is ONE or level is MANY:
            break
        head.append(level)
    return head


def pattern_matches(pattern, levels):
    """True if ``levels`` match ``pattern`` (``ONE``: one level, ``MANY``: zero or more)."""
    return _match(pattern, 0, levels, 0)


def _match(pattern, p, levels, i):
    while p < len(pattern):
        token = pattern[p]
        if token is MANY:
            if p == len(pattern) - 1:
                return True
            return any(_match(pattern, p + 1, levels, j) for j in range(i, len(levels) + 1))
        if i >= len(levels):
            return False
        if token is not ONE and token != levels[i]:
            return False
        p += 1
        i += 1
    return i == len(levels)


def wamp_subscription(pattern, prefix=''):
    """The WAMP subscription ``(uri, match)`` that covers ``pattern`` under ``prefix``.

    The WAMP side speaks :mod:`pyramid_livehub.patterns`: a broker one-level
    wildcard is a WAMP ``*``, and the subscription is the one
    :meth:`pyramid_livehub.patterns.Pattern.subscription` gives:

    * no wildcard: ``('iot.a.b', 'exact')``
    * only one-level wildcards: ``('iot.a..c', 'wildcard')``
    * a ``#`` (zero or more levels, which no WAMP pattern spells): a prefix
      subscription on the literal head (``sensors/#`` -> ``('iot.sensors', 'prefix')``).

    A prefix subscription is wider than the pattern (``iot.sensorsX`` also
    matches it), so the bridge checks each event with :func:`pattern_matches`.
    """
    escaped = [w if w is ONE or w is MANY else escape_level(w) for w in pattern]
    base = [prefix] if prefix else []
    if any(w is MANY for w in escaped):
        return prefix_subscription(base + literal_head(escaped))
    components = base + [WAMP_ONE if w is ONE else w for w in escaped]
    return Pattern('.'.join(components), components, rest=False).subscription()


def describe_wamp_pattern(pattern, prefix=''):
    """Human form of the WAMP side of ``pattern`` for logs: ``iot.sensors.#``."""
    base = [prefix] if prefix else []
    return '.'.join(base + ['*' if w is ONE else '#' if w is MANY else escape_level(w)
                            for w in pattern])
