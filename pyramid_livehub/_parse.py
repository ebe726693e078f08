"""The rows of the settings table and the value parsers they use.

Private: :mod:`pyramid_livehub.settings` re-exports what is public.  Kept
apart so that each concern's settings module (bridges, security, models,
plugins) can build its rows while :mod:`pyramid_livehub.settings` imports
those modules plainly to join them into the one table.
"""
import difflib
import ipaddress
import re
from typing import Any, Callable
from urllib.parse import urlsplit

from pyramid.settings import asbool  # pyramid.settings alone: no WebOb

PREFIX = 'livehub.'


def configuration_error(message: str) -> Exception:
    """Pyramid's ``ConfigurationError`` with ``message``, for the caller to raise.

    ``pyramid.exceptions`` imports WebOb and Pyramid's HTTP exceptions; the
    settings modules are also imported by the router's worker processes, which
    need neither until a setting is wrong, so it is imported here, on use.
    """
    from pyramid.exceptions import ConfigurationError
    return ConfigurationError(message)

#: A value parser: raw value (``.ini`` string or typed value) -> typed value.
Parser = Callable[[Any], Any]


class Setting:
    """One ``livehub.*`` key: its default, its parser and its documentation.

    ``parse`` takes the raw value (a string from an .ini file, or an already
    typed Python value) and returns the typed value, or raises ``ValueError``
    whose message says what is allowed; :func:`parse_settings` turns that
    into a ``ConfigurationError`` naming the key.
    """

    def __init__(self, name: str, default: Any, parse: Parser, doc: str) -> None:
        self.name = name
        self.default = default
        self.parse = parse
        self.doc = doc

    @property
    def key(self) -> str:
        """The full settings key, e.g. ``livehub.realm``."""
        return PREFIX + self.name

    def __repr__(self) -> str:
        return '<Setting %s=%r>' % (self.key, self.default)


# -- parsers: each takes a raw value and returns a typed one or raises ValueError

def as_bool(value: Any) -> bool:
    """``true/false/yes/no/on/off/1/0`` -> bool."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ('true', 'false', 'yes', 'no', 'on', 'off', '1', '0', 't', 'f', 'y', 'n'):
        raise ValueError('expected true or false')
    return bool(asbool(text))


def as_int(minimum: int | None = None, maximum: int | None = None) -> Callable[[Any], int]:
    """Integer parser with an inclusive range."""
    def parse(value: Any) -> int:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError('expected a whole number') from None
        _check_range(number, minimum, maximum)
        return number
    return parse


def as_float(minimum: float | None = None,
             maximum: float | None = None) -> Callable[[Any], float]:
    """Float parser with an inclusive range."""
    def parse(value: Any) -> float:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise ValueError('expected a number') from None
        _check_range(number, minimum, maximum)
        return number
    return parse


def _check_range(number: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and number < minimum:
        raise ValueError('expected a number >= %s' % minimum)
    if maximum is not None and number > maximum:
        raise ValueError('expected a number <= %s' % maximum)


def one_of(*choices: str) -> Callable[[Any], str]:
    """Parser for a fixed set of words; suggests the closest on a typo."""
    def parse(value: Any) -> str:
        text = str(value).strip().lower().replace('-', '_')
        if text not in choices:
            close = difflib.get_close_matches(text, choices, n=1)
            hint = ' (did you mean %r?)' % close[0] if close else ''
            raise ValueError('expected one of %s%s' % (', '.join(choices), hint))
        return text
    return parse


def as_text(allow_empty: bool = True) -> Callable[[Any], str]:
    """Plain string; ``allow_empty=False`` refuses a blank value."""
    def parse(value: Any) -> str:
        text = '' if value is None else str(value).strip()
        if not text and not allow_empty:
            raise ValueError('must not be empty')
        return text
    return parse


def as_list(value: Any) -> list[str]:
    """List separated by whitespace, new lines or commas (``mqtt, amqp``)."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return str(value or '').replace(',', ' ').split()


def as_url(*schemes: str) -> Callable[[Any], str]:
    """URL parser that checks the scheme and that a host and port are given."""
    def parse(value: Any) -> str:
        text = str(value).strip()
        parts = urlsplit(text)
        if parts.scheme not in schemes:
            raise ValueError('expected a %s URL' % ' or '.join(s + '://' for s in schemes))
        try:
            port = parts.port
        except ValueError:
            raise ValueError('the port is not a number') from None
        if not parts.hostname:
            raise ValueError('the URL has no host')
        if port is None and parts.scheme in ('rs', 'rss', 'tcp'):
            raise ValueError('a rawsocket URL needs a port, e.g. rs://127.0.0.1:8081')
        return text
    return parse


_HOSTNAME = re.compile(r'^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$')


def as_listen_address(example: str) -> Callable[[Any], str]:
    """``host:port`` a server listens on (``[::1]:8080`` for IPv6); empty stays empty.

    The host is an IP address or a host name, ``0.0.0.0`` (or ``[::]``) for
    every interface.  A bare port is refused: it does not say whether the
    port is meant for this machine only or for the network.  Returns the
    normalized address (:func:`split_listen_address` takes it apart).
    ``example`` (e.g. ``127.0.0.1:8080``) is what the error messages suggest.
    """
    port_of_example = example.rsplit(':', 1)[1]

    def parse(value: Any) -> str:
        text = '' if value is None else str(value).strip()
        if not text:
            return ''
        if '://' in text or '/' in text:
            raise ValueError('expected host:port without a scheme or a path (the URL setting '
                             'keeps those), e.g. %s' % example)
        if text.lstrip(':').isdigit() and text.count(':') <= 1:
            raise ValueError('a port alone does not say which interface to listen on: write '
                             '127.0.0.1:%s (this machine only, e.g. behind a local proxy) or '
                             '0.0.0.0:%s (every interface)' % (port_of_example, port_of_example))
        if text.startswith('['):
            match = re.match(r'^\[([^\]]*)\](?::(.*))?$', text)
            if not match or match.group(2) is None:
                raise ValueError('expected [IPv6 address]:port, e.g. [::1]:%s' % port_of_example)
            try:
                host = ipaddress.IPv6Address(match.group(1)).compressed
            except ValueError:
                raise ValueError('%r is not an IPv6 address' % match.group(1)) from None
            port_text = match.group(2)
        else:
            host, colon, port_text = text.rpartition(':')
            if not colon:
                raise ValueError('the port is missing: expected host:port, e.g. %s' % example)
            if ':' in host:
                raise ValueError('an IPv6 address goes in brackets, e.g. [::1]:%s'
                                 % port_of_example)
            if not _HOSTNAME.match(host):
                raise ValueError('%r is not a host name or IP address; expected host:port, '
                                 'e.g. %s' % (host, example))
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError('the port must be a number from 1 to 65535, e.g. %s' % example)
        return '%s:%d' % ('[%s]' % host if ':' in host else host, int(port_text))
    return parse


def split_listen_address(text: str) -> tuple[str, int]:
    """``(host, port)`` of an address :func:`as_listen_address` returned (no brackets)."""
    host, _, port = text.rpartition(':')
    return host.strip('[]'), int(port)


_REALM = re.compile(r'^[A-Za-z0-9_\-.]+$')


def as_realm(value: Any) -> str:
    """A WAMP realm name: letters, digits, ``_ - .``."""
    text = str(value).strip()
    if not _REALM.match(text):
        raise ValueError('a realm is letters, digits, "_", "-" or "." (e.g. livehub)')
    return text


def as_route_prefix(value: Any) -> str:
    """URL path prefix for the views, e.g. ``/livehub``."""
    text = str(value).strip()
    if not text.startswith('/') or text != text.rstrip('/') or ' ' in text:
        raise ValueError('expected a path that starts with "/" and does not end with one')
    return text
