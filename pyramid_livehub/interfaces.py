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
