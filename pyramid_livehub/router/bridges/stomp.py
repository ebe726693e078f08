"""STOMP 1.2 bridge with stomp.py (tested with RabbitMQ's STOMP plugin).

Connection: ``livehub.stomp_uri = host:61613`` (comma-separated for
fail-over, Moksha's form), ``stomp_user``, ``stomp_pass``, ``stomp_vhost``.

Features: destinations ``/topic/<routing key>`` (``livehub.stomp_destination_prefix``)
<-> WAMP topics (``/topic/a.b`` <-> ``a.b`` under ``livehub.stomp_wamp_prefix``);
patterns with ``*`` and ``#`` (RabbitMQ topic semantics); STOMP headers,
content type and message id in ``livehub_broker``; heart-beats; reconnect
with backoff.  The origin mark is the ``x-livehub-origin`` header.
"""
import threading

import stomp

from pyramid_livehub.router.bridges.base import BrokerBridge
from pyramid_livehub.router.bridges.payload import ORIGIN_HEADER, jsonable_headers
from pyramid_livehub.router.bridges.topics import levels_to_stomp_destination, stomp_destination_to_levels

#: Seconds to wait for the broker's CONNECTED frame.
CONNECT_TIMEOUT = 10.0
#: Heart-beat interval both ways, in milliseconds.
HEARTBEAT_MS = 10000
#: STOMP headers that describe the frame rather than the message.
_FRAME_HEADERS = {'destination', 'subscription', 'message-id', 'content-length', 'ack',
                  'content-type', ORIGIN_HEADER}


class _Listener(stomp.ConnectionListener):
    """Turns stomp.py's callbacks (its receiver thread) into events and deliveries."""

    def __init__(self, bridge):
        self.bridge = bridge
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.error = None

    def on_connected(self, frame):
        self.connected.set()

    def on_error(self, frame):
        body = frame.body.decode('utf-8', 'replace') if isinstance(frame.body, bytes) else frame.body
        self.error = ': '.join(part.strip() for part in (frame.headers.get('message'), body)
                               if part and part.strip())
        self.bridge.log.warn('livehub bridge stomp: the broker sent an ERROR: {error}',
                             error=self.error)

    def on_disconnected(self):
        self.disconnected.set()

    def on_message(self, frame):
        headers = frame.headers
        meta = {}
        extra = {k: v for k, v in headers.items() if k not in _FRAME_HEADERS}
        if extra:
            meta['headers'] = jsonable_headers(extra)
        if 'message-id' in headers:
            meta['message_id'] = headers['message-id']
        self.bridge.deliver(headers.get('destination', ''), frame.body, meta,
                            headers.get('content-type'), headers.get(ORIGIN_HEADER))


class StompBridge(BrokerBridge):
    """Bridge between WAMP topics and STOMP destinations."""

    name = 'stomp'

    def broker_to_levels(self, name):
        return stomp_destination_to_levels(name, self.setting('destination_prefix'))

    def levels_to_broker(self, levels):
        return levels_to_stomp_destination(levels, self.setting('destination_prefix'))

    def describe_broker(self):
        return 'stomp://%s' % ','.join('%s:%s' % tuple(hp) for hp in self.setting('uri'))

    def start_broker(self):
        self.connection = None
        self._online = threading.Event()
        self._listener = None
        self.start_thread(self._connect_forever, 'connection')
        if self.outbound_patterns:
            self.start_thread(self._publish_forever, 'publisher')

    def stop_broker(self):
        self._online.set()
        if self._listener is not None:
            self._listener.disconnected.set()

    def _connect(self):
        connection = stomp.Connection12(
            [tuple(hp) for hp in self.setting('uri')], heartbeats=(HEARTBEAT_MS, HEARTBEAT_MS),
            vhost=self.setting('vhost'), auto_decode=False, reconnect_attempts_max=1,
            timeout=5)
        listener = _Listener(self)
        connection.set_listener('livehub', listener)
        connection.connect(self.setting('user') or None, self.setting('pass') or None, wait=False)
        if not listener.connected.wait(CONNECT_TIMEOUT):
            reason = listener.error or 'no CONNECTED frame within %ss' % CONNECT_TIMEOUT
            if any(word in reason.lower() for word in ('login', 'access', 'refused', 'password')):
                reason += '; check livehub.stomp_user and livehub.stomp_pass'
            self._disconnect(connection)
            raise ConnectionError(reason)
        prefix = self.setting('destination_prefix')
        for index, pattern in enumerate(self.setting('inbound')):
            connection.subscribe(prefix + pattern, id=str(index), ack='auto')
        return connection, listener

    def _disconnect(self, connection):
        try:
            connection.disconnect()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass

    def _connect_forever(self):
        delays = self.retry_policy()
        while not self.stopping.is_set():
            try:
                connection, listener = self._connect()
            except Exception as exc:  # noqa: BLE001 - log, back off, retry
                delay = delays.next()
                self.connection_failed('STOMP connect', exc, delay)
                self.stopping.wait(delay)
                continue
            self.connection, self._listener = connection, listener
            self.connected()
            delays.reset()
            self._online.set()
            listener.disconnected.wait()
            self._online.clear()
            self.connection = None
            self._disconnect(connection)
            if not self.stopping.is_set():
                delay = delays.next()
                self.connection_failed('STOMP connection', 'lost', delay)
                self.stopping.wait(delay)

    def _publish_forever(self):
        headers = {ORIGIN_HEADER: self.origin}
        while not self.stopping.is_set():
            if not self._online.wait(0.5):
                continue
            connection = self.connection
            if connection is None:
                continue
            batch = self.outbound.get_batch(500, timeout=0.5)
            for index, message in enumerate(batch):
                try:
                    connection.send(message.name, message.body,
                                    content_type=message.content_type, headers=headers)
                except Exception:  # noqa: BLE001 - connection lost: keep the rest
                    self.requeue(batch[index:])
                    self.stopping.wait(0.1)
                    break
                self.mark_sent(message)
