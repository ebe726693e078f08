"""The history component in a real crossbar node: publish -> position -> fetch since."""
import asyncio

import pytest

from pyramid_livehub import settings as settings_module
from pyramid_livehub._session import run_with_session
from pyramid_livehub.router.process import RouterProcess, free_port

POSITION = 'livehub_position'


def start_router(settings, cbdir):
    node = RouterProcess(settings, cbdir)
    node.start(timeout=120, wait_for_log='livehub history: ready')
    return node


def in_session(settings, scenario, timeout=30.0):
    """Run ``await scenario(session)`` in a backend WAMP session; return its result."""
    return run_with_session(settings, scenario, timeout, name='history-test', max_retries=3)


async def wait_until(condition, timeout=10.0):
    """Poll ``condition()`` on the loop until true (fails after ``timeout``)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError('condition not met within %ss' % timeout)
        await asyncio.sleep(0.02)


def history_settings(store='memory'):
    return settings_module.parse_settings({
        'livehub.router_url': 'rs://127.0.0.1:%d' % free_port(),
        'livehub.browser_url': 'ws://127.0.0.1:%d/ws' % free_port(),
        'livehub.history': 'app.orders.** 100 3600',
        'livehub.history_store': store,
    })


@pytest.mark.parametrize('store', ['memory', 'redis'])
def test_events_carry_positions_resends_are_dropped_and_fetch_since_recovers(
        store, redis_store_url, tmp_path):
    settings = history_settings(redis_store_url if store == 'redis' else 'memory')
    node = start_router(settings, str(tmp_path / 'node'))
    try:
        async def scenario(session):
            from autobahn.wamp.types import SubscribeOptions
            received = []
            await session.subscribe(lambda *a, **kw: received.append((a, kw)), 'app.',
                                    options=SubscribeOptions(match='prefix'))
            acks = []
            for i in range(5):
                acks.append(await session.call('livehub.history.publish', 'app.orders.1',
                                               [i], {'n': i}, 'msg-%d' % i))
            resend = await session.call('livehub.history.publish', 'app.orders.1', [1],
                                        {'n': 1}, 'msg-1')
            plain = await session.call('livehub.history.publish', 'app.misc', ['x'])
            batch = await session.call('livehub.history.publish_batch',
                                       [['app.orders.2', [7], {}, 'b-1'],
                                        ['app.orders.1', [5], {}, None]])
            # The component publishes in call order: once this marker is here, a
            # duplicate (had the resend been published) would have arrived before it.
            await session.call('livehub.history.publish', 'app.misc', ['marker'])
            await wait_until(lambda: (('marker',), {}) in received)
            received.remove((('marker',), {}))
            position = await session.call('livehub.history.position', 'app.orders.1')
            since = await session.call('livehub.history.fetch', 'app.orders.1', 2)
            late = await session.call('livehub.history.fetch', 'app.orders.1', None, 2)
            stats = await session.call('livehub.history.stats')
            return acks, resend, plain, batch, received, position, since, late, stats

        acks, resend, plain, batch, received, position, since, late, stats = in_session(
            settings, scenario)
    except BaseException:
        print(node.log_tail(60))
        raise
    finally:
        node.stop()
    epoch = acks[0]['epoch']
    assert [a['offset'] for a in acks] == [1, 2, 3, 4, 5]
    assert resend == {'epoch': epoch, 'offset': 2, 'duplicate': True}
    assert plain is None
    assert [(b['offset'], b['duplicate']) for b in batch] == [(1, False), (6, False)]
    orders = [(kw[POSITION]['offset'], a[0]) for a, kw in received
              if POSITION in kw and kw[POSITION]['epoch'] == epoch and a[0] != 7]
    assert orders == [(1, 0), (2, 1), (3, 2), (4, 3), (5, 4), (6, 5)]  # in order, once each
    assert received[0][1][POSITION] == {'epoch': epoch, 'offset': 1, 'msgid': 'msg-0'}
    assert (('x',), {}) in received  # the plain topic: published, no position
    assert len(received) == 8
    assert position == {'epoch': epoch, 'offset': 6}
    assert since['complete'] is True and since['epoch'] == epoch
    assert [(e['offset'], e['kwargs'].get('n')) for e in since['events']] == [
        (3, 2), (4, 3), (5, 4), (6, None)]
    assert [e['offset'] for e in late['events']] == [5, 6]
    assert stats['duplicates'] == 1 and stats['appended'] == 7 and stats['store'] == store


@pytest.mark.parametrize('store', ['memory', 'redis'])
def test_router_restart_keeps_the_stream_only_with_redis(store, redis_store_url,
                                                         tmp_path):
    settings = history_settings(redis_store_url if store == 'redis' else 'memory')

    async def publish_three(session):
        return [await session.call('livehub.history.publish', 'app.orders.9', [i])
                for i in range(3)]

    async def after_restart(session):
        position = await session.call('livehub.history.position', 'app.orders.9')
        fetched = await session.call('livehub.history.fetch', 'app.orders.9', 1, None, epoch)
        return position, fetched

    node = start_router(settings, str(tmp_path / 'first'))
    try:
        acks = in_session(settings, publish_three)
    finally:
        node.stop()
    epoch = acks[0]['epoch']
    node = start_router(settings, str(tmp_path / 'second'))
    try:
        position, fetched = in_session(settings, after_restart)
    finally:
        node.stop()
    if store == 'redis':
        assert position == {'epoch': epoch, 'offset': 3}
        assert fetched['complete'] is True
        assert [e['args'] for e in fetched['events']] == [[1], [2]]
    else:
        assert position['epoch'] != epoch and position['offset'] == 0
        assert fetched['complete'] is False and fetched['events'] == []
