"""AMQP 0-9-1 bridge (RabbitMQ) with pika.

Connection string: ``livehub.amqp_broker = amqp://user:pass@host:5672/%%2F`` (``%%`` in an .ini)
(pika URL parameters allowed, ``amqps://`` for TLS).

Features: routing keys on a topic exchange (``livehub.amqp_exchange``,
default ``amq.topic`` as in Moksha) <-> WAMP topics (``a.b.c`` <-> ``a.b.c``
under ``livehub.amqp_wamp_prefix``); binding keys with ``*`` and ``#``;
content type, headers, message id and exchange in ``livehub_broker``;
reconnect with backoff; durable mode (``livehub.amqp_durable``): a durable
queue, persistent messages and acknowledgements, so that messages sent while
the bridge was away are delivered when it is back.

Two pika connections, each owned by one thread: one consumes (inbound), one
publishes (outbound), because a pika connection is not thread-safe.
"""
import socket
from urllib.parse import urlsplit

import pika
import pika.exceptions

from pyramid_livehub.router.bridges.base import BrokerBridge
from pyramid_livehub.router.bridges.payload import ORIGIN_HEADER, jsonable_headers
from pyramid_livehub.router.bridges.topics import levels_to_routing_key, routing_key_to_levels

#: Unacknowledged messages the broker may push before we ack (durable mode).
PREFETCH = 1000


def describe_error(exc, url):
    """A log message for a pika failure that names the fix."""
    parts = urlsplit(url)
    where = '%s:%s' % (parts.hostname, parts.port or 5672)
    if isinstance(exc, pika.exceptions.ProbableAuthenticationError) or \
            'ACCESS_REFUSED' in str(exc):
        return ('the AMQP broker at %s refused the login of user %r (wrong user name or '
                'password?); check livehub.amqp_broker' % (where, parts.username or 'guest'))
    if isinstance(exc, pika.exceptions.ProbableAccessDeniedError):
        return ('the AMQP broker at %s denied access to virtual host %r; check the vhost in '
                'livehub.amqp_broker' % (where, parts.path))
    return '%s: %s' % (type(exc).__name__, exc or 'connection lost')


class AmqpBridge(BrokerBridge):
    """Bridge between WAMP topics and an AMQP topic exchange."""

    name = 'amqp'

    def broker_to_levels(self, name):
        return routing_key_to_levels(name)

    def levels_to_broker(self, levels):
        return levels_to_routing_key(levels)

    def describe_broker(self):
        parts = urlsplit(self.settings['amqp_broker'])
        return 'amqp://%s:%s%s exchange %s' % (parts.hostname, parts.port or 5672,
                                               parts.path or '/', self.setting('exchange'))

    def start_broker(self):
        self.url = self.settings['amqp_broker']
        self.exchange = self.setting('exchange')
        self.durable = self.setting('durable')
        self.queue_name = self.setting('queue') or 'livehub.%s.bridge' % self.settings['realm']
        self._connections = []
        if self.inbound_patterns:
            self.start_thread(self._consume_forever, 'consumer')
        if self.outbound_patterns:
            self.start_thread(self._publish_forever, 'publisher')

    def stop_broker(self):
        for connection in list(self._connections):
            try:
                connection.add_callback_threadsafe(lambda: None)  # wake process_data_events
            except Exception:  # noqa: BLE001 - already closed
                pass

    def _connect(self):
        params = pika.URLParameters(self.url)
        params.connection_attempts = 1
        params.socket_timeout = 5
        params.blocked_connection_timeout = 30
        params.client_properties = {'connection_name': 'livehub bridge %s' % socket.gethostname()}
        connection = pika.BlockingConnection(params)
        self._connections.append(connection)
        return connection

    def _close(self, connection):
        if connection is None:
            return
        if connection in self._connections:
            self._connections.remove(connection)
        try:
            if connection.is_open:
                connection.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass

    # -- inbound ------------------------------------------------------------

    def _consume_forever(self):
        delays = self.retry_policy()
        while not self.stopping.is_set():
            connection = None
            try:
                connection = self._connect()
                channel = connection.channel()
                if self.durable:
                    channel.basic_qos(prefetch_count=PREFETCH)
                    queue = channel.queue_declare(self.queue_name, durable=True).method.queue
                else:
                    queue = channel.queue_declare('', exclusive=True,
                                                  auto_delete=True).method.queue
                for pattern in self.setting('inbound'):
                    channel.queue_bind(queue, self.exchange, routing_key=pattern)
                channel.basic_consume(queue, self._on_message, auto_ack=not self.durable)
                self.connected()
                delays.reset()
                while not self.stopping.is_set():
                    connection.process_data_events(time_limit=0.5)
            except Exception as exc:  # noqa: BLE001 - any failure: log, back off, reconnect
                if self.stopping.is_set():
                    break
                delay = delays.next()
                self.connection_failed('AMQP consumer', describe_error(exc, self.url), delay)
                self._close(connection)
                self.stopping.wait(delay)
                continue
        self._close(connection)

    def _on_message(self, channel, method, properties, body):
        headers = properties.headers or {}
        origin = headers.get(ORIGIN_HEADER)
        if isinstance(origin, bytes):
            origin = origin.decode('utf-8', 'replace')
        meta = {'exchange': method.exchange, 'redelivered': method.redelivered}
        if headers:
            meta['headers'] = jsonable_headers(headers)
        if properties.message_id:
            meta['message_id'] = properties.message_id
        self.deliver(method.routing_key, body, meta, properties.content_type, origin)
        if self.durable:
            channel.basic_ack(method.delivery_tag)

    # -- outbound -----------------------------------------------------------

    def _publish_forever(self):
        delays = self.retry_policy()
        headers = {ORIGIN_HEADER: self.origin}
        mode = pika.DeliveryMode.Persistent if self.durable else pika.DeliveryMode.Transient
        properties = {
            content_type: pika.BasicProperties(content_type=content_type, headers=headers,
                                               delivery_mode=mode)
            for content_type in ('application/json', 'application/octet-stream')
        }
        while not self.stopping.is_set():
            connection = None
            batch, done = [], 0
            try:
                connection = self._connect()
                channel = connection.channel()
                if self.durable:
                    channel.confirm_delivery()
                self.connected()
                delays.reset()
                while not self.stopping.is_set():
                    batch = self.outbound.get_batch(500, timeout=0.5)
                    if not batch:
                        connection.process_data_events(time_limit=0)
                        continue
                    for message in batch:
                        channel.basic_publish(self.exchange, message.name, message.body,
                                              properties[message.content_type])
                        self.mark_sent(message)
                        done += 1
                    batch, done = [], 0
            except Exception as exc:  # noqa: BLE001 - any failure: keep the unsent, reconnect
                self.requeue(batch[done:])
                if self.stopping.is_set():
                    break
                delay = delays.next()
                self.connection_failed('AMQP publisher', describe_error(exc, self.url), delay)
                self._close(connection)
                self.stopping.wait(delay)
                continue
        self._close(connection)
