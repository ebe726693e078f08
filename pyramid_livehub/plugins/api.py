"""The public plugin API: :class:`Consumer`, :class:`PollingProducer`, :class:`Message`.

Consumers and producers are run inside the router by
:mod:`pyramid_livehub.router.plugins`; see :mod:`pyramid_livehub.plugins` for a tour.
"""
import datetime
import logging
import numbers
from typing import Any, ClassVar, Iterable, Mapping

from pyramid_livehub._uri import topic_error
from pyramid_livehub.patterns import ONE, parse_pattern, subscription_matches

CONSUMER_GROUP = 'pyramid_livehub.consumer'
PRODUCER_GROUP = 'pyramid_livehub.producer'


class Message:
    """One event delivered to :meth:`Consumer.consume`.

    ``topic`` is the event's actual topic (useful with patterns); ``args``
    and ``kwargs`` are its payload.  ``body`` is what
    ``request.livehub.publish(topic, payload)`` sent: the first positional
    argument, or the keyword arguments when there is none.  ``position`` is
    the event's stream position ``{"epoch", "offset"[, "msgid"]}`` on a topic
    that keeps history (``livehub.history``), else None; it is not part of
    ``kwargs`` or ``body``.
    """

    __slots__ = ('topic', 'args', 'kwargs', 'position')

    def __init__(self, topic: str, args: Iterable[Any] | None = (),
                 kwargs: Mapping[str, Any] | None = None,
                 position: Mapping[str, Any] | None = None) -> None:
        self.topic = topic
        self.args = list(args or ())
        self.kwargs = dict(kwargs or {})
        self.position = dict(position) if position is not None else None

    @property
    def body(self) -> Any:
        """The first positional argument, else the keyword arguments."""
        return self.args[0] if self.args else self.kwargs

    def __repr__(self) -> str:
        if self.position is None:
            return 'Message(%r, %r, %r)' % (self.topic, self.args, self.kwargs)
        return 'Message(%r, %r, %r, position=%r)' % (self.topic, self.args, self.kwargs,
                                                     self.position)


class Plugin:
    """What consumers and producers share: settings, a logger and ``publish()``.

    The router creates the instance with its ``hub`` (which has ``settings``
    and ``publish``) and calls :meth:`stop` when it shuts down.  Override ``__init__`` only to
    add set-up; call ``super().__init__(hub)`` first.
    """

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        #: The parsed ``livehub.*`` settings of the router.
        self.settings: Any = hub.settings
        #: A standard logger named after the class.
        self.log = logging.getLogger('%s.%s' % (type(self).__module__, type(self).__qualname__))

    def publish(self, topic: str, *args: Any, **kwargs: Any) -> None:
        """Publish a WAMP event from this plugin (any thread).

        Raises ``ValueError``/``TypeError`` for a bad topic or payload, like
        ``request.livehub.publish``.  The other plugins' consumers receive
        it too; this plugin never receives its own events (no feedback loops).
        """
        self.hub.publish(topic, args, kwargs)

    def stop(self) -> None:
        """Called once when the router stops; release what you hold."""


class Consumer(Plugin):
    """Base class of a consumer: set ``topic`` and implement ``consume``.

    ``topic``: a pattern or a list of patterns (see the module docs).
    ``backlog``: how many messages may wait while ``consume`` is busy
    (default ``livehub.consumer_backlog``).
    """

    topic: ClassVar[str | list[str] | None] = None
    backlog: ClassVar[int | None] = None

    def consume(self, message: Message) -> None:
        """Handle one :class:`Message`.  Runs in this consumer's own thread."""
        raise NotImplementedError('%s must implement consume(self, message)' % type(self).__name__)


class PollingProducer(Plugin):
    """Base class of a producer: set ``frequency`` (and ``topic``), implement ``poll``.

    ``poll()`` is called every ``frequency`` seconds (a number or a
    ``timedelta``) in the producer's own thread; a non-``None`` return value
    is published on ``topic`` as the event's one positional argument.
    ``poll()`` may also call ``self.publish(...)`` itself and return None.
    """

    topic: ClassVar[str | None] = None
    frequency: ClassVar[float | datetime.timedelta | None] = None

    def poll(self) -> Any:
        """Return what to publish on ``topic`` now, or None."""
        raise NotImplementedError('%s must implement poll(self)' % type(self).__name__)


# -- topic patterns (the language of pyramid_livehub.patterns) ----------------------

def subscription_for(pattern: str) -> tuple[str, str]:
    """``(uri, match)`` of the WAMP subscription for a consumer topic pattern.

    ``*`` is one component, ``**`` (last) one or more; see
    :mod:`pyramid_livehub.patterns`.

    >>> subscription_for('app.*.created')
    ('app..created', 'wildcard')
    >>> subscription_for('app.orders.**')
    ('app.orders.', 'prefix')
    """
    if not isinstance(pattern, str) or not pattern:
        raise ValueError('a consumer topic is a non-empty str, got %r' % (pattern,))
    # WAMP's own wildcard spelling: an empty component is "*"
    spelled = '.'.join(part or ONE for part in pattern.split('.'))
    uri, match = parse_pattern(spelled).subscription()
    reason = topic_error(uri.rstrip('.') if match == 'prefix' else uri,
                         allow_empty_components=(match == 'wildcard'))
    if reason:
        raise ValueError('%r is not a valid consumer topic: %s' % (pattern, reason))
    return uri, match


def topic_matches(uri: str, match: str, topic: str) -> bool:
    """True if ``topic`` matches the WAMP subscription ``(uri, match)``, as the router decides."""
    return subscription_matches(uri, match, topic)


def consumer_topics(consumer_class: type[Consumer]) -> list[str]:
    """The list of topic patterns of a consumer class."""
    topic = consumer_class.topic
    return [topic] if isinstance(topic, str) else list(topic or ())


def frequency_seconds(producer_class: type[PollingProducer]) -> float:
    """A producer's ``frequency`` in seconds (float > 0)."""
    frequency = producer_class.frequency
    if isinstance(frequency, datetime.timedelta):
        frequency = frequency.total_seconds()
    if isinstance(frequency, bool) or not isinstance(frequency, numbers.Real) or frequency <= 0:
        raise ValueError('%s.frequency must be a number of seconds > 0 or a timedelta, got %r'
                         % (producer_class.__name__, producer_class.frequency))
    return float(frequency)
