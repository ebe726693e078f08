"""The history component's logic, without a router (memory store, publish recorded)."""
import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import ComponentConfig

from pyramid_livehub.history import POSITION_KEY
from pyramid_livehub.history import component as component_module
from pyramid_livehub.history.component import HistoryComponent


@pytest.fixture
def component(monkeypatch):
    monkeypatch.setattr(component_module, '_STORES', {})  # a store of the test's own
    extra = {'history': [['app.orders.**', 3, None]], 'store': 'memory', 'max_topics': 10}
    session = HistoryComponent(ComponentConfig('livehub', extra=extra))
    session.sent = []
    session.publish = lambda topic, *args, **kwargs: session.sent.append((topic, args, kwargs))
    return session


def result_of(deferred):
    results = []
    deferred.addBoth(results.append)
    assert results, 'the memory store answers at once'
    return results[0]


def test_positions_are_published_in_the_reserved_key_and_returned(component):
    first = result_of(component.publish_event('app.orders.1', [1], {'a': 1}, 'm1'))
    second = result_of(component.publish_event('app.orders.1', [2]))
    assert (first['offset'], second['offset']) == (1, 2)
    assert component.sent[0] == ('app.orders.1', (1,), {'a': 1, POSITION_KEY: {
        'epoch': first['epoch'], 'offset': 1, 'msgid': 'm1'}})
    assert component.sent[1][2] == {POSITION_KEY: {'epoch': first['epoch'], 'offset': 2}}


def test_a_resend_is_acknowledged_but_not_published_again(component):
    result_of(component.publish_event('app.orders.1', [1], None, 'm1'))
    again = result_of(component.publish_event('app.orders.1', [1], None, 'm1'))
    assert again['duplicate'] is True and again['offset'] == 1
    assert len(component.sent) == 1


def test_topics_without_history_are_published_plain(component):
    results = result_of(component.publish_batch([['app.misc', ['x']],
                                                 ['app.orders.1', [], {}, 'b']]))
    assert results[0] is None and results[1]['offset'] == 1
    assert component.sent[0] == ('app.misc', ('x',), {})
    assert component.unpositioned == 1


def test_bad_calls_are_refused_with_a_reason(component):
    for call, uri in [(lambda: component.publish_event('app..x'), 'invalid_topic'),
                      (lambda: component.publish_event('app.x', 'abc'), 'invalid_argument'),
                      (lambda: component.publish_event('app.x', [], {POSITION_KEY: 1}),
                       'reserved_key'),
                      (lambda: component.fetch('app.orders.1', since=-1), 'invalid_argument')]:
        with pytest.raises(ApplicationError) as info:
            call()
        assert info.value.error == 'livehub.history.' + uri
    failure = result_of(component.fetch('app.misc'))
    assert failure.value.error == 'livehub.history.not_enabled'


def test_a_failed_live_publish_errors_the_call_but_the_event_is_kept(component):
    def lost(*args, **kwargs):
        raise RuntimeError('transport lost')
    component.publish = lost
    failure = result_of(component.publish_event('app.orders.1', [1], None, 'm1'))
    assert failure.value.error == 'livehub.history.publish_failed'
    fetched = result_of(component.fetch('app.orders.1', 0))
    assert [e['msgid'] for e in fetched['events']] == ['m1']
    assert component.publish_errors == 1


def test_fetch_and_position_answer_from_the_store(component):
    for i in range(5):
        result_of(component.publish_event('app.orders.1', [i]))
    position = result_of(component.position('app.orders.1'))
    fetched = result_of(component.fetch('app.orders.1', 1))
    assert position['offset'] == 5
    assert fetched['complete'] is False and [e['offset'] for e in fetched['events']] == [3, 4, 5]
    stats = result_of(component.stats())
    assert (stats['appended'], stats['published'], stats['trimmed']) == (5, 5, 2)


def test_a_component_created_again_in_the_same_process_keeps_the_stream(component):
    result_of(component.publish_event('app.orders.1', [1]))
    again = HistoryComponent(ComponentConfig('livehub', extra={
        'history': [['app.orders.**', 3, None]], 'store': 'memory', 'max_topics': 10}))
    assert again.store is component.store
    assert result_of(again.position('app.orders.1'))['offset'] == 1


def test_past_the_pending_bound_calls_are_refused_to_be_resent_and_counted(component, monkeypatch):
    monkeypatch.setattr(component_module, 'MAX_PENDING_EVENTS', 5)
    component._busy = True  # the store has a batch in hand: new calls wait
    first = component.publish_batch([['app.orders.1', [i], {}, 'm%d' % i] for i in range(3)])
    refused = result_of(component.publish_batch([['app.orders.1', [9], {}, 'm9']] * 3))
    assert refused.value.error == 'livehub.history.store_unavailable'
    assert 'busy' in refused.value.args[0] and component.busy_refusals == 1
    component._next_batch()  # the store is free again: what waited goes
    assert [p['offset'] for p in result_of(first)] == [1, 2, 3]
    again = result_of(component.publish_batch([['app.orders.1', [9], {}, 'm9']]))
    assert again[0]['offset'] == 4
    assert component.sent[-1][1] == (9,)


def test_a_large_call_is_taken_when_nothing_waits(component, monkeypatch):
    monkeypatch.setattr(component_module, 'MAX_PENDING_EVENTS', 2)
    results = result_of(component.publish_batch([['app.orders.1', [i], {}, 'm%d' % i]
                                                  for i in range(3)]))
    assert [p['offset'] for p in results] == [1, 2, 3] and component.busy_refusals == 0
