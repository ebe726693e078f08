"""Faults through real parts: a broker restarted, a connection cut, a wrong password, a stuck client.

The shared brokers are never stopped: RabbitMQ is restarted as a private
node (:class:`tests.support.rabbitmq.PrivateRabbitMQ`), Mosquitto runs as a
private instance, STOMP is cut with a TCP proxy.  Every wait polls for its
condition with a generous deadline.
"""
import json
import queue
import threading
import time
import uuid

import paho.mqtt.client as paho
import pika
import pytest
import stomp

from pyramid_livehub._session import BackgroundSession
from pyramid_livehub.publisher import Publisher
from pyramid_livehub.router.process import RouterProcess
from pyramid_livehub.settings import parse_settings
from pyramid_livehub.subscriber import Subscriber
from tests.support import wait_for
from tests.support.bridges import Mosquitto, start_bridged_router, wait_for_log, wamp_call
from tests.support.rabbitmq import PrivateRabbitMQ
from tests.support.services import router_settings
from tests.support.tcpproxy import TcpProxy

RUN = uuid.uuid4().hex[:8]


def send_until_received(send, receive, timeout=30):
    """Send probes until one comes through (a bridge subscribes again after it reconnects)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        send()
        if receive(0.5):
            return
    raise AssertionError('no probe came through within %ss' % timeout)


def numbers_received(sub, numbers, timeout=30):
    """The numbers (first args) from ``sub`` until all of ``numbers`` came; probes skipped."""
    missing, seen = set(numbers), []
    deadline = time.monotonic() + timeout
    while missing and time.monotonic() < deadline:
        for event in sub.collect(1, timeout=max(0.0, min(1.0, deadline - time.monotonic()))):
            if event.args and event.args[0] != 'probe':
                seen.append(event.args[0])
                missing.discard(event.args[0])
    return seen


def connected_count(node, bridge):
    return node.log_text().count('livehub bridge %s: connected' % bridge)


# -- RabbitMQ really restarted ---------------------------------------------------

@pytest.fixture
def private_rabbitmq():
    """A RabbitMQ node of the test's own; always stopped and removed at the end."""
    broker = PrivateRabbitMQ()
    try:
        yield broker.start()
    finally:
        broker.cleanup()


def test_amqp_bridge_reconnects_after_rabbitmq_restarts_and_delivers_what_is_sent_after(
        private_rabbitmq, tmp_path):
    ns = 'rr%s' % RUN
    raw = router_settings(**{'livehub.bridges': 'amqp', 'livehub.amqp_broker': private_rabbitmq.url,
                             'livehub.amqp_inbound': ns + '.in.#',
                             'livehub.amqp_outbound': ns + '.out.#'})
    settings, node = start_bridged_router(raw, str(tmp_path / 'node'), ['amqp'], timeout=120)
    publisher = Publisher(settings)
    try:
        wait_for_log(node, ['livehub bridge amqp: connected'])
        with Subscriber(settings, ns + '.in', match='prefix') as sub:
            channel = pika.BlockingConnection(pika.URLParameters(private_rabbitmq.url)).channel()
            send_until_received(
                lambda: channel.basic_publish('amq.topic', ns + '.in.n', b'"probe"'),
                lambda t: sub.collect(1, t))
            channel.basic_publish('amq.topic', ns + '.in.n', b'0')
            assert numbers_received(sub, [0]) == [0]
            channel.connection.close()
            connects_before = wamp_call(settings, 'livehub.bridges.amqp.stats')['connects']
            logged_before = connected_count(node, 'amqp')

            private_rabbitmq.restart()

            wait_for_log(node, ['livehub bridge amqp: AMQP'], timeout=30)  # the loss, logged
            wait_for(lambda: connected_count(node, 'amqp') > logged_before,
                     lambda: 'the AMQP bridge to reconnect:\n' + node.log_tail(40), 60, 0.1)
            channel = pika.BlockingConnection(pika.URLParameters(private_rabbitmq.url)).channel()
            # The consumer declares and binds its queue again after it reconnects.
            send_until_received(
                lambda: channel.basic_publish('amq.topic', ns + '.in.n', b'"probe"'),
                lambda t: sub.collect(1, t), timeout=60)
            for n in range(1, 11):
                channel.basic_publish('amq.topic', ns + '.in.n', str(n).encode())
            after = numbers_received(sub, range(1, 11))

            # And WAMP -> AMQP after the restart.
            queue_name = channel.queue_declare('', exclusive=True).method.queue
            channel.queue_bind(queue_name, 'amq.topic', routing_key=ns + '.out.#')
            outbound = []

            def publish_and_look(timeout):
                publisher.publish(ns + '.out.x', {'after': 'restart'})
                assert publisher.flush(10)
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    method, _, body = channel.basic_get(queue_name, auto_ack=True)
                    if method is not None:
                        outbound.append(json.loads(body))
                        return True
                    channel.connection.process_data_events(time_limit=0.05)
                return False
            send_until_received(lambda: None, publish_and_look, timeout=60)
            channel.connection.close()
        stats = wamp_call(settings, 'livehub.bridges.amqp.stats')
        assert node.process.poll() is None
    finally:
        publisher.close(2)
        node.stop()
    assert sorted(after) == list(range(1, 11)), after
    assert outbound[0] == {'after': 'restart'}
    assert stats['connected'] is True
    assert stats['connects'] > connects_before, stats


# -- STOMP reconnect ---------------------------------------------------------------

def test_stomp_bridge_reconnects_after_its_connection_is_cut_and_delivers_both_ways(
        brokers, tmp_path):
    ns = 'sr%s' % RUN
    proxy = TcpProxy(('127.0.0.1', 61613))
    raw = router_settings(**{'livehub.bridges': 'stomp',
                             'livehub.stomp_uri': '127.0.0.1:%d' % proxy.port,
                             'livehub.stomp_inbound': ns + '.in.#',
                             'livehub.stomp_outbound': ns + '.out.#'})
    settings, node = start_bridged_router(raw, str(tmp_path / 'node'), ['stomp'], timeout=120)
    frames = queue.Queue()

    class Listener(stomp.ConnectionListener):
        def on_message(self, frame):
            frames.put(frame)

    client = stomp.Connection12([('127.0.0.1', 61613)], auto_decode=False, vhost='/')
    client.set_listener('test', Listener())
    client.connect('guest', 'guest', wait=True)
    client.subscribe('/topic/%s.out.#' % ns, id='out', ack='auto')
    publisher = Publisher(settings)
    try:
        wait_for_log(node, ['livehub bridge stomp: connected'])
        with Subscriber(settings, ns + '.in', match='prefix') as sub:
            send = lambda body: client.send('/topic/%s.in.n' % ns, body)  # noqa: E731
            send_until_received(lambda: send(b'"probe"'), lambda t: sub.collect(1, t))
            logged_before = connected_count(node, 'stomp')
            proxy.block()
            wait_for_log(node, ['livehub bridge stomp: STOMP'], timeout=30)
            proxy.unblock()
            wait_for(lambda: connected_count(node, 'stomp') > logged_before,
                     lambda: 'the STOMP bridge to reconnect:\n' + node.log_tail(40), 60, 0.1)
            send_until_received(lambda: send(b'"probe"'), lambda t: sub.collect(1, t), timeout=60)
            for n in range(10):
                send(str(n).encode())
            after = numbers_received(sub, range(10))

            def publish_and_look(timeout):
                publisher.publish(ns + '.out.x', {'after': 'reconnect'})
                assert publisher.flush(10)
                try:
                    return frames.get(timeout=timeout)
                except queue.Empty:
                    return None
            send_until_received(lambda: None, publish_and_look, timeout=60)
        stats = wamp_call(settings, 'livehub.bridges.stomp.stats')
        assert node.process.poll() is None
    finally:
        publisher.close(2)
        client.disconnect()
        node.stop()
        proxy.close()
    assert sorted(after) == list(range(10)), after
    assert stats['connected'] is True and stats['connects'] >= 2, stats


# -- MQTT wrong password -------------------------------------------------------------

def test_mqtt_wrong_password_is_refused_naming_the_settings_and_the_right_one_works(
        brokers, tmp_path):
    broker = Mosquitto(users={'bridge': 'right-password'}).start()
    ns = 'mp%s' % RUN

    def mqtt_router(password, name):
        raw = router_settings(**{'livehub.bridges': 'mqtt', 'livehub.mqtt_port': str(broker.port),
                                 'livehub.mqtt_username': 'bridge',
                                 'livehub.mqtt_password': password,
                                 'livehub.mqtt_wamp_prefix': 'mq',
                                 'livehub.mqtt_inbound': ns + '/#'})
        return start_bridged_router(raw, str(tmp_path / name), ['mqtt'], timeout=120)

    try:
        settings, node = mqtt_router('wrong-password', 'wrong')
        try:
            log = wait_for_log(node, ['check livehub.mqtt_username and livehub.mqtt_password'],
                               timeout=30)
            # The router keeps routing WAMP events.
            with Subscriber(settings, 'still.' + ns) as sub:
                publisher = Publisher(settings)
                publisher.publish('still.' + ns, 'routing')
                assert publisher.flush(10)
                publisher.close(2)
                assert sub.get(timeout=20).args == ['routing']
            stats = wamp_call(settings, 'livehub.bridges.mqtt.stats')
            assert node.process.poll() is None
        finally:
            node.stop()
        assert stats['connected'] is False and 'livehub.mqtt_password' in stats['last_error']
        assert 'wrong-password' not in log

        settings, node = mqtt_router('right-password', 'right')
        try:
            wait_for_log(node, ['livehub bridge mqtt: connected'], timeout=30)
            client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
            client.username_pw_set('bridge', 'right-password')
            client.connect('127.0.0.1', broker.port)
            client.loop_start()
            try:
                with Subscriber(settings, 'mq.' + ns, match='prefix') as sub:
                    send_until_received(
                        lambda: client.publish(ns + '/probe', '"probe"', qos=1)
                        .wait_for_publish(10),
                        lambda t: sub.collect(1, t))
                    for n in range(5):
                        client.publish(ns + '/n', str(n), qos=1).wait_for_publish(10)
                    after = numbers_received(sub, range(5))
                stats = wamp_call(settings, 'livehub.bridges.mqtt.stats')
            finally:
                client.loop_stop()
                client.disconnect()
        finally:
            node.stop()
        assert sorted(after) == list(range(5)) and stats['connected'] is True
    finally:
        broker.stop()


# -- a slow WAMP subscriber ------------------------------------------------------------

class StuckSubscriber:
    """A browser-like WAMP session whose event handler blocks its loop: it stops reading."""

    def __init__(self, settings, topic):
        self.release = threading.Event()
        self.got_first = threading.Event()
        subscribed = threading.Event()

        def on_event(*args):
            self.got_first.set()
            self.release.wait(120)  # blocks the loop: nothing more is read from the socket

        async def subscribe(session, details):
            await session.subscribe(on_event, topic)
            subscribed.set()
        # Anonymous on the browser transport, like livehub.js; no reconnect.
        self.background = BackgroundSession(settings, name='stuck-subscriber',
                                            url=settings.browser_url, authentication={},
                                            max_retries=0, on_join=subscribe).start()
        self.background.wait_joined(30)
        assert subscribed.wait(30), 'the stuck subscriber did not subscribe'

    def close(self):
        self.release.set()
        self.background.stop(10)


def test_a_stuck_wamp_subscriber_does_not_cost_the_others_any_event(tmp_path):
    node = RouterProcess(parse_settings(router_settings()), str(tmp_path / 'router'))
    node.start(timeout=120)  # crossbar takes long to start on a busy machine
    settings = node.settings
    topic = 'demo.slow.%s' % RUN
    count, payload = 3000, 'x' * 1024
    stuck = StuckSubscriber(settings, topic)
    publisher = Publisher(settings)
    try:
        with Subscriber(settings, topic) as backend, \
                Subscriber(settings, topic, url=settings.browser_url, authentication={}) as browser:
            for n in range(count):
                publisher.publish(topic, n, payload)
            assert publisher.flush(60)
            got_backend = [e.args[0] for e in backend.collect(count, timeout=60)]
            got_browser = [e.args[0] for e in browser.collect(count, timeout=60)]
        assert stuck.got_first.is_set()  # it did subscribe, and then stopped reading
        assert node.process.poll() is None
        # Still serving new sessions.
        with Subscriber(settings, topic + '.after') as after:
            publisher.publish(topic + '.after', 'ok')
            assert publisher.flush(10)
            assert after.get(timeout=20).args == ['ok']
    finally:
        publisher.close(2)
        stuck.close()
        node.stop()
    assert got_backend == list(range(count))
    assert got_browser == list(range(count))
