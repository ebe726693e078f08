"""Who waits for room in a full queue, and how long: the pure parts of the policy.

The publisher itself against real routers is in
``tests/integration/test_publish_burst.py``.
"""
import asyncio
import logging
import threading

import pytest
import sqlalchemy as sa
from pyramid import testing
from pyramid.exceptions import ConfigurationError
from sqlalchemy.orm import Session

from pyramid_livehub._queue import BoundedQueue, QueueFull
from pyramid_livehub._request import RequestPublisher
from pyramid_livehub.models import publish_model_changes
from pyramid_livehub.publisher import _outside_event_loop
from pyramid_livehub.settings import parse_settings
from tests.support.models import Models
from tests.support.twisted_cases import assert_twisted_cases_pass

DEADLINE = 60.0


def test_the_setting_defaults_to_a_few_seconds_and_refuses_negative_values():
    assert parse_settings({})['publish_block_timeout'] == 5.0
    assert parse_settings({'livehub.publish_block_timeout': '0'})['publish_block_timeout'] == 0
    with pytest.raises(ConfigurationError, match='livehub.publish_block_timeout'):
        parse_settings({'livehub.publish_block_timeout': '-1'})


def test_a_waiting_put_takes_the_room_a_reader_makes_and_drops_nothing():
    queue = BoundedQueue(1)
    queue.put('first')
    results = []
    writer = threading.Thread(target=lambda: results.append(queue.put('second', DEADLINE)))
    writer.start()
    # the reader runs only once the writer waits, so the room is made during the wait
    while not queue._cond._waiters:
        writer.join(0.01)
    assert queue.get_batch(1) == ['first']
    writer.join(DEADLINE)
    assert results == [False] and queue.dropped == 0 and queue.get_batch(1) == ['second']


def test_a_wait_that_runs_out_drops_the_oldest_and_says_how_long_it_waited(caplog):
    caplog.set_level(logging.WARNING)
    queue = BoundedQueue(1, name='q', logger=logging.getLogger('test.q'),
                         hint='raise livehub.publish_block_timeout')
    queue.put('old')
    assert queue.put('new', 0.05) is True
    assert queue.dropped == 1 and queue.get_batch(5) == ['new']
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith('q full (1; raise livehub.publish_block_timeout), oldest dropped '
                           'after waiting ')
    assert line.endswith('s for room; 1 dropped so far')


def test_raise_policy_raises_after_the_wait():
    queue = BoundedQueue(1, 'raise', name='q')
    queue.put('a')
    with pytest.raises(QueueFull, match=r'q is full \(1\) after waiting .*s for room'):
        queue.put('b', 0.05)
    assert queue.dropped == 0 and len(queue) == 1


def test_release_waiters_ends_a_long_wait_at_once():
    queue = BoundedQueue(1)
    queue.put('a')
    results = []
    writer = threading.Thread(target=lambda: results.append(queue.put('b', 600)))
    writer.start()
    while not queue._cond._waiters:
        writer.join(0.01)
    queue.release_waiters()
    writer.join(DEADLINE)
    assert results == [True] and queue.dropped == 1


def test_a_thread_running_an_asyncio_loop_is_recognised():
    async def inside():
        return _outside_event_loop()
    assert _outside_event_loop() is True
    assert asyncio.run(inside()) is False


def test_a_twisted_reactor_thread_is_recognised():
    assert_twisted_cases_pass('publish_wait_cases.py')


def test_may_wait_can_veto_the_wait_and_is_asked_only_when_full():
    asked = []

    def never():
        asked.append(True)
        return False
    queue = BoundedQueue(1)
    assert queue.put('a', 600, never) is False and asked == []
    assert queue.put('b', 600, never) is True  # no ten-minute wait: vetoed
    assert asked == [True] and queue.dropped == 1


class BlockRecorder:
    """Records the ``block`` argument each ``enqueue`` got (the policy's output)."""

    def __init__(self):
        self.settings = parse_settings({})
        self.blocks = []

    def enqueue(self, topic, args, kwargs, block=True):
        self.blocks.append(block)


def test_the_request_path_never_asks_to_wait():
    recorder = BlockRecorder()
    request = testing.DummyRequest()
    publisher = RequestPublisher(request, recorder)
    publisher.publish('app.x', 1)              # no transaction manager: at once
    publisher.publish_immediately('app.x', 2)
    assert recorder.blocks == [False, False]


def test_live_models_wait_in_a_script_but_not_during_a_request():
    models = Models(sa.create_engine('sqlite://'))
    recorder = BlockRecorder()
    publish_model_changes(models.Order, recorder)
    try:
        with Session(models.engine) as session:   # a script's commit
            session.add(models.Order(title='script'))
            session.commit()
        testing.setUp(request=testing.DummyRequest())
        try:
            with Session(models.engine) as session:   # a commit while a request runs
                session.add(models.Order(title='request'))
                session.commit()
        finally:
            testing.tearDown()
        assert recorder.blocks == [True, False]
    finally:
        models.drop()
