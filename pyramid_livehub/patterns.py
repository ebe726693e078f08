"""The one pattern language for every ``livehub.*`` setting that names WAMP topics.

Security rules (``livehub.subscribe_*``, ``publish_*``, ``call_*``,
``subscribe_permissions``), consumer topics (``Consumer.topic``) and the
WAMP side of the broker bridges all use it.  A pattern is a dotted WAMP URI
whose components may be:

=============  ===============================================================
``word``       exactly that component
``*``          exactly one component, any value (``app.*.created``)
``**``         one or more components; only as the last component
               (``app.**`` matches ``app.a`` and ``app.a.b``, not ``app``)
``{authid}``   the session's own authid; only in security rules, and only
               for a ticket-authenticated session
=============  ===============================================================

A ``*`` at the end of a security rule used to mean "one or more components";
that spelling is refused with a message that shows the new one (``app.**``),
so no .ini silently changes meaning.  Consumer topics also accept WAMP's own
wildcard spelling, an empty component (``app..created`` is ``app.*.created``).  The broker side of a bridge keeps the
broker's own syntax (AMQP ``#``, MQTT ``+``/``#``): those patterns are
documented by the broker, not by livehub.

:func:`parse_pattern` parses, :meth:`Pattern.matches` matches one topic, and
:meth:`Pattern.subscription` says which WAMP subscription ``(uri, match)``
serves the pattern (the router decides with :func:`subscription_matches`).
"""
import re
from typing import Iterable

#: Pattern token: exactly one component.
ONE = '*'
#: Pattern token: one or more components (only last).
REST = '**'
#: Pattern token: the session's authid (security rules only).
AUTHID = '{authid}'

_WORD = re.compile(r'^[^\s.#*{}!]+$')


class Pattern:
    """A parsed pattern: ``components`` (words, :data:`ONE`, :data:`AUTHID`) and ``rest``.

    ``rest`` is True when the pattern ends in ``**`` (not kept in ``components``).
    """

    __slots__ = ('text', 'components', 'rest')

    def __init__(self, text: str, components: Iterable[str], rest: bool) -> None:
        self.text = text
        self.components = tuple(components)
        self.rest = rest

    @property
    def per_user(self) -> bool:
        """True if the pattern holds ``{authid}``."""
        return AUTHID in self.components

    def resolve(self, authid: str | None) -> list[str] | None:
        """Components with ``{authid}`` substituted; ``None`` if it cannot apply."""
        if not self.per_user:
            return list(self.components)
        if authid is None or not _WORD.match(authid):
            return None   # an authid that is not one URI component never matches
        return [authid if c == AUTHID else c for c in self.components]

    def matches(self, topic: str, authid: str | None = None) -> bool:
        """True if the WAMP URI ``topic`` matches (``{authid}`` only with an ``authid``)."""
        resolved = self.resolve(authid)
        if resolved is None:
            return False
        parts = topic.split('.')
        if len(parts) < len(resolved) or (len(parts) > len(resolved)) != self.rest:
            return False
        return all(c == ONE or c == p for c, p in zip(resolved, parts))

    def subscription(self) -> tuple[str, str]:
        """``(uri, match)`` of the WAMP subscription that receives exactly these topics.

        >>> parse_pattern('app.*.created').subscription()
        ('app..created', 'wildcard')
        >>> parse_pattern('app.orders.**').subscription()
        ('app.orders.', 'prefix')

        A ``*`` before a ``**`` has no WAMP subscription (WAMP matches either
        by prefix or by wildcard): :class:`ValueError`.
        """
        if self.per_user:
            raise ValueError('%r: {authid} has no WAMP subscription' % self.text)
        if self.rest:
            if ONE in self.components:
                raise ValueError('%r: "*" cannot come before "**" here (a WAMP subscription '
                                 'matches by prefix or by wildcard, not both)' % self.text)
            return '.'.join(self.components) + '.', 'prefix'
        uri = '.'.join('' if c == ONE else c for c in self.components)
        return uri, 'wildcard' if ONE in self.components else 'exact'

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return '<Pattern %s>' % self.text


def parse_pattern(text: str, authid: bool = False, setting: str | None = None) -> Pattern:
    """Parse a pattern; ``authid=True`` allows ``{authid}`` (security rules).

    ``setting`` names the key for messages.  Raises :class:`ValueError`
    whose message names the fix.
    """
    where = '%s: ' % setting if setting else ''
    if not isinstance(text, str) or not text.strip():
        raise ValueError('%sa topic pattern is a non-empty string, got %r' % (where, text))
    text = text.strip()
    components = text.split('.')
    rest = components[-1] == REST
    if rest:
        components = components[:-1]
        if not components:
            raise ValueError('%s%r: "**" may only end a pattern, after a fixed start '
                             '(e.g. app.**)' % (where, text))
    for component in components:
        if component == REST:
            raise ValueError('%s%r: "**" may only be the last component (e.g. app.orders.**)'
                             % (where, text))
        if component == AUTHID and not authid:
            raise ValueError('%s%r: {authid} is only allowed in security rules' % (where, text))
        if component not in (ONE, AUTHID) and not _WORD.match(component):
            raise ValueError('%s%r: bad component %r: empty, or with whitespace or one of '
                             '. # ! { } in it (use words, "*", "**" at the end%s)'
                             % (where, text, component, ' or "{authid}"' if authid else ''))
    return Pattern(text, components, rest)


def parse_rule_pattern(text: str, setting: str | None = None) -> Pattern:
    """A security-rule pattern: like :func:`parse_pattern` with ``{authid}``, refusing
    the old trailing ``*`` (which used to mean one or more components)."""
    if text == ONE or text.endswith('.' + ONE):
        head = text[:-1]
        raise ValueError(
            '%s%r: a trailing "*" in topic rules used to mean "one or more components"; '
            'write %s** for everything under %s (see pyramid_livehub.patterns)'
            % ('%s: ' % setting if setting else '', text, head, head or 'any topic'))
    return parse_pattern(text, authid=True, setting=setting)


def subscription_matches(uri: str, match: str, topic: str) -> bool:
    """True if ``topic`` is delivered to the WAMP subscription ``(uri, match)``."""
    if match == 'exact':
        return topic == uri
    if match == 'prefix':
        return topic.startswith(uri)
    pattern, parts = uri.split('.'), topic.split('.')
    return len(pattern) == len(parts) and all(p in ('', t) for p, t in zip(pattern, parts))


def prefix_subscription(components: Iterable[str]) -> tuple[str, str]:
    """``(uri, 'prefix')`` for everything that starts with ``components`` (joined by ``.``).

    Wider than a ``**`` pattern (it also receives ``a.bX`` for ``a.b``); used
    by bridges whose broker patterns (``#``) also match zero components, so
    they check each event themselves.
    """
    return '.'.join(components), 'prefix'
