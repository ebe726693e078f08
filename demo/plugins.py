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
    frequency = 1                      # seconds or a timedelta

    def poll(self):                    # returning None publishes nothing
        now = datetime.datetime.now().astimezone()
        return {'time': now.strftime('%H:%M:%S'), 'date': now.strftime('%Y-%m-%d'),
                'zone': now.tzname() or '', 'iso': now.isoformat(timespec='seconds')}


class MessageCounter(Consumer):
    """Counts the chat messages (``demo.messages.<room>``) and publishes the total."""

    topic = 'demo.messages.*'          # a str or a list of topic patterns

    def __init__(self, hub):
        super().__init__(hub)
        self.count = 0

    def consume(self, message):        # message.topic, .args, .kwargs, .body
        self.count += 1
        self.publish('demo.stats.messages', {'count': self.count})
