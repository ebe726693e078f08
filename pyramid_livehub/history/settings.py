"""``livehub.*`` settings of topic history, and the retention rules they make.

``livehub.history`` holds one line per pattern, ``<pattern> <size> [<seconds>]``:
the topics the pattern matches keep their last ``size`` events, each for at
most ``seconds`` (no age limit when left out).  The first line whose pattern
matches a topic decides; a topic no line matches has no history (its events
carry no position).

Patterns use the one livehub pattern language (:mod:`pyramid_livehub.patterns`):
dotted components, ``*`` is exactly one component, ``**`` (last component
only) is any depth, one or more components; ``{authid}`` is for security
rules only.
"""
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pyramid_livehub._parse import Setting, as_int
from pyramid_livehub.patterns import parse_pattern

#: Largest ``size`` one history line may ask for (events kept per topic).
MAX_SIZE = 1000000

#: Redis key prefix when the ``livehub.history_store`` URL names none.
DEFAULT_REDIS_PREFIX = 'livehub:history:'


def as_history_lines(value: Any) -> list[list[Any]]:
    """``livehub.history`` -> ``[[pattern, size, seconds_or_None], ...]`` (JSON-ready)."""
    if isinstance(value, (list, tuple)):
        lines = [line if isinstance(line, str) else ' '.join(str(v) for v in line
                                                             if v is not None)
                 for line in value]
    else:
        lines = str(value or '').splitlines()
    result = []
    for line in lines:
        words = line.split()
        if not words:
            continue
        if len(words) not in (2, 3):
            raise ValueError('history line %r is not "<pattern> <size> [<seconds>]" '
                             '(e.g. app.orders.** 1000 3600)' % line.strip())
        parse_pattern(words[0], setting='livehub.history line %r' % line.strip())
        size = _positive(words[1], 'size', line, MAX_SIZE)
        seconds = _positive(words[2], 'seconds', line) if len(words) == 3 else None
        result.append([words[0], size, seconds])
    return result


def _positive(word: str, what: str, line: str, maximum: int | None = None) -> int:
    try:
        number = int(word)
    except ValueError:
        raise ValueError('history line %r: %s %r is not a whole number' % (
            line.strip(), what, word)) from None
    if number < 1 or (maximum is not None and number > maximum):
        raise ValueError('history line %r: %s must be between 1 and %s' % (
            line.strip(), what, maximum or 'any'))
    return number


def as_history_store(value: Any) -> str:
    """``memory`` or a ``redis://host:port/db[?prefix=...]`` URL (``rediss://`` for TLS)."""
    text = str(value or '').strip()
    if text.lower() == 'memory':
        return 'memory'
    parts = urlsplit(text)
    if parts.scheme not in ('redis', 'rediss') or not parts.hostname:
        raise ValueError('expected "memory" or a Redis URL such as redis://127.0.0.1:6379/0')
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError('the Redis URL\'s port is not a number') from None
    db = parts.path.strip('/')
    if db and not db.isdigit():
        raise ValueError('the Redis database is a number, e.g. redis://127.0.0.1:6379/0')
    unknown = set(parse_qs(parts.query)) - {'prefix'}
    if unknown:
        raise ValueError('unknown Redis URL option(s) %s; only ?prefix=... is understood'
                         % ', '.join(sorted(unknown)))
    return text


def redis_url_and_prefix(url: str) -> tuple[str, str]:
    """Split a ``livehub.history_store`` Redis URL into (redis-py URL, key prefix)."""
    parts = urlsplit(url)
    prefix = parse_qs(parts.query).get('prefix', [DEFAULT_REDIS_PREFIX])[0]
    return parts._replace(query='').geturl(), prefix


class Retention:
    """How much history one topic keeps: ``size`` events, each ``seconds`` at most."""

    __slots__ = ('seconds', 'size')

    def __init__(self, size: int, seconds: int | None = None) -> None:
        self.size = size
        self.seconds = seconds

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Retention)
                and (self.size, self.seconds) == (other.size, other.seconds))

    def __repr__(self) -> str:
        return '<Retention size=%s seconds=%s>' % (self.size, self.seconds)


class HistoryRules:
    """The parsed ``livehub.history`` lines: which topics keep history, and how much."""

    def __init__(self, lines: Any) -> None:
        self.lines = [(parse_pattern(p, setting='livehub.history'), Retention(size, seconds))
                      for p, size, seconds in as_history_lines(lines)]
        self._cache: dict[str, Retention | None] = {}

    def __bool__(self) -> bool:
        return bool(self.lines)

    def keeps(self, topic: str) -> bool:
        """True if ``topic`` keeps history (send it through the history component)."""
        return bool(self.lines) and self.retention(topic) is not None

    def retention(self, topic: str) -> Retention | None:
        """The :class:`Retention` of ``topic`` (first matching line), or None: no history."""
        try:
            return self._cache[topic]
        except KeyError:
            pass
        found = next((r for pattern, r in self.lines if pattern.matches(topic)), None)
        if len(self._cache) > 10000:  # topics are unbounded; keep the cache small
            self._cache.clear()
        self._cache[topic] = found
        return found


#: Rows of the settings table (the lead adds them to the one table).
SETTINGS = [
    Setting('history', '', as_history_lines,
            'Topics that keep a history and give each event a position (`{epoch, offset}`), '
            'one line per pattern: `<pattern> <size> [<seconds>]`, e.g. '
            '`app.orders.** 1000 3600` keeps the last 1000 events of each matching topic for '
            'at most an hour. `*` is one component, `**` any depth; the first matching line '
            'wins. Empty: no history.'),
    Setting('history_store', 'memory', as_history_store,
            'Where the history lives: `memory` (the router\'s container worker; a router '
            'restart starts a new epoch) or `redis://host:port/db` (Redis streams; survives a '
            'router restart with the same epoch; `?prefix=` sets the key prefix, default '
            '`livehub:history:`).'),
    Setting('history_max_topics', 10000, as_int(minimum=1),
            'Most topics the memory store keeps history for; beyond it the topic written '
            'longest ago is evicted (counted as `evicted_topics`; its next event starts a '
            'new epoch for that topic).'),
]

#: The keys the history component gets (see ``router.node_config.component_settings``).
HISTORY_KEYS = ['history', 'history_store', 'history_max_topics']

#: The keys other router components that publish (bridges, the plugin host)
#: get, to send events on history topics through the history component.
HISTORY_PUBLISH_KEYS = ['history']
