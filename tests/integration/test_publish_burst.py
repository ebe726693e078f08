"""A full publisher queue: scripts wait for room (nothing lost), requests never wait.

Issue 13: a burst from a script with default settings lost events to the
queue bound.  Outside a request ``publish()`` now waits up to
``livehub.publish_block_timeout`` for room; the request path passes
``block=False``.  Real crossbar routers throughout.
"""
import asyncio
import logging
import threading
import time

import pytest

from pyramid_livehub import get_publisher
from pyramid_livehub.publisher import Publisher
from pyramid_livehub.settings import LivehubSettings, parse_settings
from pyramid_livehub.subscriber import Subscriber
from tests.support import wait_for
from tests.support.app import make_testapp
from tests.support.services import router_settings

BURST = 50000
#: A deadline no healthy run gets near, on a busy 2-core machine either.
DEADLINE = 60.0


def in_thread(work):
    """Run ``work`` in a thread; the thread (join it with a deadline)."""
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def collect_until_marker(subscriber, marker_topic, timeout=120.0):
    """The ``i`` of every event before the one on ``marker_topic`` (which comes last)."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        event = subscriber.get(timeout=max(deadline - time.monotonic(), 0.01))
        if event.topic == marker_topic:
            return seen
        seen.append(event.args[0])


def test_a_burst_from_a_script_with_the_default_wait_loses_nothing(router):
    # A small queue makes the burst overrun it many times over.
    settings = LivehubSettings(router.settings, queue_size=200)
    assert settings['publish_block_timeout'] == 5.0  # the default is what is tested
    publisher = Publisher(settings)
    with Subscriber(router.settings, 'app.burst', match='prefix', maxsize=BURST + 10) as sub:
        try:
            for i in range(BURST):
                publisher.publish('app.burst.wait', i)
            publisher.publish('app.burst.end')
            assert publisher.flush(DEADLINE)
            received = collect_until_marker(sub, 'app.burst.end')
            assert publisher.stats.dropped == 0
            assert len(received) == BURST and received == list(range(BURST))
            assert publisher.stats.queued == BURST + 1
        finally:
            publisher.close(5)


def test_a_burst_with_publish_block_timeout_0_drops_the_oldest_and_counts_every_drop(router):
    publisher = Publisher(LivehubSettings(router.settings, queue_size=50,
                                          publish_block_timeout=0.0))
    with Subscriber(router.settings, 'app.burst0', match='prefix', maxsize=BURST + 10) as sub:
        try:
            assert publisher.connect(DEADLINE)
            for i in range(BURST):
                publisher.publish('app.burst0.nowait', i)
            assert publisher.flush(DEADLINE)
            publisher.publish('app.burst0.end')
            assert publisher.flush(DEADLINE)
            received = collect_until_marker(sub, 'app.burst0.end')
            dropped = publisher.stats.dropped
            assert dropped > 0  # the old behaviour: 50 slots cannot hold a flat-out burst
            assert len(received) + dropped == BURST  # every loss is counted
            assert received == sorted(received) and received[-1] == BURST - 1  # oldest went
        finally:
            publisher.close(5)


def test_a_script_waits_while_the_router_is_away_and_sends_everything_when_it_comes(
        private_router):
    raw = router_settings(**{'livehub.queue_size': '5', 'livehub.publish_block_timeout': '600'})
    publisher = Publisher(parse_settings(raw))
    try:
        for i in range(5):
            publisher.publish('app.away.wait', i)  # room: at once
        done = []
        script = in_thread(lambda: [publisher.publish('app.away.wait', i) for i in range(5, 8)]
                           and done.append(True))
        # the script is really waiting for room (not done, not dropping)
        wait_for(lambda: publisher._queue._cond._waiters, 'the script to wait for room',
                 DEADLINE)
        assert not done and publisher.stats.dropped == 0
        private_router(**raw)  # same ports: the publisher's next attempt connects
        script.join(DEADLINE)
        assert done == [True], 'the waiting publish() never returned'
        assert publisher.flush(DEADLINE)
        # all eight acknowledged by the router: nothing was dropped while it was away
        assert publisher.stats.dropped == 0 and publisher.stats.queued == 8
        assert publisher.stats.acked == 8
    finally:
        publisher.close(1)


@pytest.mark.parametrize('path', ['at-once', 'after-commit', 'publisher-in-a-view'])
def test_the_request_path_never_waits_and_counts_its_drops(path):
    # Nothing listens on the router URL; a wait would last ten minutes.
    raw = router_settings(**{'livehub.queue_size': '5', 'livehub.publish_block_timeout': '600'})
    use_tm = path == 'after-commit'

    def many_view(request):
        for n in range(20):
            if path == 'publisher-in-a-view':  # not request.livehub: the publisher itself
                get_publisher(request.registry).publish('app.request.nowait', n)
            else:
                request.livehub.publish('app.request.nowait', n)
        return {'ok': True}

    def configure(config):
        config.add_route('many', '/many')
        config.add_view(many_view, route_name='many', renderer='json')
    app = make_testapp(raw, include=['pyramid_tm'] * use_tm + ['pyramid_livehub'],
                       configure=configure)
    publisher = get_publisher(app.app.registry)
    responses = []
    try:
        request = in_thread(lambda: responses.append(app.get('/many').json))
        request.join(DEADLINE)
        assert responses == [{'ok': True}], 'the request waited for the router'
        assert publisher.stats.queued == 20 and publisher.stats.dropped == 15
        assert publisher.pending() == 5
    finally:
        publisher.close(0)


def test_after_a_wait_ran_out_later_calls_drop_at_once_until_there_is_room(caplog):
    caplog.set_level(logging.WARNING, logger='pyramid_livehub.publisher')
    publisher = Publisher(parse_settings(router_settings(**{
        'livehub.queue_size': '5', 'livehub.publish_block_timeout': '0.3'})))
    try:
        for i in range(6):  # the sixth waits 0.3 s, then the oldest goes
            publisher.publish('app.gaveup', i)
        assert publisher.stats.dropped == 1
        lines = [r.getMessage() for r in caplog.records if 'after waiting' in r.getMessage()]
        assert len(lines) == 1 and 'livehub.publish_block_timeout' in lines[0], lines
        # Router still away: without the give-up these 1000 would take 300 s.
        burst = in_thread(lambda: [publisher.publish('app.gaveup', i) for i in range(1000)])
        burst.join(DEADLINE)
        assert not burst.is_alive() and publisher.stats.dropped == 1001
        assert sum('after waiting' in r.getMessage() for r in caplog.records) == 1
        # Room again (as a drain would make it): the next full queue waits again.
        assert publisher._wait_gave_up
        publisher._queue.get_batch(1)
        publisher.publish('app.gaveup', 'room')
        assert not publisher._wait_gave_up and publisher.stats.dropped == 1001
        publisher.publish('app.gaveup', 'waits')  # 0.3 s, then dropped again
        assert publisher._wait_gave_up and publisher.stats.dropped == 1002
    finally:
        publisher.close(0)


def test_publishing_from_the_publishers_own_loop_or_another_asyncio_loop_never_waits():
    publisher = Publisher(parse_settings(router_settings(**{
        'livehub.queue_size': '2', 'livehub.publish_block_timeout': '600'})))
    try:
        publisher.publish('app.loop', 0)
        publisher.publish('app.loop', 1)  # full; the router is away
        returned = threading.Event()

        def from_own_loop():
            publisher.publish('app.loop', 'own')  # waiting here would stop the drain itself
            returned.set()
        assert publisher._background.call_soon(from_own_loop)
        assert returned.wait(DEADLINE), 'publish() in the publisher thread waited'

        async def from_async_app():
            publisher.publish('app.loop', 'async')
        other = in_thread(lambda: asyncio.run(from_async_app()))
        other.join(DEADLINE)
        assert not other.is_alive(), 'publish() in an asyncio app waited'
        assert publisher.stats.dropped == 2
    finally:
        publisher.close(0)


def test_close_releases_a_script_thread_waiting_for_room():
    publisher = Publisher(parse_settings(router_settings(**{
        'livehub.queue_size': '1', 'livehub.publish_block_timeout': '600'})))
    publisher.publish('app.close', 0)
    waiting = in_thread(lambda: publisher.publish('app.close', 1))
    wait_for(lambda: publisher._queue._cond._waiters, 'the script thread to wait for room',
             DEADLINE)
    publisher.close(0)
    waiting.join(DEADLINE)
    assert not waiting.is_alive() and publisher.stats.dropped == 1


def test_close_0_with_the_router_connected_does_not_call_it_unreachable(router, caplog):
    caplog.set_level(logging.WARNING, logger='pyramid_livehub.publisher')
    publisher = Publisher(router.settings)
    publisher.publish('app.close0', 1)
    assert publisher.flush(DEADLINE) and publisher.connected
    publisher.close(0)
    assert [r.getMessage() for r in caplog.records] == []

