"""Running consumers and producers inside the router (Moksha's hub).

:func:`plugin_components` adds one ``PluginHost`` to the router's
container worker when any consumer or producer is configured (settings or
entry points).  The host joins as the backend identity, loads the plugins
with :func:`pyramid_livehub.plugins.discover_plugins` in the router's own
Python, subscribes each consumer to its topics and starts each producer.

Every consumer and producer gets a thread of its own, so a slow or blocking
one never stalls the router or the other plugins.  A consumer's waiting
messages are bounded (its ``backlog``): when full, the oldest is dropped and
counted.  Exceptions are logged and counted; the plugin keeps running.  The
counters are served by the WAMP procedure ``livehub.plugins.stats``.

This module has no Twisted imports (the app renders the node config with it);
the component itself is :class:`pyramid_livehub.router.plugins.host.PluginHost`.
"""
import os
import threading
import time
import traceback

from pyramid_livehub._queue import BoundedQueue, should_log
from pyramid_livehub.plugins import consumer_topics, frequency_seconds, plugin_sources, subscription_for, \
    topic_matches


def plugin_components(settings):
    """The plugin host, if any consumer or producer is configured (no plugin is imported here)."""
    if not plugin_sources(settings):
        return []
    # Plugin modules resolve as they would for ``python -m`` in the directory the
    # router was started from (crossbar itself runs in its own cbdir).
    return [{'classname': 'pyramid_livehub.router.plugins.host.PluginHost', 'id': 'plugins',
             'extra': {'python_path': [os.getcwd()]}}]


class _Runner:
    """A plugin's thread and its counters."""

    def __init__(self, host, name, plugin):
        self.host = host
        self.name = name
        self.plugin = plugin
        self.failed = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name='livehub-%s' % name, daemon=True)

    def start(self):
        """Start the plugin's thread."""
        self.thread.start()

    def _run(self):
        try:
            self.loop()
        finally:
            try:
                self.plugin.stop()
            except Exception:  # noqa: BLE001 - shutting down anyway
                self.host.log.error('livehub plugin {name}: stop() raised:\n{tb}',
                                    name=self.name, tb=traceback.format_exc())

    def failure(self, what):
        self.failed += 1
        if should_log(self.failed):
            self.host.log.error('livehub plugin {name}: {what} raised (failure {count}); it keeps '
                                'running:\n{tb}', name=self.name, what=what, count=self.failed,
                                tb=traceback.format_exc())


class ConsumerRunner(_Runner):
    """Feeds one consumer from a bounded backlog in its own thread."""

    def __init__(self, host, name, consumer, backlog):
        super().__init__(host, name, consumer)
        self.backlog = backlog
        #: messages waiting for the consumer's thread; the oldest is dropped when full
        self.waiting = BoundedQueue(backlog, name='livehub plugin %s: backlog' % name,
                                    logger=host.log)
        self.received = self.consumed = 0
        self.subscriptions = [subscription_for(p) for p in consumer_topics(type(consumer))]
        #: the router delivers a publication once per matching subscription; take it once
        self.last_publication = None

    @property
    def dropped(self):
        """Messages lost to the full backlog."""
        return self.waiting.dropped

    def matches(self, topic):
        """True if one of the consumer's patterns matches ``topic``."""
        return any(topic_matches(uri, match, topic) for uri, match in self.subscriptions)

    def offer(self, message):
        """Queue a message (router thread); drop the oldest waiting one when full."""
        self.received += 1
        self.waiting.put(message)

    def loop(self):
        """Consume waiting messages until stopped (the consumer's thread)."""
        while True:
            batch = self.waiting.get_batch(1, timeout=None)
            if not batch:  # stopped
                return
            message = batch[0]
            try:
                self.plugin.consume(message)
                self.consumed += 1
            except Exception:  # noqa: BLE001 - one bad message must not stop the consumer
                self.failure('consume(%s)' % message.topic)

    def stop(self):
        """Ask the thread to finish; messages still waiting are not consumed."""
        self.stopping.set()
        self.waiting.close()

    def stats(self):
        """The consumer's counters."""
        return {'kind': 'consumer', 'topics': consumer_topics(type(self.plugin)),
                'received': self.received, 'consumed': self.consumed, 'failed': self.failed,
                'dropped': self.dropped, 'waiting': len(self.waiting), 'backlog': self.backlog}


class ProducerRunner(_Runner):
    """Calls one producer's ``poll()`` every ``frequency`` seconds in its own thread."""

    def __init__(self, host, name, producer):
        super().__init__(host, name, producer)
        self.period = frequency_seconds(type(producer))
        self.polls = self.published = self.overruns = 0

    def loop(self):
        """Poll every period until stopped (the producer's thread)."""
        # Deadlines advance from the start time, so the rate does not drift.
        deadline = time.monotonic()
        while not self.stopping.is_set():
            self.poll_once()
            deadline += self.period
            now = time.monotonic()
            if deadline <= now:  # poll() took longer than the period: skip the missed ticks
                missed = int((now - deadline) // self.period) + 1
                self.overruns += missed
                deadline += missed * self.period
            self.stopping.wait(deadline - now)

    def poll_once(self):
        """Call ``poll()`` once and publish its result; failures are counted."""
        self.polls += 1
        try:
            result = self.plugin.poll()
            if result is None:
                return
            topic = type(self.plugin).topic
            if topic is None:
                raise ValueError('poll() returned a value but %s has no topic; set topic = '
                                 '"app.something" or publish with self.publish() and return '
                                 'None' % type(self.plugin).__name__)
            self.plugin.hub.publish(topic, [result], {})
            self.published += 1
        except Exception:  # noqa: BLE001 - the next poll may well work
            self.failure('poll()')

    def stop(self):
        """Ask the thread to finish after the current ``poll()``."""
        self.stopping.set()

    def stats(self):
        """The producer's counters."""
        return {'kind': 'producer', 'topic': type(self.plugin).topic, 'frequency': self.period,
                'polls': self.polls, 'published': self.published, 'failed': self.failed,
                'overruns': self.overruns}
