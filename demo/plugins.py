"""The demo's consumer and producer, run inside the bundled router.

Enabled in the demo's settings::

    livehub.producers = demo.plugins:ClockProducer
    livehub.consumers = demo.plugins:MessageCounter
"""
import datetime

from pyramid_livehub.plugins import Consumer, PollingProducer


class ClockProducer(PollingProducer):
    """Publishes the server's time on ``demo.clock.tick`` every second.

    Ready to show: ``time`` is ``HH:MM:SS``, ``date`` is ``YYYY-MM-DD``,
    ``zone`` the server's time zone name, ``iso`` the full timestamp.
    """

    topic = 'demo.clock.tick'
    frequency = 1

    def poll(self):
        now = datetime.datetime.now().astimezone()
        return {'time': now.strftime('%H:%M:%S'), 'date': now.strftime('%Y-%m-%d'),
                'zone': now.tzname() or '', 'iso': now.isoformat(timespec='seconds')}


class MessageCounter(Consumer):
    """Counts the chat messages (``demo.messages.<room>``) and publishes the total."""

    topic = 'demo.messages.*'

    def __init__(self, hub):
        super().__init__(hub)
        self.count = 0

    def consume(self, message):
        self.count += 1
        self.publish('demo.stats.messages', {'count': self.count})
