"""MQTT bridge with paho-mqtt (MQTT 5).

Connection: ``livehub.mqtt_hostname`` / ``mqtt_port`` (Moksha's names), plus
``mqtt_client_id``, ``mqtt_keepalive``, ``mqtt_username``/``mqtt_password``
and TLS files (``mqtt_ca_certs``, ``mqtt_certfile``, ``mqtt_keyfile``).

Features: MQTT ``a/b/c`` <-> WAMP ``a.b.c`` (under
``livehub.mqtt_wamp_prefix``), filters with ``+`` and ``#``, QoS
(``livehub.mqtt_qos``), retain flag, QoS, message id, content type and user
properties in ``livehub_broker``; reconnect with backoff (paho's loop, which
starts at ``livehub.initial_retry_delay`` and stops at ``max_retry_delay``
like :class:`~pyramid_livehub._retry.RetryPolicy` but doubles the wait and
adds no jitter: see :meth:`~pyramid_livehub._retry.RetryPolicy.paho_delays`);
durable mode (``livehub.mqtt_durable``): persistent session (clean start
off, a session expiry of a day, a fixed client id) and QoS at least 1, so
messages sent while the bridge was away are delivered when it is back.

MQTT 5 because it carries the origin mark (a user property) and lets the
bridge subscribe with *no local*, so that nothing it publishes comes back.
"""
import threading
import uuid

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from pyramid_livehub.router.bridges.base import BrokerBridge
from pyramid_livehub.router.bridges.payload import BINARY_TYPE, JSON_TYPE, ORIGIN_HEADER
from pyramid_livehub.router.bridges.topics import levels_to_mqtt_topic, mqtt_topic_to_levels, parse_mqtt_pattern

#: Session expiry of the durable mode (seconds the broker keeps our queue).
DURABLE_SESSION_EXPIRY = 24 * 3600


class MqttBridge(BrokerBridge):
    """Bridge between WAMP topics and MQTT topics."""

    name = 'mqtt'
    parse_pattern = staticmethod(parse_mqtt_pattern)

    def broker_to_levels(self, name):
        return mqtt_topic_to_levels(name)

    def levels_to_broker(self, levels):
        return levels_to_mqtt_topic(levels)

    def describe_broker(self):
        scheme = 'mqtts' if self.setting('ca_certs') else 'mqtt'
        return '%s://%s:%s' % (scheme, self.setting('hostname'), self.setting('port'))

    def start_broker(self):
        durable = self.setting('durable')
        self.qos = max(1, self.setting('qos')) if durable else self.setting('qos')
        client_id = self.setting('client_id') or (
            'livehub-%s' % self.settings['realm'] if durable else
            'livehub-%s' % uuid.uuid4().hex[:12])
        self._online = threading.Event()
        self._refused = False  # the broker refused our last CONNECT
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=paho.MQTTv5)
        if self.setting('username'):
            client.username_pw_set(self.setting('username'), self.setting('password') or None)
        if self.setting('ca_certs'):
            client.tls_set(ca_certs=self.setting('ca_certs'),
                           certfile=self.setting('certfile') or None,
                           keyfile=self.setting('keyfile') or None)
        client.max_queued_messages_set(self.settings['bridge_queue_size'])
        # paho reconnects by itself: the nearest equivalent of the policy.
        client.reconnect_delay_set(**self.retry_policy().paho_delays())
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        connect_properties = Properties(PacketTypes.CONNECT)
        if durable:
            connect_properties.SessionExpiryInterval = DURABLE_SESSION_EXPIRY
        self.client = client
        client.connect_async(self.setting('hostname'), self.setting('port'),
                             keepalive=self.setting('keepalive'), clean_start=not durable,
                             properties=connect_properties)
        client.loop_start()
        if self.outbound_patterns:
            self.start_thread(self._publish_forever, 'publisher')

    def stop_broker(self):
        self._online.set()  # release a waiting publisher thread
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()

    # -- paho callbacks (paho's thread) -----------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            hint = ''
            if reason_code.value in (0x86, 0x87, 0x04, 0x05):
                hint = '; check livehub.mqtt_username and livehub.mqtt_password'
            self.connection_failed('MQTT connect', '%s%s' % (reason_code, hint),
                                   self.settings['max_retry_delay'])
            self._refused = True
            return
        self._refused = False
        subscriptions = [(text, SubscribeOptions(qos=self.qos, noLocal=True))
                         for text in self.setting('inbound')]
        if subscriptions:
            client.subscribe(subscriptions)
        self.connected()
        self._online.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._online.clear()
        # A refused CONNECT is followed by a disconnect: keep the refusal (it
        # names the settings to fix) as the last error rather than this echo.
        if not self.stopping.is_set() and not self._refused:
            self.connection_failed('MQTT connection', reason_code,
                                   self.settings['initial_retry_delay'])

    def _on_message(self, client, userdata, message):
        properties = getattr(message, 'properties', None)
        user = dict(getattr(properties, 'UserProperty', None) or [])
        content_type = getattr(properties, 'ContentType', None)
        meta = {'qos': message.qos, 'retain': bool(message.retain), 'dup': bool(message.dup),
                'message_id': message.mid}
        if user:
            meta['headers'] = user
        self.deliver(message.topic, message.payload, meta, content_type,
                     user.get(ORIGIN_HEADER))

    # -- outbound -----------------------------------------------------------

    def _publish_forever(self):
        properties = {}
        for content_type in (JSON_TYPE, BINARY_TYPE):
            props = Properties(PacketTypes.PUBLISH)
            props.UserProperty = (ORIGIN_HEADER, self.origin)
            props.ContentType = content_type
            properties[content_type] = props
        while not self.stopping.is_set():
            if not self._online.wait(0.5):
                continue
            batch = self.outbound.get_batch(500, timeout=0.5)
            for index, message in enumerate(batch):
                info = self.client.publish(message.name, message.body, qos=self.qos,
                                           properties=properties[message.content_type])
                # QoS 1/2: paho keeps the message and sends it after a reconnect.
                kept = self.qos > 0 and info.rc == paho.MQTT_ERR_NO_CONN
                if info.rc != paho.MQTT_ERR_SUCCESS and not kept:
                    self.requeue(batch[index:])
                    self.stopping.wait(0.05)
                    break
                self.mark_sent(message)
