"""ZeroMQ bridge with pyzmq (PUB/SUB, as Moksha's 0mq hub).

Connection: ``livehub.zmq_publish_endpoints`` (the PUB socket binds there,
e.g. ``tcp://*:6543``) and ``livehub.zmq_subscribe_endpoints`` (the SUB
socket connects there) - Moksha's names.

Messages are two frames, ``[topic, payload]``: the topic is the dotted name
(``sensors.t1`` <-> WAMP ``sensors.t1`` under ``livehub.zmq_wamp_prefix``),
the payload is the body.  Patterns use ``*`` and ``#`` like AMQP: the SUB
socket subscribes to each pattern's literal head and the bridge filters the
rest.  Frames carry no origin mark, so never subscribe a bridge to its own
publish endpoint.  ZeroMQ reconnects by itself; the socket high-water marks
are ``livehub.bridge_queue_size``.
"""
import zmq

from pyramid_livehub._queue import should_log
from pyramid_livehub.router.bridges.base import BrokerBridge
from pyramid_livehub.router.bridges.settings import check_bridge_settings, endpoint_port
from pyramid_livehub.router.bridges.topics import literal_head, levels_to_routing_key, routing_key_to_levels

#: Milliseconds a socket poll waits before checking whether to stop.
POLL_MS = 500


class ZmqBridge(BrokerBridge):
    """Bridge between WAMP topics and ZeroMQ PUB/SUB sockets."""

    name = 'zmq'

    def broker_to_levels(self, name):
        return routing_key_to_levels(name)

    def levels_to_broker(self, levels):
        return levels_to_routing_key(levels)

    def describe_broker(self):
        return 'zmq publish %s, subscribe %s' % (
            ' '.join(self.setting('publish_endpoints')) or 'none',
            ' '.join(self.setting('subscribe_endpoints')) or 'none')

    def start_broker(self):
        check_bridge_settings(self.settings)
        own = {endpoint_port(e) for e in self.setting('publish_endpoints')} - {None}
        for endpoint in self.setting('subscribe_endpoints'):
            if endpoint_port(endpoint) in own:
                self.log.warn('livehub bridge zmq: {endpoint} looks like the bridge\'s own publish '
                              'endpoint; what it sends will come back into WAMP (ZeroMQ frames '
                              'carry no origin mark)', endpoint=endpoint)
        self.context = zmq.Context.instance()
        if self.setting('subscribe_endpoints') and self.inbound_patterns:
            self.start_thread(self._receive_forever, 'subscriber')
        if self.setting('publish_endpoints') and self.outbound_patterns:
            # Bind here, in the reactor thread, so that a bad endpoint fails the start
            # loudly; the socket is then used only by the publisher thread.
            pub = self.context.socket(zmq.PUB)
            pub.setsockopt(zmq.SNDHWM, self.settings['bridge_queue_size'])
            pub.setsockopt(zmq.LINGER, 0)
            for endpoint in self.setting('publish_endpoints'):
                pub.bind(endpoint)
            self.start_thread(lambda: self._publish_forever(pub), 'publisher')
        self.connected()

    def _receive_forever(self):
        sub = self.context.socket(zmq.SUB)
        sub.setsockopt(zmq.RCVHWM, self.settings['bridge_queue_size'])
        sub.setsockopt(zmq.LINGER, 0)
        for pattern in self.inbound_patterns:
            sub.setsockopt(zmq.SUBSCRIBE, '.'.join(literal_head(pattern)).encode('utf-8'))
        for endpoint in self.setting('subscribe_endpoints'):
            sub.connect(endpoint)
        try:
            while not self.stopping.is_set():
                if not sub.poll(POLL_MS):
                    continue
                while True:
                    try:
                        frames = sub.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._on_frames(frames)
        finally:
            sub.close()

    def _on_frames(self, frames):
        if len(frames) != 2:
            self.stats.received += 1
            self.stats.errors += 1
            self.stats.last_error = 'a message with %d frames (expected [topic, payload])' % len(frames)
            if should_log(self.stats.errors):
                self.log.warn('livehub bridge zmq: {error}; dropped ({n} errors so far)',
                              error=self.stats.last_error, n=self.stats.errors)
            return
        try:
            topic = frames[0].decode('utf-8')
        except UnicodeDecodeError:
            self.stats.received += 1
            self.refuse('inbound', frames[0], 'the topic frame is not UTF-8')
            return
        self.deliver(topic, frames[1], {}, check_patterns=True)

    def _publish_forever(self, pub):
        try:
            while not self.stopping.is_set():
                for message in self.outbound.get_batch(500, timeout=0.5):
                    pub.send_multipart([message.name.encode('utf-8'), message.body])
                    self.mark_sent(message)
        finally:
            pub.close()
