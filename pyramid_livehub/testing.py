"""Test your own app without a router: ``config.include('pyramid_livehub.testing')``.

Like ``pyramid_mailer.testing``: the publisher is replaced by a
:class:`RecordingPublisher` whose ``outbox`` lists every event that would
have been published (after the transaction, when there is one)::

    config.include('pyramid_livehub.testing')
    ...
    outbox = get_publisher(request.registry).outbox
    assert outbox[0].topic == 'app.orders.created'
"""
import collections

from .codec import prepare_event
from .publisher import PublisherStats
from .settings import LivehubSettings, parse_settings

RecordedEvent = collections.namedtuple('RecordedEvent', 'topic args kwargs')


class RecordingPublisher:
    """A publisher that records events in ``outbox`` instead of sending them."""

    def __init__(self, settings):
        if not isinstance(settings, LivehubSettings):
            settings = parse_settings(settings)
        self.settings = settings
        self.outbox = []
        self.stats = PublisherStats()

    def publish(self, topic, *args, **kwargs):
        """Check and record, like ``Publisher.publish``."""
        args, kwargs = prepare_event(topic, args, kwargs)
        self.enqueue(topic, args, kwargs)

    def enqueue(self, topic, args, kwargs):
        """Record an already checked event."""
        self.outbox.append(RecordedEvent(topic, list(args), dict(kwargs)))
        self.stats.queued += 1
        self.stats.sent += 1

    def flush(self, timeout=0):
        """Nothing to wait for."""
        return True

    def close(self, timeout=None):
        """Nothing to close."""

    connected = True


def includeme(config):
    """Include pyramid_livehub with the recording publisher."""
    config.include('pyramid_livehub')
    config.registry.livehub_publisher_factory = RecordingPublisher
