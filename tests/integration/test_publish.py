"""The spine end to end: Pyramid view -> publisher -> real crossbar -> WAMP subscriber."""
import queue
import time

import pytest
import transaction

from pyramid_livehub import LiveEvent, get_publisher
from pyramid_livehub.settings import parse_settings
from pyramid_livehub.subscriber import Subscriber

from tests.support import wait_for
from tests.support.app import make_testapp
from tests.support.services import router_settings
from tests.support.tcpproxy import TcpProxy


def make_app(settings, use_tm=False):
    """A tiny app whose views publish in the ways users do."""
    def publish_view(request):
        request.livehub.publish(request.matchdict['topic'], {'n': int(request.params.get('n', 0))},
                                source='view')
        return {'ok': True}

    def publish_many_view(request):
        for n in range(int(request.params['count'])):
            request.livehub.publish('app.orders.created', n)
        return {'ok': True}

    def failing_view(request):
        request.livehub.publish('app.orders.created', 'must-not-arrive')
        raise RuntimeError('boom')

    def notify_view(request):
        request.registry.notify(LiveEvent('app.orders.created', {'via': 'event'}, kind='notify'))
        return {'ok': True}

    def bad_topic_view(request):
        request.livehub.publish('app..orders', 1)

    def bad_payload_view(request):
        request.livehub.publish('app.orders.created', object())

    def configure(config):
        for name, view, path in [
            ('publish', publish_view, '/publish/{topic}'),
            ('many', publish_many_view, '/many'),
            ('failing', failing_view, '/failing'),
            ('notify', notify_view, '/notify'),
            ('bad_topic', bad_topic_view, '/bad-topic'),
            ('bad_payload', bad_payload_view, '/bad-payload'),
        ]:
            config.add_route(name, path)
            config.add_view(view, route_name=name, renderer='json')
    include = ['pyramid_tm'] * use_tm + ['pyramid_livehub']
    app = make_testapp(settings, include=include, configure=configure)
    return app, get_publisher(app.app.registry)


@pytest.fixture
def subscriber(router):
    with Subscriber(router.settings, 'app.orders', match='prefix') as sub:
        yield sub


@pytest.fixture
def app(router_raw_settings, router):
    testapp, publisher = make_app(router_raw_settings)
    yield testapp, publisher
    publisher.close(2)


@pytest.fixture
def tm_app(router_raw_settings, router):
    testapp, publisher = make_app(router_raw_settings, use_tm=True)
    yield testapp, publisher
    publisher.close(2)


def test_view_publish_reaches_wamp_subscriber_with_args_and_kwargs(app, subscriber):
    testapp, publisher = app
    testapp.get('/publish/app.orders.created?n=7')
    event = subscriber.get(timeout=10)
    assert event.topic == 'app.orders.created'
    assert event.args == [{'n': 7}]
    assert event.kwargs == {'source': 'view'}
    assert publisher.stats.sent >= 1


def test_committed_transaction_delivers_the_event(tm_app, subscriber):
    testapp, publisher = tm_app
    testapp.get('/publish/app.orders.created?n=1')
    assert subscriber.get(timeout=10).args == [{'n': 1}]


def test_aborted_transaction_drops_the_event(tm_app, subscriber):
    testapp, publisher = tm_app
    with pytest.raises(RuntimeError):
        testapp.get('/failing')
    # A marker published afterwards arrives first: events keep their order,
    # so the aborted one was never sent.
    testapp.get('/publish/app.orders.marker?n=2')
    event = subscriber.get(timeout=10)
    assert event.topic == 'app.orders.marker'
    assert publisher.stats.queued == 1


def test_events_wait_for_commit_and_keep_order(tm_app, subscriber):
    testapp, publisher = tm_app
    testapp.get('/many?count=5')
    assert [e.args[0] for e in subscriber.collect(5, timeout=10)] == [0, 1, 2, 3, 4]


def test_publish_outside_a_transaction_goes_out_at_once(router, subscriber):
    from pyramid_livehub.publisher import Publisher
    publisher = Publisher(router.settings)
    txn = transaction.begin()
    try:
        publisher.publish('app.orders.script', 1)
        assert subscriber.get(timeout=10).topic == 'app.orders.script'
    finally:
        txn.abort()
        publisher.close(2)


def test_registry_notify_live_event_is_published(app, subscriber):
    testapp, _ = app
    testapp.get('/notify')
    event = subscriber.get(timeout=10)
    assert event.args == [{'via': 'event'}]
    assert event.kwargs == {'kind': 'notify'}


def test_invalid_topic_raises_value_error_in_the_view(app):
    testapp, publisher = app
    with pytest.raises(ValueError, match="'app..orders' is not a valid WAMP topic URI"):
        testapp.get('/bad-topic')
    assert publisher.stats.queued == 0


def test_unserializable_payload_raises_type_error_in_the_view(app):
    testapp, publisher = app
    with pytest.raises(TypeError, match='not JSON-serializable.*args\\[0\\] is a object'):
        testapp.get('/bad-payload')
    assert publisher.stats.queued == 0


def test_config_json_tells_the_browser_where_to_connect(app, router):
    testapp, _ = app
    body = testapp.get('/livehub/config.json').json
    assert body['url'] == router.settings['browser_url']
    assert body['realm'] == 'livehub'


def _proxied_publisher_app(node, **overrides):
    """App whose publisher reaches ``node`` through a TCP proxy we can cut."""
    host, port = node.endpoints()[1]
    proxy = TcpProxy((host, port))
    raw = {'livehub.browser_url': node.settings['browser_url']}
    raw['livehub.router_url'] = 'rs://127.0.0.1:%d' % proxy.port
    raw['livehub.initial_retry_delay'] = '0.1'
    raw['livehub.max_retry_delay'] = '0.3'
    raw.update(overrides)
    testapp, publisher = make_app(raw)
    return proxy, testapp, publisher


def test_router_restart_delivers_all_queued_events_in_order(private_router):
    node = private_router()
    proxy, testapp, publisher = _proxied_publisher_app(node)
    subscriber = Subscriber(node.settings, 'app.orders.created').start()
    try:
        testapp.get('/publish/app.orders.created?n=-1')
        assert subscriber.get(timeout=10).args == [{'n': -1}]
        assert publisher.flush(10)  # acknowledged too, so it is not resent

        proxy.block()          # keeps the publisher away until the subscriber is back
        node.stop()
        testapp.get('/many?count=100')   # no exception while the router is gone
        assert publisher.pending() == 100
        node.start()
        subscriber.wait_resubscribed(2, timeout=20)
        proxy.unblock()

        assert publisher.flush(20)
        received = [e.args[0] for e in subscriber.collect(100, timeout=20)]
        assert received == list(range(100))
        assert publisher.stats.reconnects >= 1
        assert publisher.stats.dropped == 0
    finally:
        subscriber.stop()
        publisher.close(1)
        proxy.close()


def test_queue_bound_drops_oldest_and_counts_the_drops(private_router):
    node = private_router()
    proxy, testapp, publisher = _proxied_publisher_app(node, **{'livehub.queue_size': '10'})
    subscriber = Subscriber(node.settings, 'app.orders.created').start()
    try:
        proxy.block()
        # until the publisher saw the cut, the request path writes to the dead
        # connection: those events wait as unacknowledged, not in the queue
        wait_for(lambda: not publisher.connected, 'the publisher to see the cut')
        testapp.get('/many?count=25')
        assert publisher.stats.dropped == 15
        assert publisher.stats.queued == 25
        proxy.unblock()
        assert publisher.flush(20)
        received = [e.args[0] for e in subscriber.collect(10, timeout=20)]
        assert received == list(range(15, 25))   # the newest ten survived
        with pytest.raises(queue.Empty):
            subscriber.get(timeout=0.5)
    finally:
        subscriber.stop()
        publisher.close(1)
        proxy.close()


def test_queue_full_with_raise_policy_raises_queue_full():
    from pyramid_livehub.publisher import Publisher, QueueFull
    settings = parse_settings(router_settings(**{'livehub.queue_size': '2',
                                                 'livehub.overflow': 'raise',
                                                 'livehub.publish_block_timeout': '0.1'}))
    publisher = Publisher(settings)   # nothing listens on its port
    try:
        publisher.publish('app.a', 1)
        publisher.publish('app.a', 2)
        with pytest.raises(QueueFull, match='livehub.queue_size'):
            publisher.publish('app.a', 3)
        assert publisher.pending() == 2
    finally:
        publisher.close(0)


def test_publisher_started_before_fork_works_in_the_child(router):
    import os
    from pyramid_livehub.publisher import Publisher
    publisher = Publisher(router.settings)
    publisher.publish('app.orders.fork', 'parent')
    assert publisher.flush(10)
    with Subscriber(router.settings, 'app.orders.fork') as sub:
        pid = os.fork()
        if pid == 0:  # child: the parent's thread is gone; publish must still work
            code = 1
            try:
                publisher.publish('app.orders.fork', 'child')
                code = 0 if publisher.flush(10) else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert sub.get(timeout=10).args == ['child']
    publisher.close(1)


def test_events_queued_at_interpreter_exit_are_flushed(router):
    import subprocess
    import sys
    script = (
        'import sys\n'
        'from pyramid_livehub import Publisher\n'
        'p = Publisher.from_settings({"livehub.router_url": %r, "livehub.browser_url": %r})\n'
        'for i in range(50):\n'
        '    p.publish("app.orders.atexit", i)\n'
        '# no flush(): the atexit hook must deliver them\n'
    ) % (router.settings['router_url'], router.settings['browser_url'])
    with Subscriber(router.settings, 'app.orders.atexit') as sub:
        done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        assert [e.args[0] for e in sub.collect(50, timeout=15)] == list(range(50))


def test_wrong_backend_secret_is_logged_once_with_the_fix_and_events_stay_queued(router, caplog):
    import logging
    from pyramid_livehub.publisher import Publisher
    from pyramid_livehub.settings import LivehubSettings
    settings = LivehubSettings(router.settings, backend_secret='not-the-routers-secret-0123')
    publisher = Publisher(settings)
    caplog.set_level(logging.ERROR, logger='pyramid_livehub.publisher')
    # Autobahn logs (at debug, see _session) each connect attempt: the marker
    # that several refused retries happened after the first refusal.
    caplog.set_level(logging.DEBUG, logger='autobahn.asyncio.component.Component')

    def attempts():
        return sum('trying transport' in r.getMessage() for r in caplog.records)

    try:
        publisher.publish('app.orders.secret', 1)
        wait_for(lambda: attempts() >= 4, 'the publisher to retry the refused login 4 times',
                 60, 0.1)
        messages = [r.getMessage() for r in caplog.records
                    if 'refused the backend login' in r.getMessage()]
        assert len(messages) == 1, messages
        assert 'refused the backend login (wamp.error.not_authorized' in messages[0]
        assert 'livehub.backend_secret' in messages[0]
        assert publisher.pending() == 1 and not publisher.connected
    finally:
        publisher.close(0)


def test_publish_linger_still_delivers_everything_in_order(router):
    from pyramid_livehub.publisher import Publisher
    from pyramid_livehub.settings import LivehubSettings
    publisher = Publisher(LivehubSettings(router.settings, publish_linger=0.005))
    with Subscriber(router.settings, 'app.orders.linger') as sub:
        try:
            for i in range(60):
                publisher.publish('app.orders.linger', i)
                if i % 20 == 0:
                    time.sleep(0.02)   # idle gaps: the next event must wake the thread again
            assert [e.args[0] for e in sub.collect(60, timeout=15)] == list(range(60))
        finally:
            publisher.close(2)


@pytest.mark.parametrize('serializer', ['json', 'msgpack'])
def test_every_payload_shape_arrives_unchanged_with_either_serializer(router, serializer):
    """The sender encodes PUBLISH itself (one C call); bytes in JSON take Autobahn's path."""
    from pyramid_livehub.publisher import Publisher
    from pyramid_livehub.settings import LivehubSettings
    topic = 'app.orders.shapes.' + serializer
    events = [((), {}), ((1, 'two', None), {}), ((), {'total': '9.90', 'n': -3}),
              (([1, [2.5]],), {'nested': {'ü': True}}), ((b'\x00\xff',), {'blob': b'raw'}),
              ((2 ** 63 - 1,), {})]
    publisher = Publisher(LivehubSettings(router.settings, serializer=serializer))
    with Subscriber(router.settings, topic) as sub:
        try:
            for args, kwargs in events:
                publisher.publish(topic, *args, **kwargs)
            received = sub.collect(len(events), timeout=15)
            assert [(list(e.args), e.kwargs) for e in received] == [
                (list(args), kwargs) for args, kwargs in events]
            assert publisher.stats.dropped == 0
        finally:
            publisher.close(2)
