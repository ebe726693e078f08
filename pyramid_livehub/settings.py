"""Every ``livehub.*`` setting: one defaults table and the pure functions that
parse it.

The rest of the package never reads a raw settings string: it gets the typed
:class:`LivehubSettings` that :func:`parse_settings` returns.  A wrong value
raises :class:`pyramid.exceptions.ConfigurationError` naming the key, the bad
value and the fix, at start-up.

Feature areas (bridges, security, models) declare their own rows in their own
modules as lists of :class:`Setting`; :data:`SETTING_TABLES` gathers them so
that there is still one table to document and one function to parse.
"""
import difflib
import importlib
import re
from urllib.parse import urlsplit

from pyramid.exceptions import ConfigurationError
from pyramid.settings import asbool, aslist

PREFIX = 'livehub.'


class Setting:
    """One ``livehub.*`` key: its default, its parser and its documentation.

    ``parse`` takes the raw value (a string from an .ini file, or an already
    typed Python value) and returns the typed value, or raises ``ValueError``
    whose message says what is allowed; :func:`parse_settings` turns that
    into a ``ConfigurationError`` naming the key.
    """

    def __init__(self, name, default, parse, doc):
        self.name = name
        self.default = default
        self.parse = parse
        self.doc = doc

    @property
    def key(self):
        """The full settings key, e.g. ``livehub.realm``."""
        return PREFIX + self.name

    def __repr__(self):
        return '<Setting %s=%r>' % (self.key, self.default)


# -- parsers: each takes a raw value and returns a typed one or raises ValueError

def as_bool(value):
    """``true/false/yes/no/on/off/1/0`` -> bool."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ('true', 'false', 'yes', 'no', 'on', 'off', '1', '0', 't', 'f', 'y', 'n'):
        raise ValueError('expected true or false')
    return asbool(text)


def as_int(minimum=None, maximum=None):
    """Integer parser with an inclusive range."""
    def parse(value):
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError('expected a whole number') from None
        _check_range(number, minimum, maximum)
        return number
    return parse


def as_float(minimum=None, maximum=None):
    """Float parser with an inclusive range."""
    def parse(value):
        try:
            number = float(str(value).strip())
        except ValueError:
            raise ValueError('expected a number') from None
        _check_range(number, minimum, maximum)
        return number
    return parse


def _check_range(number, minimum, maximum):
    if minimum is not None and number < minimum:
        raise ValueError('expected a number >= %s' % minimum)
    if maximum is not None and number > maximum:
        raise ValueError('expected a number <= %s' % maximum)


def one_of(*choices):
    """Parser for a fixed set of words; suggests the closest on a typo."""
    def parse(value):
        text = str(value).strip().lower().replace('-', '_')
        if text not in choices:
            close = difflib.get_close_matches(text, choices, n=1)
            hint = ' (did you mean %r?)' % close[0] if close else ''
            raise ValueError('expected one of %s%s' % (', '.join(choices), hint))
        return text
    return parse


def as_text(allow_empty=True):
    """Plain string; ``allow_empty=False`` refuses a blank value."""
    def parse(value):
        text = '' if value is None else str(value).strip()
        if not text and not allow_empty:
            raise ValueError('must not be empty')
        return text
    return parse


def as_list(value):
    """Whitespace or newline separated list (``aslist``)."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return aslist(value or '')


def as_url(*schemes):
    """URL parser that checks the scheme and that a host and port are given."""
    def parse(value):
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


_REALM = re.compile(r'^[A-Za-z0-9_\-.]+$')


def as_realm(value):
    """A WAMP realm name: letters, digits, ``_ - .``."""
    text = str(value).strip()
    if not _REALM.match(text):
        raise ValueError('a realm is letters, digits, "_", "-" or "." (e.g. livehub)')
    return text


def as_route_prefix(value):
    """URL path prefix for the views, e.g. ``/livehub``."""
    text = str(value).strip()
    if not text.startswith('/') or text != text.rstrip('/') or ' ' in text:
        raise ValueError('expected a path that starts with "/" and does not end with one')
    return text


#: Core settings: the router, the publisher and the views.
CORE_SETTINGS = [
    Setting('router_url', 'rs://127.0.0.1:8081', as_url('rs', 'rss', 'ws', 'wss'),
            'Where the backend publisher connects: a rawsocket (`rs://`) or WebSocket '
            '(`ws://`) URL. `livehub router` listens for the backend here.'),
    Setting('browser_url', 'ws://127.0.0.1:8080/ws', as_url('ws', 'wss'),
            'WebSocket URL the browser connects to (served in `/livehub/config.json`). '
            '`livehub router` listens for browsers here.'),
    Setting('realm', 'livehub', as_realm, 'WAMP realm used by the app, browsers and bridges.'),
    Setting('serializer', 'json', one_of('json', 'msgpack', 'cbor'),
            'Serializer of the backend publisher\'s connection (the router components '
            'always use msgpack). `msgpack` halves the router\'s CPU per event (it decodes '
            'msgpack in C); payload integers must then fit in 64 bits.'),
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
    Setting('publish_linger', 0.0, as_float(minimum=0.0, maximum=0.1),
            'Seconds the publisher thread waits for more events after sending some, so that '
            'a busy app sends them in one write instead of waking the thread per event. '
            '0 sends each event at once (lowest latency); 0.002 saved ~60 us of CPU per '
            'published event at ~1,500 events/s here, for ~1 ms more latency.'),
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
]

#: Modules that contribute a ``SETTINGS`` list of their own (imported lazily
#: so that a missing optional module never breaks the core).
SETTING_TABLE_MODULES = [
    'pyramid_livehub.router.bridges.settings',
    'pyramid_livehub.security.settings',
    'pyramid_livehub.models.settings',
    'pyramid_livehub.router.guard',
]


def import_optional(name):
    """Import module ``name``, or return None if that module does not exist.

    An ImportError from *inside* the module still raises: a broken feature
    module must not look like an absent one.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None


def all_settings():
    """Every :class:`Setting` known to the package, core first."""
    table = list(CORE_SETTINGS)
    for name in SETTING_TABLE_MODULES:
        module = import_optional(name)
        if module is not None:
            table.extend(module.SETTINGS)
    return table


class LivehubSettings(dict):
    """Parsed settings: a dict keyed by short name with attribute access.

    ``settings.realm == settings['realm']``.  Built by :func:`parse_settings`.
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def for_router(self):
        """The subset a router component needs, JSON-serializable (crossbar ``extra``)."""
        return dict(self)


def parse_settings(settings=None):
    """Parse the ``livehub.*`` keys of a Pyramid settings dict.

    Missing keys take their defaults.  Unknown ``livehub.*`` keys are refused
    with a suggestion, because a typo would otherwise silently fall back to a
    default.
    """
    settings = settings or {}
    table = all_settings()
    known = {s.key: s for s in table}
    for key in settings:
        if key.startswith(PREFIX) and key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = ' Did you mean %r?' % close[0] if close else ''
            raise ConfigurationError(
                'Unknown setting %r.%s The livehub settings are listed in the '
                'README ("Settings").' % (key, hint))
    parsed = LivehubSettings()
    for setting in table:
        raw = settings.get(setting.key, setting.default)
        try:
            parsed[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigurationError(
                '%s: %s, got %r; fix it in the [app:main] section of your .ini '
                '(default: %r)' % (setting.key, exc, raw, setting.default)) from None
    _check_secret(parsed)
    return parsed


_LOOPBACK = ('127.0.0.1', 'localhost', '::1')


def _check_secret(parsed):
    default = CORE_SETTINGS[[s.name for s in CORE_SETTINGS].index('backend_secret')].default
    if parsed['backend_secret'] != default:
        if len(parsed['backend_secret']) < 16:
            raise ConfigurationError(
                'livehub.backend_secret: too short (%d characters); use at least 16 random '
                'characters, e.g. from `python -c "import secrets; print(secrets.token_urlsafe())"`'
                % len(parsed['backend_secret']))
        return
    for key in ('router_url', 'browser_url'):
        host = urlsplit(parsed[key]).hostname
        if host not in _LOOPBACK:
            raise ConfigurationError(
                'livehub.backend_secret: the development default is only allowed when the '
                'router is on this machine, but livehub.%s is %r; set livehub.backend_secret '
                'to a random value of at least 16 characters' % (key, parsed[key]))
