"""The history forwarder's logic (order, hold and retry, bounds, counters), with a fake
session whose calls the test answers, and a fake clock."""
import pytest
from autobahn.wamp.exception import ApplicationError
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from pyramid_livehub.router import history_forward
from pyramid_livehub.router.history_forward import HistoryForwarder


class Log:
    def __init__(self):
        self.lines = []

    def _record(self, level):
        return lambda _format, **kw: self.lines.append((level, _format.format(**kw)))

    def __getattr__(self, level):
        return self._record(level)


class Session:
    """Records publish_batch calls; the test answers each with ok() or refuse()."""

    def __init__(self):
        self.calls = []
        self.attached = True

    def is_attached(self):
        return self.attached

    def call(self, procedure, events):
        assert procedure == 'livehub.history.publish_batch'
        d = Deferred()
        self.calls.append((events, d))
        return d

    def ok(self, index=-1):
        events, d = self.calls[index]
        d.callback([{'epoch': 'e', 'offset': i, 'duplicate': False} for i, _ in enumerate(events)])

    def refuse(self, uri, index=-1):
        self.calls[index][1].errback(ApplicationError(uri, 'refused on purpose'))


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(history_forward, 'reactor', clock)
    return clock


@pytest.fixture
def parts(clock):
    session, log, done, failed = Session(), Log(), [], []
    forwarder = HistoryForwarder(session, 'app.h.** 10', 3, 'test', log,
                                 on_published=done.extend,
                                 on_failed=lambda items, exc: failed.extend(items))
    return forwarder, session, log, done, failed


def topics(events):
    return [(event[0], event[1]) for event in events]


def test_only_history_topics_are_kept_and_the_reserved_key_is_refused(parts):
    forwarder = parts[0]
    assert forwarder.keeps_history('app.h.1') and not forwarder.keeps_history('app.x')
    assert not HistoryForwarder(parts[1], '', 3, 'test', parts[2]).keeps_history('app.h.1')
    with pytest.raises(ValueError, match='livehub_position.*reserved.*rename'):
        forwarder.add('app.h.1', [], {'livehub_position': 1})


def test_one_call_in_flight_the_rest_waits_and_goes_as_the_next_batch_in_order(parts):
    forwarder, session, _, done, _ = parts
    forwarder.add('app.h.1', [1], {}, 'a')
    forwarder.add('app.h.1', [2], {}, 'b')
    forwarder.add('app.h.2', [3], {}, 'c')
    assert [topics(events) for events, _ in session.calls] == [[('app.h.1', [1])]]
    session.ok()
    assert topics(session.calls[1][0]) == [('app.h.1', [2]), ('app.h.2', [3])]
    session.ok()
    assert [item[4] for item in done] == ['a', 'b', 'c']
    assert forwarder.counters() == {'positioned': 3, 'failed': 0, 'dropped': 0, 'retries': 0,
                                    'waiting': 0}
    msgids = [events[0][3] for events, _ in session.calls]
    assert len(set(msgids)) == 2 and all(m.startswith(forwarder.msgid_prefix) for m in msgids)


def test_no_component_yet_holds_retries_the_same_batch_and_logs_once(parts, clock):
    forwarder, session, log, done, _ = parts
    forwarder.add('app.h.1', [1], {})
    forwarder.add('app.h.1', [2], {})
    session.refuse('wamp.error.no_such_procedure')
    clock.advance(forwarder.RETRY_DELAY)
    session.refuse('wamp.error.no_such_procedure')
    clock.advance(forwarder.RETRY_DELAY)
    first, retried = session.calls[0][0], session.calls[2][0]
    assert retried == first  # same events, same msgids: the store drops a copy it has
    warnings = [text for level, text in log.lines if level == 'warn']
    assert len(warnings) == 1 and 'registers shortly after the router starts' in warnings[0]
    session.ok()
    session.ok()  # the event that waited behind it
    assert [item[1] for item in done] == [[1], [2]]
    assert forwarder.counters()['retries'] == 2
    assert any('took the held events again' in text for _, text in log.lines)


def test_beyond_the_bound_the_newest_are_dropped_and_counted(parts):
    forwarder, session, _, _, _ = parts
    forwarder.add('app.h.1', [0], {})  # in flight
    dropped = [forwarder.add('app.h.1', [n], {}) for n in range(1, 6)]
    assert dropped == [False, False, False, True, True]
    assert forwarder.counters()['dropped'] == 2 and forwarder.counters()['waiting'] == 4
    assert any('full (3; history component away?), newest dropped' in text
               for _, text in parts[2].lines)


def test_a_refusal_for_good_counts_the_batch_as_failed_and_goes_on(parts):
    forwarder, session, log, done, failed = parts
    forwarder.add('app.h.1', [1], {})
    forwarder.add('app.h.1', [2], {})
    session.refuse('livehub.history.invalid_argument')
    session.ok()
    assert [item[1] for item in failed] == [[1]] and [item[1] for item in done] == [[2]]
    assert forwarder.counters()['failed'] == 1
    assert any(level == 'error' and 'refused 1 event' in text for level, text in log.lines)


def test_close_counts_what_still_waits_as_failed(parts, clock):
    forwarder, session, log, _, _ = parts
    forwarder.add('app.h.1', [1], {})
    forwarder.add('app.h.1', [2], {})
    session.refuse('livehub.history.store_unavailable')  # a retry is scheduled
    forwarder.close()
    clock.advance(10)
    assert len(session.calls) == 1  # no retry after close
    assert forwarder.counters()['failed'] == 2 and forwarder.counters()['waiting'] == 0
    assert forwarder.add('app.h.1', [3], {}) is False and forwarder.failed == 3


def test_a_batch_in_flight_at_close_that_is_taken_after_all_counts_as_positioned(parts):
    forwarder, session, _, done, _ = parts
    forwarder.add('app.h.1', [1], {})  # in flight
    forwarder.add('app.h.1', [2], {})  # waiting behind it
    forwarder.close()
    assert forwarder.counters()['failed'] == 2
    session.ok(0)  # the component's answer was already on its way
    assert forwarder.counters()['failed'] == 1 and forwarder.counters()['positioned'] == 1
    assert [item[1] for item in done] == [[1]]
    assert len(session.calls) == 1  # nothing more is sent after close


def test_a_bridge_holds_history_events_in_its_inbound_queue_while_the_forwarder_is_full(
        parts, clock, monkeypatch):
    """Back-pressure, not drops: a durable bridge must not lose what its broker was told
    is delivered because the history component is slow."""
    from pyramid_livehub._queue import BoundedQueue
    from pyramid_livehub.router.bridges import base
    from pyramid_livehub.router.bridges.stats import BridgeStats
    from pyramid_livehub.router.component import DrainScheduler
    monkeypatch.setattr(base, 'reactor', clock)
    _, session, log, done, _ = parts
    bridge = object.__new__(base.BrokerBridge)
    forwarder = HistoryForwarder(session, 'app.h.** 10', 3, 'test', log,
                                 on_published=lambda items: (done.extend(items),
                                                             bridge._history_published(items)),
                                 on_failed=bridge._history_failed)
    bridge.name, bridge.log, bridge.stats = 'test', log, BridgeStats()
    bridge.inbound = BoundedQueue(100, name='inbound', logger=log)
    bridge.history = forwarder
    bridge._inbound_drain = DrainScheduler(bridge._drain_inbound, clock)
    bridge.publish = lambda *a, **kw: None
    for i in range(10):
        bridge.inbound.put(('app.h.x', [i], {}, 0.0))
    bridge._drain_inbound()
    # one batch in flight (1 event) and 3 waiting fill the forwarder's bound of 3
    assert forwarder.full() and len(bridge.inbound) == 6
    answered = 0
    while answered < len(session.calls):
        session.ok(answered)
        answered += 1
        clock.advance(0)  # the drain the answer scheduled
    assert [event[1][0] for event in done] == list(range(10))
    assert bridge.stats.dropped_inbound == 0 and forwarder.waiting.dropped == 0
    assert bridge.stats.published == 10 and len(bridge.inbound) == 0
