"""Zope interfaces under which pyramid_livehub registers its utilities."""
from zope.interface import Attribute, Interface


class IPublisher(Interface):
    """The process-wide publisher (:class:`pyramid_livehub.publisher.Publisher`)."""

    settings = Attribute('Parsed livehub settings')

    def publish(topic, *args, **kwargs):
        """Queue a WAMP event."""

    def enqueue(topic, args, kwargs):
        """Queue an already checked event."""

    def flush(timeout):
        """Wait until queued events reached the router."""


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
