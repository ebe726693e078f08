"""Zope interfaces under which pyramid_livehub registers its utilities.

The registry looks utilities up by these interfaces; type hints use
:class:`PublisherLike`, the static twin of :class:`IPublisher` (mypy cannot
read zope interfaces).
"""
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence

from zope.interface import Attribute, Interface

if TYPE_CHECKING:  # pragma: no cover - only for the type checker
    from pyramid_livehub.publisher import PublisherStats
    from pyramid_livehub.settings import LivehubSettings


class IPublisher(Interface):
    """The process-wide publisher (:class:`pyramid_livehub.publisher.Publisher`)."""

    settings = Attribute('Parsed livehub settings')

    def publish(topic, *args, **kwargs):
        """Queue a WAMP event."""

    def enqueue(topic, args, kwargs, block=True):
        """Queue an already checked event; ``block=False``: never wait for room (requests)."""

    def flush(timeout):
        """Wait until queued events reached the router."""


class PublisherLike(Protocol):
    """What the code expects of a publisher (the :class:`IPublisher` utility), for type hints.

    :class:`pyramid_livehub.publisher.Publisher` and
    :class:`pyramid_livehub.testing.RecordingPublisher` both fit.
    """

    settings: 'LivehubSettings'
    stats: 'PublisherStats'

    @property
    def connected(self) -> bool:
        """True while a session to the router is joined."""

    def publish(self, topic: str, *args: Any, **kwargs: Any) -> None:
        """Check and queue a WAMP event."""

    def enqueue(self, topic: str, args: Sequence[Any], kwargs: Mapping[str, Any],
                block: bool = True) -> None:
        """Queue an already checked event; ``block=False``: never wait for room (requests)."""

    def flush(self, timeout: float = ...) -> bool:
        """Wait until queued events reached the router; False on timeout."""

    def connect(self, timeout: float = ...) -> bool:
        """Start the session if needed; return whether it is connected."""

    def pending(self) -> int:
        """How many events wait to be sent."""

    def close(self, timeout: float | None = ...) -> None:
        """Send what is queued (up to ``timeout``) and stop."""

    def history(self, topic: str, limit: int | None = ..., since: int | None = ...,
                timeout: float = ...) -> dict[str, Any]:
        """Events the router keeps for a history-enabled topic."""

    def position(self, topic: str, timeout: float = ...) -> dict[str, Any]:
        """The topic's current ``{"epoch", "offset"}``."""


class ILivehubSettings(Interface):
    """The parsed ``livehub.*`` settings (:class:`pyramid_livehub.settings.LivehubSettings`).

    Registered once, by ``includeme``'s deferred action; read it with
    ``registry.getUtility(ILivehubSettings)`` instead of parsing again.
    """


class IPublisherFactory(Interface):
    """``factory(settings) -> publisher``: what ``includeme`` builds the :class:`IPublisher` with.

    Default :class:`pyramid_livehub.publisher.Publisher`;
    ``pyramid_livehub.testing`` registers its recording publisher instead.
    """

    def __call__(settings):
        """Return a publisher for the parsed settings."""


class IClientConfigContributors(Interface):
    """The list of ``contribute(request, settings) -> dict`` merged into ``config.json``.

    Added to with ``config.add_livehub_client_config(contribute)``.
    """


class ILiveModels(Interface):
    """The list of :class:`pyramid_livehub.models.LiveModel` of this app (``add_livehub_model``)."""


class IMetricsRegistry(Interface):
    """The app's own ``prometheus_client.CollectorRegistry`` served at ``<route_prefix>/metrics``.

    Registered by ``includeme`` when ``livehub.metrics`` is on
    (:func:`pyramid_livehub.metrics.make_registry`).
    """
