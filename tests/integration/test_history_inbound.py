"""Events from inside the router on history topics: an MQTT bridge's inbound side and
plugins, through a real crossbar node with ``livehub.history``, real Mosquitto.

Before the history component took them, these events were published straight
into WAMP: no position, nothing stored, ``fetch`` empty.
"""
import os
import sys
import time
import uuid

import pytest

from pyramid_livehub.publisher import Publisher
from pyramid_livehub.router.process import RouterProcess
from pyramid_livehub.settings import parse_settings
from pyramid_livehub.subscriber import Subscriber
from tests.support.bridges import mqtt_client, mqtt_subscribe, wait_for_log, wamp_call
from tests.support.services import require_service, router_settings

NS = 'lh12i%s' % uuid.uuid4().hex[:8]
MODULE = 'lh12_plugins_%s' % NS
REDIS_URL = 'redis://127.0.0.1:6379/0'

PLUGINS = '''
from pyramid_livehub.plugins import Consumer, PollingProducer


class Counter(PollingProducer):
    """Counts from 1 every 0.1 s, from the moment the router starts (before the
    history component may have registered)."""
    topic = 'hist.tick'
    frequency = 0.1

    def __init__(self, hub):
        super().__init__(hub)
        self.n = 0

    def poll(self):
        self.n += 1
        return {'n': self.n}


class Loopy(Consumer):
    """Echoes everything under its own pattern: must never get its own echoes."""
    topic = 'hist.loop.**'

    def consume(self, message):
        self.publish('hist.loop.echo', {'from': message.topic, 'seen': message.position,
                                        'in_kwargs': 'livehub_position' in message.kwargs})
'''


@pytest.fixture(scope='module', params=['memory', 'redis'])
def node(request, brokers, tmp_path_factory):
    """A router with history on ``mq.<NS>.h.**`` and ``hist.**`` (each store), an MQTT
    bridge and two plugins."""
    import redis
    require_service('127.0.0.1', 6379, 'Redis', 'redis-server --daemonize yes --bind 127.0.0.1')
    redis_prefix = 'livehub:test:%s:' % uuid.uuid4().hex
    store = 'memory' if request.param == 'memory' else REDIS_URL + '?prefix=' + redis_prefix
    root = tmp_path_factory.mktemp('inbound-plugins')
    (root / (MODULE + '.py')).write_text(PLUGINS)
    sys.path.insert(0, str(root))  # crossbar gets it through the plugin host's python_path
    raw = router_settings(**{
        'livehub.history': 'mq.%s.h.** 100 3600\nmq.%s.out.** 100\nhist.** 1000 3600'
                           % (NS, NS),
        'livehub.history_store': store,
        'livehub.bridges': 'mqtt',
        'livehub.mqtt_inbound': '%s/#' % NS,
        'livehub.mqtt_wamp_prefix': 'mq',
        'livehub.mqtt_outbound': '%s/out/#' % NS,
        'livehub.producers': '%s:Counter' % MODULE,
        'livehub.consumers': '%s:Loopy' % MODULE,
        'livehub.plugin_entry_points': 'false',
    })
    saved = os.environ.get('PYTHONPATH')
    os.environ['PYTHONPATH'] = os.pathsep.join(filter(None, [str(root), saved]))
    router = RouterProcess(parse_settings(raw), str(root / 'node'))
    try:
        router.start(timeout=120, wait_for_log='livehub history: ready')
        wait_for_log(router, ['livehub bridge mqtt: connected', 'livehub plugins ready'], 60)
        router.raw_settings = raw
        yield router
    finally:
        router.stop()
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(redis_prefix + '*'))
        if keys:
            client.delete(*keys)
        client.close()
        sys.path.remove(str(root))
        if saved is None:
            os.environ.pop('PYTHONPATH', None)
        else:
            os.environ['PYTHONPATH'] = saved


def test_mqtt_messages_on_a_history_topic_get_positions_and_are_stored(node):
    raw = node.raw_settings
    settings = parse_settings(raw)
    client = mqtt_client()
    try:
        with Subscriber(raw, 'mq.%s.' % NS, match='prefix') as sub:
            # The bridge's MQTT subscription may not be made yet: probe until one comes through.
            deadline = time.monotonic() + 30
            probe = []
            while not probe:
                assert time.monotonic() < deadline, 'no MQTT probe reached WAMP within 30 s'
                client.publish('%s/p/probe' % NS, '{"probe": 1}', qos=1).wait_for_publish(5)
                probe = sub.collect(1, timeout=0.5)
            for n in range(1, 4):
                client.publish('%s/h/1' % NS, '{"n": %d}' % n, qos=1).wait_for_publish(5)
            client.publish('%s/p/1' % NS, '{"plain": true}', qos=1).wait_for_publish(5)
            events = []
            deadline = time.monotonic() + 30
            while len(events) < 4 and time.monotonic() < deadline:
                events.extend(e for e in sub.collect(1, timeout=1.0)
                              if e.topic != 'mq.%s.p.probe' % NS)
    finally:
        client.loop_stop()
        client.disconnect()
    history = [e for e in events if e.topic == 'mq.%s.h.1' % NS]
    plain = [e for e in events if e.topic == 'mq.%s.p.1' % NS]
    assert [e.args for e in history] == [[{'n': 1}], [{'n': 2}], [{'n': 3}]]
    assert [e.position['offset'] for e in history] == [1, 2, 3]
    assert len({e.position['epoch'] for e in history}) == 1
    assert history[0].kwargs['livehub_broker']['bridge'] == 'mqtt'
    assert len(plain) == 1 and plain[0].position is None  # no livehub.history line: unpositioned

    fetched = wamp_call(settings, 'livehub.history.fetch', 'mq.%s.h.1' % NS, 0)
    assert fetched['complete'] and fetched['epoch'] == history[0].position['epoch']
    assert [(e['offset'], e['args']) for e in fetched['events']] == [
        (1, [{'n': 1}]), (2, [{'n': 2}]), (3, [{'n': 3}])]
    assert fetched['events'][0]['kwargs']['livehub_broker']['topic'] == '%s/h/1' % NS
    # and as a Pyramid view reads it (request.livehub.history is the publisher's history())
    publisher = Publisher.from_settings(raw)
    try:
        late = publisher.history('mq.%s.h.1' % NS, limit=2)
    finally:
        publisher.close(5)
    assert [e['args'] for e in late['events']] == [[{'n': 2}], [{'n': 3}]]

    stats = wamp_call(settings, 'livehub.bridges.mqtt.stats')
    assert stats['history']['positioned'] == 3
    assert stats['history']['failed'] == 0 and stats['history']['dropped'] == 0
    assert stats['published'] >= 5  # probe(s), three positioned, one plain


def test_events_on_a_history_topic_reach_mqtt_without_their_position(node):
    """The position is livehub's wire metadata: the broker gets the payload only,
    the same body as for a topic without history."""
    import queue
    got = queue.Queue()
    client = mqtt_client(on_message=lambda c, u, m: got.put((m.topic, m.payload)))
    publisher = Publisher.from_settings(node.raw_settings)
    try:
        mqtt_subscribe(client, [('%s/out/#' % NS, 1)])
        # The bridge's WAMP subscription may not be made yet: probe until one comes through.
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline, 'no probe reached MQTT within 30 s'
            publisher.publish('mq.%s.out.probe' % NS, 'probe')
            assert publisher.flush(10)
            try:
                got.get(timeout=0.5)
                break
            except queue.Empty:
                pass
        publisher.publish('mq.%s.out.value' % NS, {'v': 1})
        publisher.publish('mq.%s.out.kw' % NS, n=2)
        publisher.publish('mq.%s.out.end' % NS, 'marker')
        assert publisher.flush(10)
        messages = []
        while not messages or messages[-1][0] != '%s/out/end' % NS:
            messages.append(got.get(timeout=max(0.01, deadline + 30 - time.monotonic())))
    finally:
        publisher.close(5)
        client.loop_stop()
        client.disconnect()
    messages = [m for m in messages if not m[0].endswith('/probe')]
    assert messages == [('%s/out/value' % NS, b'{"v":1}'),
                        ('%s/out/kw' % NS, b'{"args":[],"kwargs":{"n":2}}'),
                        ('%s/out/end' % NS, b'"marker"')]
    fetched = wamp_call(parse_settings(node.raw_settings), 'livehub.history.fetch',
                        'mq.%s.out.value' % NS, 0)
    assert [e['args'] for e in fetched['events']] == [[{'v': 1}]]  # it did get a position


def test_a_producer_s_events_get_positions_from_the_first_poll_on(node):
    raw = node.raw_settings
    with Subscriber(raw, 'hist.tick') as sub:
        live = sub.collect(2, timeout=30)
    assert len(live) == 2 and all(e.position is not None for e in live)
    # The producer began polling when the router started, possibly before the
    # history component registered: the first events were held and retried, in order.
    fetched = wamp_call(parse_settings(raw), 'livehub.history.fetch', 'hist.tick', 0, 5)
    assert fetched['complete']
    assert [(e['offset'], e['args']) for e in fetched['events']] == [
        (n, [{'n': n}]) for n in range(1, 6)]
    for event in live:  # live offsets are the producer's own count
        assert event.position['offset'] == event.args[0]['n']
    stats = wamp_call(parse_settings(raw), 'livehub.plugins.stats')
    assert stats['history']['positioned'] >= 5 and stats['history']['failed'] == 0
    assert stats['publish_failed'] == 0


def test_a_consumer_gets_positions_and_never_its_own_events_on_a_history_topic(node):
    raw = node.raw_settings
    publisher = Publisher.from_settings(raw)
    try:
        with Subscriber(raw, 'hist.loop.echo') as echoes:
            publisher.publish('hist.loop.start', {'go': 1})
            assert publisher.flush(10)
            first = echoes.get(timeout=30)
            # A feedback loop would echo its echo at once, before the echo of this marker
            # (one consumer thread, one forwarder, one history component: all in order).
            publisher.publish('hist.loop.marker', {'go': 2})
            assert publisher.flush(10)
            second = echoes.get(timeout=30)
    finally:
        publisher.close(5)
    assert first.args[0]['from'] == 'hist.loop.start'
    assert first.args[0]['seen']['offset'] == 1  # the consumer saw the start event's position
    assert first.args[0]['in_kwargs'] is False  # ... as Message.position, not in its kwargs
    assert second.args[0]['from'] == 'hist.loop.marker'
    assert [first.position['offset'], second.position['offset']] == [1, 2]
    fetched = wamp_call(parse_settings(raw), 'livehub.history.fetch', 'hist.loop.echo', 0)
    assert [e['args'][0]['from'] for e in fetched['events']] == ['hist.loop.start',
                                                                'hist.loop.marker']
