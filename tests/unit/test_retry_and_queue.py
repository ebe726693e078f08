"""Unit tests of the runtime helpers: the reconnect policy and the bounded queue."""
import logging
import threading

import pytest

from pyramid_livehub._queue import LOG_EVERY, LOG_FIRST, BoundedQueue, QueueFull, should_log
from pyramid_livehub._retry import RetryPolicy
from pyramid_livehub.settings import parse_settings


# -- RetryPolicy ----------------------------------------------------------------------

def test_retry_policy_documented_defaults_are_the_settings_defaults():
    import pyramid_livehub._retry as module
    settings = parse_settings({})
    policy = RetryPolicy.from_settings(settings)
    plain = RetryPolicy()
    for name in ('initial_retry_delay', 'max_retry_delay', 'retry_delay_growth',
                 'retry_delay_jitter', 'max_retries'):
        assert getattr(policy, name) == getattr(plain, name) == settings[name], name
        assert '``%s = %r``' % (name, settings[name]) in module.__doc__, name


def test_retry_policy_follows_the_documented_formula_and_sequence():
    import pyramid_livehub._retry as module
    exact = RetryPolicy(retry_delay_jitter=0.0)
    sequence = [exact.next() for _ in range(8)]
    assert sequence == [0.5, 0.75, 1.125, 1.6875, 2.53125, 3.796875, 5.0, 5.0]
    assert ', '.join(repr(d) for d in sequence[:7]) in module.__doc__
    # the jitter stretches each delay by up to retry_delay_jitter, never shrinks it
    highest = RetryPolicy(rand=lambda: 0.999999)
    assert [round(highest.delay(n), 4) for n in (0, 6)] == [0.55, 5.5]
    assert RetryPolicy(rand=lambda: 0.0).delay(3) == 1.6875


def test_retry_policy_resets_after_a_success_and_counts_retries():
    policy = RetryPolicy(retry_delay_jitter=0.0, max_retries=2)
    assert (policy.next(), policy.exhausted) == (0.5, False)
    assert (policy.next(), policy.exhausted) == (0.75, True)
    policy.reset()
    assert (policy.next(), policy.exhausted) == (0.5, False)
    assert not RetryPolicy(max_retries=-1).exhausted


def test_retry_policy_drives_autobahn_transports_with_the_same_delays():
    import txaio
    txaio.use_asyncio()
    from autobahn.asyncio.component import Component
    component = Component(transports=[{'type': 'rawsocket', 'url': 'rs://127.0.0.1:1',
                                       'serializer': 'json', 'max_retries': 2}], realm='r')
    RetryPolicy(retry_delay_jitter=0.0).install(component)
    transport = component._transports[0]
    delays = []
    while transport.can_reconnect():
        delays.append(transport.next_delay())
        transport.connect_attempts += 1          # what Autobahn does per attempt
    assert delays == [0, 0.5, 0.75]             # first attempt at once, then max_retries=2
    RetryPolicy.joined(component)                # a session joined: the count starts again
    assert transport.can_reconnect() and transport.next_delay() == 0.5


def test_paho_gets_the_nearest_equivalent():
    assert RetryPolicy(0.25, 8.0).paho_delays() == {'min_delay': 0.25, 'max_delay': 8.0}


# -- BoundedQueue -----------------------------------------------------------------------

def test_should_log_the_first_ones_then_every_nth():
    logged = [n for n in range(1, 3 * LOG_EVERY + 1) if should_log(n)]
    assert logged == list(range(1, LOG_FIRST + 1)) + [LOG_EVERY, 2 * LOG_EVERY, 3 * LOG_EVERY]


def test_queue_drop_oldest_counts_and_logs_at_a_limited_rate(caplog):
    caplog.set_level(logging.WARNING)
    queue = BoundedQueue(2, name='test queue', logger=logging.getLogger('test.queue'))
    results = [queue.put(i) for i in range(2 + 1500)]
    assert results[:2] == [False, False] and all(results[2:])
    assert queue.dropped == 1500 and queue.get_batch(10) == [1500, 1501]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == LOG_FIRST + 1
    assert lines[0] == 'test queue full (2), oldest dropped; 1 dropped so far'
    assert lines[-1].endswith('; 1000 dropped so far')


def test_queue_drop_newest_keeps_what_is_there():
    queue = BoundedQueue(2, 'drop_newest')
    assert [queue.put(i) for i in range(4)] == [False, False, True, True]
    assert queue.get_batch(10) == [0, 1] and queue.dropped == 2


def test_queue_raise_refuses_with_the_hint_and_drops_nothing():
    queue = BoundedQueue(1, 'raise', name='the publisher queue', hint='raise livehub.queue_size')
    queue.put('a')
    with pytest.raises(QueueFull, match='the publisher queue is full .1; raise livehub.queue_size'):
        queue.put('b')
    assert queue.dropped == 0 and len(queue) == 1


def test_queue_refuses_an_unknown_overflow_policy():
    with pytest.raises(ValueError, match='drop_oldest, drop_newest, raise'):
        BoundedQueue(1, 'drop_random')


def test_queue_put_back_returns_items_in_order_and_counts_what_does_not_fit():
    queue = BoundedQueue(3)
    queue.put('new')
    assert queue.put_back(['a', 'b', 'c']) == 1
    assert queue.get_batch(10) == ['a', 'b', 'new'] and queue.dropped == 1


def test_queue_close_releases_a_blocked_reader_without_consuming():
    queue = BoundedQueue(5)
    got = []
    reader = threading.Thread(target=lambda: got.append(queue.get_batch(1, timeout=None)))
    reader.start()
    queue.put('x')
    reader.join(5)
    assert got == [['x']]
    reader = threading.Thread(target=lambda: got.append(queue.get_batch(1, timeout=None)))
    reader.start()
    queue.put('left')
    queue.close()
    reader.join(5)
    assert not reader.is_alive() and len(queue) in (0, 1)


def test_queue_logs_to_a_twisted_style_logger():
    class TxaioLike:
        def __init__(self):
            self.lines = []

        def warn(self, fmt, **kw):
            self.lines.append(fmt.format(**kw))
    logger = TxaioLike()
    queue = BoundedQueue(1, name='livehub bridge amqp: outbound queue', logger=logger,
                         hint='broker away?')
    queue.put(1)
    queue.put(2)
    assert logger.lines == ['livehub bridge amqp: outbound queue full (1; broker away?), '
                            'oldest dropped; 1 dropped so far']
