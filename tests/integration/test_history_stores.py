"""The history stores: one suite, run against the memory store and real Redis."""

import pytest

from pyramid_livehub.history.settings import HistoryRules
from pyramid_livehub.history.stores import (
    SCRIPT_EVENTS,
    MemoryStore,
    NoHistory,
    RedisStore,
    open_store,
)

REDIS_URL = 'redis://127.0.0.1:6379/0'

RULES = HistoryRules(['app.orders.** 10 60', 'app.big.* 1000'])


class Clock:
    """A settable clock, so that age limits are tested without waiting."""

    def __init__(self):
        self.now = 1000000.0

    def __call__(self):
        return self.now


@pytest.fixture(params=['memory', 'redis'])
def make_store(request):
    """Factory of a store of each kind sharing one clock; Redis under a unique prefix."""
    clock = Clock()
    stores = []

    def make(rules=RULES, **options):
        if request.param == 'memory':
            store = MemoryStore(rules, clock=clock, **options)
        else:
            store = RedisStore(rules, url=REDIS_URL, prefix=request.getfixturevalue(
                'redis_prefix'), clock=clock, **options)
        stores.append(store)
        return store

    make.clock = clock
    make.kind = request.param
    yield make
    for store in stores:
        store.close()


def offsets(result):
    return [event['offset'] for event in result['events']]


def test_offsets_grow_by_one_per_event_per_topic(make_store):
    store = make_store()
    a = [store.append('app.orders.a', [i], {})['offset'] for i in range(3)]
    b = [store.append('app.orders.b', [i], {})['offset'] for i in range(2)]
    assert a == [1, 2, 3]
    assert b == [1, 2]
    assert store.position('app.orders.a') == {'epoch': store.epoch, 'offset': 3}
    assert store.stats()['appended'] == 5


def test_unknown_topic_is_at_offset_zero_of_the_epoch_its_first_event_gets(make_store):
    store = make_store()
    before = store.position('app.orders.new')
    assert before['offset'] == 0
    first = store.append('app.orders.new', [], {})
    assert (first['epoch'], first['offset']) == (before['epoch'], 1)


def test_fetch_since_returns_what_came_after_in_order(make_store):
    store = make_store()
    for i in range(6):
        store.append('app.orders.a', [i, b'raw'], {'n': i, 'nested': {'x': [1, 2]}})
    result = store.fetch('app.orders.a', since=3)
    assert result['complete'] is True
    assert offsets(result) == [4, 5, 6]
    assert result['events'][0]['args'] == [3, b'raw']
    assert result['events'][0]['kwargs'] == {'n': 3, 'nested': {'x': [1, 2]}}
    assert (result['first'], result['last'], result['epoch']) == (1, 6, store.epoch)
    assert store.fetch('app.orders.a', since=6) == dict(result, events=[])


def test_fetch_pages_with_limit_and_late_join_gets_the_newest(make_store):
    store = make_store()
    for i in range(8):
        store.append('app.orders.a', [i], {})
    assert offsets(store.fetch('app.orders.a', since=0, limit=3)) == [1, 2, 3]
    assert offsets(store.fetch('app.orders.a', since=3, limit=3)) == [4, 5, 6]
    late = store.fetch('app.orders.a', limit=3)
    assert offsets(late) == [6, 7, 8] and late['complete'] is True
    assert offsets(store.fetch('app.orders.a', limit=0)) == []
    assert offsets(store.fetch('app.orders.a')) == list(range(1, 9))


def test_size_bound_keeps_the_newest_and_reports_an_uncovered_since(make_store):
    store = make_store()
    for i in range(250):
        store.append('app.orders.a', [i], {})
    gap = store.fetch('app.orders.a', since=200)
    assert gap['complete'] is False
    assert (gap['first'], gap['last']) == (241, 250)
    assert offsets(gap) == list(range(241, 251))
    assert offsets(store.fetch('app.orders.a', since=200, limit=4)) == [241, 242, 243, 244]
    covered = store.fetch('app.orders.a', since=240)
    assert covered['complete'] is True and offsets(covered) == list(range(241, 251))
    assert store.stats()['trimmed'] >= 100  # Redis trims whole stream nodes (MAXLEN ~)


def test_age_bound_drops_old_events(make_store):
    store = make_store()
    for i in range(3):
        store.append('app.orders.a', [i], {})
    make_store.clock.now += 61
    for i in range(2):
        store.append('app.orders.a', [i], {})
    result = store.fetch('app.orders.a', since=0)
    assert result['complete'] is False
    assert offsets(result) == [4, 5] and result['first'] == 4
    make_store.clock.now += 61
    empty = store.fetch('app.orders.a', since=5)
    assert empty['complete'] is True and empty['events'] == [] and empty['first'] == 6
    assert store.fetch('app.orders.a', since=4)['complete'] is False


def test_a_resent_msgid_is_dropped_and_gets_its_first_position(make_store):
    store = make_store()
    first = store.append('app.orders.a', ['x'], {}, msgid='m1')
    store.append('app.orders.a', ['y'], {}, msgid='m2')
    again = store.append('app.orders.a', ['x'], {}, msgid='m1')
    assert again == dict(first, duplicate=True)
    assert offsets(store.fetch('app.orders.a', since=0)) == [1, 2]
    assert [e['msgid'] for e in store.fetch('app.orders.a', since=0)['events']] == ['m1', 'm2']
    other_topic = store.append('app.orders.b', ['x'], {}, msgid='m1')
    assert other_topic['duplicate'] is False
    stats = store.stats()
    assert (stats['duplicates'], stats['appended']) == (1, 3)


def test_the_dedupe_window_keeps_the_newest_message_ids(make_store):
    store = make_store(dedupe_window=5)
    for n in range(1, 13):
        store.append('app.big.x', [n], {}, msgid='id%d' % n)
    for n in range(8, 13):  # the newest five: dropped, first position returned
        assert store.append('app.big.x', [n], {}, msgid='id%d' % n) == dict(
            store.position('app.big.x'), offset=n, duplicate=True)
    # older than the window: stored again (the documented limit of the bound)
    assert store.append('app.big.x', [1], {}, msgid='id1')['offset'] == 13


def test_redis_dedupe_ids_live_in_one_bounded_expiring_set_per_topic(redis_prefix):
    import redis
    client = redis.Redis.from_url(REDIS_URL)
    store = RedisStore(RULES, url=REDIS_URL, prefix=redis_prefix, dedupe_window=100,
                       dedupe_seconds=30)
    for start in range(0, 1000, 250):
        store.append_many([('app.big.x', [n], {}, 'msg-%d' % n) for n in range(start, start + 250)])
    store.append('app.orders.a', [], {}, msgid='other')
    store.append('app.orders.a', [], {})  # no msgid: nothing remembered
    dedupe = redis_prefix + 'd:app.big.x'
    assert client.zcard(dedupe) == 100  # bounded per topic, not one key per event
    assert client.zrange(dedupe, 0, 0, withscores=True) == [(b'msg-900', 901.0)]
    assert 0 < client.ttl(dedupe) <= 30  # an idle topic forgets its ids
    assert client.zcard(redis_prefix + 'd:app.orders.a') == 1
    keys = {key.decode()[len(redis_prefix):].split(':')[0]
            for key in client.scan_iter(redis_prefix + '*')}
    assert keys == {'epoch', 'n', 's', 'd'}
    assert store.append('app.big.x', [999], {}, msgid='msg-999')['duplicate'] is True
    store.close()
    client.close()


def test_append_many_keeps_order_and_drops_duplicates_inside_the_batch(make_store):
    store = make_store()
    results = store.append_many([('app.orders.a', [1], {}, 'a'), ('app.big.x', [2], {}, 'b'),
                                 ('app.orders.a', [3], {}, 'a'), ('app.orders.a', [4], {}, None)])
    assert [(r['offset'], r['duplicate']) for r in results] == [
        (1, False), (1, False), (1, True), (2, False)]


def test_a_large_batch_keeps_offsets_contiguous_and_drops_resends_across_its_parts(make_store):
    # More events than one Redis script call takes (SCRIPT_EVENTS), two topics mixed,
    # and a resend far from its first copy: positions as if appended one by one.
    store = make_store()
    count = SCRIPT_EVENTS * 2 + 10
    items = [('app.big.%s' % 'xy'[n % 2], [n], {}, 'id%d' % n) for n in range(count)]
    items.append(('app.big.x', [0], {}, 'id0'))
    results = store.append_many(items)
    assert [r['offset'] for r in results[:-1:2]] == list(range(1, count // 2 + 1))
    assert [r['offset'] for r in results[1::2]] == list(range(1, count // 2 + 1))
    assert results[-1] == dict(results[0], duplicate=True)
    assert not any(r['duplicate'] for r in results[:-1])
    assert store.position('app.big.x')['offset'] == count // 2
    assert offsets(store.fetch('app.big.y', since=count // 2 - 2)) == [count // 2 - 1,
                                                                      count // 2]


def test_another_epoch_or_a_future_since_is_not_covered(make_store):
    store = make_store()
    for i in range(4):
        store.append('app.orders.a', [i], {})
    wrong_epoch = store.fetch('app.orders.a', since=2, limit=2, epoch='not-this-one')
    assert wrong_epoch['complete'] is False and offsets(wrong_epoch) == [3, 4]
    future = store.fetch('app.orders.a', since=9)
    assert future['complete'] is False and offsets(future) == [1, 2, 3, 4]
    same = store.fetch('app.orders.a', since=2, epoch=store.epoch)
    assert same['complete'] is True and offsets(same) == [3, 4]


def test_topics_without_a_history_line_are_refused(make_store):
    store = make_store()
    for call in (lambda: store.append('app.other', [], {}), lambda: store.fetch('app.other'),
                 lambda: store.position('app.orders')):
        with pytest.raises(NoHistory, match='livehub.history'):
            call()


def test_memory_store_evicts_the_topic_written_longest_ago():
    store = MemoryStore(RULES, max_topics=2)
    store.append('app.orders.a', [], {})
    store.append('app.orders.b', [], {})
    store.append('app.orders.a', [], {})
    store.append('app.orders.c', [], {})  # b was written longest ago
    assert store.stats()['evicted_topics'] == 1
    assert store.position('app.orders.a')['offset'] == 2
    assert store.position('app.orders.c') == {'epoch': store.epoch, 'offset': 1}
    again = store.append('app.orders.b', [], {})
    assert again['offset'] == 1 and again['epoch'] != store.epoch  # never reuse offsets
    assert store.stats()['evicted_topics'] == 2
    assert store.fetch('app.orders.b', since=1, epoch=store.epoch)['complete'] is False


def test_memory_store_epoch_is_new_per_store():
    assert MemoryStore(RULES).epoch != MemoryStore(RULES).epoch


def test_redis_store_survives_a_restart_with_the_same_epoch(redis_prefix):
    store = RedisStore(RULES, url=REDIS_URL, prefix=redis_prefix)
    for i in range(3):
        store.append('app.orders.a', [i], {}, msgid='id%d' % i)
    epoch = store.epoch
    store.close()
    restarted = RedisStore(RULES, url=REDIS_URL, prefix=redis_prefix)
    assert restarted.position('app.orders.a') == {'epoch': epoch, 'offset': 3}
    assert restarted.append('app.orders.a', [2], {}, msgid='id2')['duplicate'] is True
    assert restarted.append('app.orders.a', [3], {})['offset'] == 4
    result = restarted.fetch('app.orders.a', since=1, epoch=epoch)
    assert result['complete'] is True and offsets(result) == [2, 3, 4]
    restarted.close()


def test_open_store_reads_the_setting(redis_prefix):
    assert isinstance(open_store('memory', RULES, max_topics=5), MemoryStore)
    store = open_store(REDIS_URL + '?prefix=' + redis_prefix, RULES)
    assert isinstance(store, RedisStore) and store.prefix == redis_prefix
    store.append('app.orders.a', [], {})
    store.close()


def test_redis_store_reloads_its_script_after_redis_forgot_it(redis_prefix):
    store = RedisStore(RULES, url=REDIS_URL, prefix=redis_prefix)
    store.append('app.orders.a', [], {})
    store._sha = '0' * 40  # what a Redis restart or SCRIPT FLUSH leaves behind
    assert [r['offset'] for r in store.append_many([('app.orders.a', [], {}, 'x'),
                                                    ('app.orders.a', [], {}, 'x')])] == [2, 2]
    assert store.position('app.orders.a')['offset'] == 2
    store.close()
