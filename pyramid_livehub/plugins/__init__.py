"""Consumers and producers: your code, run inside the bundled router.

A **consumer** reacts to events::

    from pyramid_livehub.plugins import Consumer

    class AuditTrail(Consumer):
        topic = 'app.orders.*'              # str or list; '*' is one component

        def consume(self, message):
            self.log.info('%s: %r', message.topic, message.body)
            self.publish('app.audit.seen', {'topic': message.topic})

A **producer** publishes what ``poll()`` returns every ``frequency``::

    from pyramid_livehub.plugins import PollingProducer

    class QueueDepth(PollingProducer):
        topic = 'app.queue.depth'
        frequency = 5                        # seconds, or a timedelta

        def poll(self):
            return {'depth': count_jobs()}   # None publishes nothing

The router (``livehub router``) loads them from the
``pyramid_livehub.consumer`` and ``pyramid_livehub.producer`` entry points of
installed packages (unless ``livehub.plugin_entry_points = false``) and from
``livehub.consumers`` / ``livehub.producers`` (``package.module:Class``
names).  Each consumer and each producer runs in a thread of its own, so a
slow or blocking one delays only itself: a consumer's waiting messages are
bounded (``backlog``, default ``livehub.consumer_backlog``; the oldest is
dropped and counted when full), and an exception in ``consume()`` or
``poll()`` is logged and counted while the plugin keeps running.

Topic patterns: ``app.orders.created`` (exact), ``app.*.created`` or WAMP's
own ``app..created`` (``*`` is exactly one component), ``app.orders.**``
(everything under ``app.orders.``, any depth).
"""
from pyramid_livehub.plugins.api import (CONSUMER_GROUP, PRODUCER_GROUP, Consumer, Message, Plugin,
                                         PollingProducer, consumer_topics, frequency_seconds,
                                         subscription_for, topic_matches)
from pyramid_livehub.plugins.discovery import (PluginSpec, describe_plugins, discover_plugins,
                                               load_plugin_class, plugin_sources)
from pyramid_livehub.plugins.stats import STATS_PROCEDURE, fetch_plugin_stats

__all__ = ['CONSUMER_GROUP', 'PRODUCER_GROUP', 'Consumer', 'Message', 'Plugin', 'PollingProducer',
           'PluginSpec', 'STATS_PROCEDURE', 'consumer_topics', 'describe_plugins', 'discover_plugins',
           'fetch_plugin_stats', 'frequency_seconds', 'load_plugin_class', 'plugin_sources',
           'subscription_for', 'topic_matches']
