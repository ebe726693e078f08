"""Consumers and producers: discovered through a real entry point, run inside a
real crossbar node's container worker, observed by a real WAMP subscriber.

The plugins live in a throw-away distribution written into a temporary
directory (``*.dist-info`` with ``entry_points.txt``), put on ``sys.path``
for this process and on ``PYTHONPATH`` for crossbar, so discovery goes
through ``importlib.metadata`` for real.
"""
import os
import sys
import textwrap

import pytest

from pyramid_livehub.plugins import describe_plugins, fetch_plugin_stats
from pyramid_livehub.router.process import RouterProcess
from pyramid_livehub.settings import parse_settings
from pyramid_livehub.subscriber import Subscriber
from tests.support import PROJECT_ROOT, wait_for
from tests.support.bridges import Mosquitto, mqtt_client, wait_for_log
from tests.support.services import router_settings

PLUGIN_MODULE = '''
import datetime
import os
import time

from pyramid_livehub.plugins import Consumer, PollingProducer


class Echo(Consumer):
    """Repeats what it consumes on test.plugins.out."""
    topic = ['test.plugins.in.*', 'test.plugins.deep.**']

    def consume(self, message):
        self.publish('test.plugins.out', {'topic': message.topic, 'body': message.body})


class Fragile(Consumer):
    """Raises on {"explode": true}; echoes everything else."""
    topic = 'test.plugins.fragile'

    def consume(self, message):
        if message.body.get('explode'):
            raise RuntimeError('exploding on purpose')
        self.publish('test.plugins.fragile_ok', message.body)


class Slow(Consumer):
    """Holds the first message until the test releases it, so the backlog overflows."""
    topic = 'test.plugins.slow'
    backlog = 3

    def consume(self, message):
        if message.body.get('n') == 0:
            release = os.environ['LIVEHUB_TEST_SLOW_RELEASE']
            deadline = time.monotonic() + 120
            while not os.path.exists(release) and time.monotonic() < deadline:
                time.sleep(0.05)
        self.publish('test.plugins.slow_done', message.body)


class Loopy(Consumer):
    """Publishes under its own pattern: must not feed itself."""
    topic = 'test.plugins.loop.**'

    def consume(self, message):
        self.publish('test.plugins.loop.echo', {'from': message.topic})


class Overlap(Consumer):
    """Two patterns that both match test.plugins.overlap.x: one message per event."""
    topic = ['test.plugins.overlap.*', 'test.plugins.overlap.**']

    def consume(self, message):
        self.publish('test.plugins.overlap_seen', message.body)


class Numeric(Consumer):
    """Uses numpy, which the container worker stubs until the plugin host releases it."""
    topic = 'test.plugins.numeric'

    def consume(self, message):
        import numpy
        total = numpy.arange(message.body['n']).sum()
        self.publish('test.plugins.numeric_sum', {'sum': int(total),
                                                   'type': type(total).__module__})


class TickWatcher(Consumer):
    """Consumes another plugin's (Ticker's) events."""
    topic = 'test.plugins.tick'

    def consume(self, message):
        if message.body['n'] % 5 == 0:
            self.publish('test.plugins.tick_seen', message.body)


class CrashOnInit(Consumer):
    """Its __init__ raises: a load error, the others still run."""
    topic = 'test.plugins.never'

    def __init__(self, hub):
        raise RuntimeError('cannot start on purpose')

    def consume(self, message):
        pass


class Flaky(PollingProducer):
    """poll() raises every other time."""
    topic = 'test.plugins.flaky'
    frequency = 0.1

    def __init__(self, hub):
        super().__init__(hub)
        self.count = 0

    def poll(self):
        self.count += 1
        if self.count % 2:
            raise ValueError('odd poll fails on purpose')
        return {'n': self.count}


class Ticker(PollingProducer):
    """Publishes every 200 ms; writes a marker file when stopped."""
    topic = 'test.plugins.tick'
    frequency = datetime.timedelta(milliseconds=200)

    def __init__(self, hub):
        super().__init__(hub)
        self.count = 0

    def poll(self):
        self.count += 1
        return {'n': self.count, 'time': time.time()}

    def stop(self):
        with open(os.environ['LIVEHUB_TEST_STOP_MARKER'], 'w') as fh:
            fh.write('stopped after %d polls' % self.count)
'''

ENTRY_POINTS = '''
[pyramid_livehub.consumer]
echo = livehub_plugin_fixture:Echo
fragile = livehub_plugin_fixture:Fragile
slow = livehub_plugin_fixture:Slow
loopy = livehub_plugin_fixture:Loopy
overlap = livehub_plugin_fixture:Overlap
tickwatcher = livehub_plugin_fixture:TickWatcher
numeric = livehub_plugin_fixture:Numeric
crashy = livehub_plugin_fixture:CrashOnInit
missing = livehub_plugin_fixture:NoSuchClass

[pyramid_livehub.producer]
ticker = livehub_plugin_fixture:Ticker
flaky = livehub_plugin_fixture:Flaky
'''


@pytest.fixture(scope='module')
def plugin_dist(tmp_path_factory):
    """An installed-looking distribution with entry points, on sys.path and PYTHONPATH."""
    root = tmp_path_factory.mktemp('site')
    (root / 'livehub_plugin_fixture.py').write_text(PLUGIN_MODULE)
    dist_info = root / 'livehub_plugin_fixture-1.0.dist-info'
    dist_info.mkdir()
    (dist_info / 'METADATA').write_text(
        'Metadata-Version: 2.1\nName: livehub-plugin-fixture\nVersion: 1.0\n')
    (dist_info / 'entry_points.txt').write_text(textwrap.dedent(ENTRY_POINTS))
    marker = root / 'ticker-stopped.txt'
    saved = {key: os.environ.get(key) for key in ('PYTHONPATH', 'LIVEHUB_TEST_STOP_MARKER',
                                                  'LIVEHUB_TEST_SLOW_RELEASE')}
    os.environ['PYTHONPATH'] = os.pathsep.join(filter(None, [str(root), saved['PYTHONPATH']]))
    os.environ['LIVEHUB_TEST_STOP_MARKER'] = str(marker)
    os.environ['LIVEHUB_TEST_SLOW_RELEASE'] = str(root / 'slow-release')
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        sys.modules.pop('livehub_plugin_fixture', None)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope='module')
def mosquitto():
    """A private MQTT broker for the bridge in front of the plugins."""
    broker = Mosquitto().start()
    yield broker
    broker.stop()


@pytest.fixture(scope='module')
def plugin_node(plugin_dist, mosquitto, tmp_path_factory):
    """A private crossbar node whose container runs the fixture's plugins and an MQTT bridge.

    The bridge publishes MQTT ``plugins/...`` as WAMP ``test.plugins.deep.plugins...``.
    """
    raw = router_settings(**{
        'livehub.bridges': 'mqtt',
        'livehub.mqtt_port': str(mosquitto.port),
        'livehub.mqtt_inbound': 'plugins/#',
        'livehub.mqtt_wamp_prefix': 'test.plugins.deep',
    })
    node = RouterProcess(parse_settings(raw), str(tmp_path_factory.mktemp('plugin-router')))
    node.start(wait_for_log='livehub plugins ready')
    wait_for_log(node, ['livehub bridge mqtt: connected'])
    node.raw_settings = raw
    yield node
    node.stop()


def publish_and_flush(raw, topic, *args, **kwargs):
    from pyramid_livehub.publisher import Publisher
    publisher = Publisher.from_settings(raw)
    try:
        publisher.publish(topic, *args, **kwargs)
        assert publisher.flush(10)
    finally:
        publisher.close(5)


def test_entry_point_plugins_are_discovered_and_described(plugin_dist):
    lines = describe_plugins({})
    text = '\n'.join(lines)
    assert 'consumer livehub_plugin_fixture:Echo  topics: test.plugins.in.*, test.plugins.deep.**' \
        in text
    assert 'entry point pyramid_livehub.consumer = echo of livehub-plugin-fixture 1.0' in text
    assert 'producer livehub_plugin_fixture:Ticker  every 0.2s -> test.plugins.tick' in text
    assert 'backlog: 3' in text  # Slow's own backlog
    assert describe_plugins({'livehub.plugin_entry_points': 'false'}) == [
        'no consumers or producers (set livehub.consumers / livehub.producers, or install a '
        'package with pyramid_livehub.consumer / .producer entry points)']


def test_entry_point_consumer_receives_events_published_by_a_pyramid_view(plugin_node,
                                                                           make_testapp):
    def view(request):
        request.livehub.publish('test.plugins.in.view', {'order': 7})
        return {}

    def configure(config):
        config.add_route('order', '/order')
        config.add_view(view, route_name='order', renderer='json')
    app = make_testapp(plugin_node.raw_settings, configure=configure)
    with Subscriber(plugin_node.raw_settings, 'test.plugins.out') as out:
        app.post('/order')
        echo = out.get(timeout=10)
    assert echo.args == [{'topic': 'test.plugins.in.view', 'body': {'order': 7}}]
    from pyramid_livehub import get_publisher
    get_publisher(app.app.registry).close(5)


def test_consumer_prefix_pattern_matches_any_depth(plugin_node):
    with Subscriber(plugin_node.raw_settings, 'test.plugins.out') as out:
        publish_and_flush(plugin_node.raw_settings, 'test.plugins.deep.a.b.c', x=1)
        echo = out.get(timeout=10)
    assert echo.args == [{'topic': 'test.plugins.deep.a.b.c', 'body': {'x': 1}}]


def test_entry_point_consumer_receives_events_published_by_an_mqtt_bridge(plugin_node, mosquitto):
    client = mqtt_client(port=mosquitto.port)
    with Subscriber(plugin_node.raw_settings, 'test.plugins.out') as out:
        client.publish('plugins/sensor/7', '{"celsius": 21.5}', qos=1).wait_for_publish(5)
        echo = out.get(timeout=10)
    client.loop_stop()
    client.disconnect()
    assert echo.args == [{'topic': 'test.plugins.deep.plugins.sensor.7',
                          'body': {'celsius': 21.5}}]


def test_a_consumer_never_receives_its_own_events(plugin_node):
    with Subscriber(plugin_node.raw_settings, 'test.plugins.loop.echo') as echoes:
        publish_and_flush(plugin_node.raw_settings, 'test.plugins.loop.start', {'go': 1})
        first = echoes.get(timeout=30)
        # A feedback loop would echo its echo at once, before the echo of this marker.
        publish_and_flush(plugin_node.raw_settings, 'test.plugins.loop.marker', {'go': 2})
        second = echoes.get(timeout=30)
    assert first.args == [{'from': 'test.plugins.loop.start'}]
    assert second.args == [{'from': 'test.plugins.loop.marker'}]
    stats = fetch_plugin_stats(plugin_node.raw_settings)['consumers']
    assert stats['livehub_plugin_fixture:Loopy']['received'] == 2


def test_overlapping_patterns_deliver_each_event_once(plugin_node):
    with Subscriber(plugin_node.raw_settings, 'test.plugins.overlap_seen') as seen:
        publish_and_flush(plugin_node.raw_settings, 'test.plugins.overlap.x', {'k': 1})
        publish_and_flush(plugin_node.raw_settings, 'test.plugins.overlap.x', {'k': 2})
        # A third as the marker: a second copy of 1 or 2 would come before it.
        publish_and_flush(plugin_node.raw_settings, 'test.plugins.overlap.x', {'k': 3})
        events = []
        while not events or events[-1].args[0]['k'] != 3:
            events.append(seen.get(timeout=30))
    assert [e.args[0]['k'] for e in events] == [1, 2, 3]


def test_a_consumer_imports_the_real_numpy_the_container_had_stubbed(plugin_node):
    # The container worker answers crossbar's numpy import with a stub to save
    # memory; the plugin host releases it before loading plugins.
    with Subscriber(plugin_node.raw_settings, 'test.plugins.numeric_sum') as sums:
        publish_and_flush(plugin_node.raw_settings, 'test.plugins.numeric', {'n': 5})
        result = sums.get(timeout=10)
    assert result.args == [{'sum': 10, 'type': 'numpy'}]


def test_consumer_receives_another_plugins_events(plugin_node):
    with Subscriber(plugin_node.raw_settings, 'test.plugins.tick_seen') as seen:
        event = seen.get(timeout=10)
    assert event.args[0]['n'] % 5 == 0


def test_broken_plugins_are_reported_and_the_others_run(plugin_node):
    stats = fetch_plugin_stats(plugin_node.raw_settings)
    errors = stats['load_errors']
    assert set(errors) == {'livehub_plugin_fixture:CrashOnInit', 'livehub_plugin_fixture:NoSuchClass'}
    assert 'cannot start on purpose' in errors['livehub_plugin_fixture:CrashOnInit']
    assert "has no 'NoSuchClass'" in errors['livehub_plugin_fixture:NoSuchClass']
    assert 'livehub_plugin_fixture:Echo' in stats['consumers']


def test_producer_whose_poll_raises_is_counted_and_keeps_polling(plugin_node):
    with Subscriber(plugin_node.raw_settings, 'test.plugins.flaky') as flaky:
        events = flaky.collect(3, timeout=10)
    assert len(events) == 3 and all(e.args[0]['n'] % 2 == 0 for e in events)
    stats = fetch_plugin_stats(plugin_node.raw_settings)['producers']['livehub_plugin_fixture:Flaky']
    assert stats['failed'] >= 3 and stats['published'] >= 3
    wait_for_log(plugin_node, ['odd poll fails on purpose'])  # relayed by the controller


def test_consumer_that_raises_is_counted_and_keeps_receiving(plugin_node):
    before = fetch_plugin_stats(plugin_node.raw_settings)['consumers']
    before = before['livehub_plugin_fixture:Fragile']
    with Subscriber(plugin_node.raw_settings, 'test.plugins.fragile_ok') as ok:
        from pyramid_livehub.publisher import Publisher
        publisher = Publisher.from_settings(plugin_node.raw_settings)
        publisher.publish('test.plugins.fragile', {'explode': True})
        publisher.publish('test.plugins.fragile', {'explode': False, 'n': 1})
        publisher.publish('test.plugins.fragile', {'explode': True})
        publisher.publish('test.plugins.fragile', {'explode': False, 'n': 2})
        assert publisher.flush(10)
        publisher.close(5)
        survived = ok.collect(2, timeout=10)
    assert [event.args[0]['n'] for event in survived] == [1, 2]
    after = fetch_plugin_stats(plugin_node.raw_settings)['consumers']
    after = after['livehub_plugin_fixture:Fragile']
    assert after['failed'] - before['failed'] == 2
    assert after['consumed'] - before['consumed'] == 2
    wait_for_log(plugin_node, ['exploding on purpose'])


def test_slow_consumer_backlog_is_bounded_and_drops_are_counted(plugin_node, plugin_dist):
    from pyramid_livehub.publisher import Publisher
    sent = 20
    name = 'livehub_plugin_fixture:Slow'
    release = plugin_dist / 'slow-release'

    def current():
        return fetch_plugin_stats(plugin_node.raw_settings)['consumers'][name]

    def wait_for_stats(condition, what):
        wait_for(lambda: condition(current()), lambda: '%s: %r' % (what, current()),
                 interval=0.05)

    with Subscriber(plugin_node.raw_settings, 'test.plugins.slow_done') as done:
        publisher = Publisher.from_settings(plugin_node.raw_settings)
        publisher.publish('test.plugins.slow', {'n': 0})  # held until the release file exists
        assert publisher.flush(10)
        wait_for_stats(lambda s: s['received'] >= 1 and not s['waiting'], 'the first is not being handled')
        for n in range(1, sent):
            publisher.publish('test.plugins.slow', {'n': n})
        assert publisher.flush(10)
        publisher.close(5)
        # All of them reached the consumer while it still held the first one.
        wait_for_stats(lambda s: s['received'] == sent, 'not all received')
        release.write_text('go')
        wait_for_stats(lambda s: s['consumed'] == 4 and not s['waiting'], 'the backlog was not handled')
        handled = done.collect(4, timeout=30)
    stats = fetch_plugin_stats(plugin_node.raw_settings)['consumers'][name]
    assert stats['received'] == sent
    assert stats['backlog'] == 3
    # While the first message was being handled, only 3 of the other 19 could wait.
    assert stats['dropped'] == sent - 1 - 3
    assert stats['consumed'] == len(handled) == 4
    # The newest messages survive (the oldest waiting ones were dropped).
    assert [e.args[0]['n'] for e in handled] == [0, sent - 3, sent - 2, sent - 1]


def test_producer_publishes_at_its_frequency(plugin_node):
    with Subscriber(plugin_node.raw_settings, 'test.plugins.tick') as ticks:
        events = ticks.collect(11, timeout=10)
    assert len(events) == 11
    numbers = [e.args[0]['n'] for e in events]
    assert numbers == list(range(numbers[0], numbers[0] + 11))
    stamps = [e.args[0]['time'] for e in events]
    mean_interval = (stamps[-1] - stamps[0]) / 10
    # Every 200 ms: never faster; slower only as far as a busy machine delays the timer.
    assert 0.18 <= mean_interval <= 0.6, mean_interval
    stats = fetch_plugin_stats(plugin_node.raw_settings)['producers']
    assert stats['livehub_plugin_fixture:Ticker']['failed'] == 0


def test_stats_of_a_router_without_plugins_names_the_situation(router, router_raw_settings):
    with pytest.raises(RuntimeError, match='runs no consumers or producers'):
        fetch_plugin_stats(router_raw_settings, timeout=5)


def test_settings_listed_demo_plugins_tick_and_count_messages(tmp_path, monkeypatch):
    import datetime
    # The router imports demo.plugins from the directory it was started in, like `python -m`.
    monkeypatch.chdir(PROJECT_ROOT)
    raw = router_settings(**{
        'livehub.plugin_entry_points': 'false',
        'livehub.producers': 'demo.plugins:ClockProducer',
        'livehub.consumers': 'demo.plugins:MessageCounter',
    })
    node = RouterProcess(parse_settings(raw), str(tmp_path / 'router'))
    node.start(wait_for_log='livehub plugins ready')
    try:
        with Subscriber(raw, 'demo.clock.tick') as ticks, \
                Subscriber(raw, 'demo.stats.messages') as stats:
            tick = ticks.get(timeout=30)
            publish_and_flush(raw, 'demo.messages.lobby', {'text': 'hi'})
            publish_and_flush(raw, 'demo.messages.garden', {'text': 'ho'})
            counts = [e.args[0]['count'] for e in stats.collect(2, timeout=10)]
        assert 'livehub plugins ready: 2 running, 0 not loaded' in node.log_text()
    finally:
        node.stop()
    parsed = datetime.datetime.fromisoformat(tick.args[0]['iso'])
    assert abs((datetime.datetime.now(datetime.timezone.utc) - parsed).total_seconds()) < 5
    assert counts == [1, 2]


def test_livehub_list_shows_entry_point_plugins_and_the_running_counters(plugin_node, tmp_path,
                                                                         capsys):
    import json
    from pyramid_livehub.cli import main
    ini = tmp_path / 'app.ini'
    ini.write_text('[app:main]\n' + ''.join('%s = %s\n' % item
                                            for item in plugin_node.raw_settings.items()))
    main(['list', '--ini', str(ini), '--running'])
    out = capsys.readouterr().out
    assert 'consumer livehub_plugin_fixture:Echo  topics: test.plugins.in.*' in out
    assert 'producer livehub_plugin_fixture:Ticker  every 0.2s' in out
    counters = json.loads(out[out.index('{'):])
    assert counters['producers']['livehub_plugin_fixture:Ticker']['polls'] > 0
    assert set(counters['consumers']) == {'livehub_plugin_fixture:%s' % name for name in (
        'Echo', 'Fragile', 'Slow', 'Loopy', 'Overlap', 'TickWatcher', 'Numeric')}


# Runs last: it stops the module's node (the fixture's own stop is then a no-op).
def test_router_stop_stops_the_producer_cleanly(plugin_node, plugin_dist):
    marker = plugin_dist / 'ticker-stopped.txt'
    if marker.exists():
        marker.unlink()
    with Subscriber(plugin_node.raw_settings, 'test.plugins.tick') as ticks:
        assert len(ticks.collect(2, timeout=10)) == 2
    plugin_node.stop()
    assert plugin_node.process.returncode is not None
    assert marker.read_text().startswith('stopped after')
    shutdown_log = plugin_node.log_text().split('Received SIGTERM', 1)[1]
    assert 'livehub plugins stopped' in shutdown_log
    assert 'Traceback' not in shutdown_log and 'still busy' not in shutdown_log
