"""Acknowledged publishing through a router crash (issue 12 item 6), real crossbar and Redis.

The router is frozen (SIGSTOP) and then killed (SIGKILL) while the publisher
sends ~500 events/s to a history-enabled topic; freezing first makes sure
some events were written and never acknowledged, so the resend path runs
every time rather than when the kill happens to land between an event and
its acknowledgement.  The router comes back on the same ports with the
same Redis store (same epoch), the publisher resends, the router drops
what it had already stored, and a recovering subscriber sees every event
once, in order.
"""
import signal
import threading
import time

import psutil

from pyramid_livehub.publisher import Publisher
from pyramid_livehub.router.process import RouterProcess, port_open
from pyramid_livehub.settings import parse_settings
from pyramid_livehub.subscriber import Subscriber
from tests.support import wait_for
from tests.support.services import router_settings
from tests.support.tcpproxy import TcpProxy

TOPIC = 'app.orders.crash'


def node_processes(node):
    """The crossbar controller and its workers."""
    root = psutil.Process(node.process.pid)
    return [root] + root.children(recursive=True)


def freeze_then_kill(node):
    processes = node_processes(node)
    for process in processes:
        process.send_signal(signal.SIGSTOP)
    return processes


def kill(node, processes):
    for process in processes:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    node.process.wait()
    for process in processes:
        try:
            process.wait(10)
        except psutil.NoSuchProcess:
            pass
    deadline = time.monotonic() + 10
    while any(port_open(h, p) for h, p in node.endpoints()) and time.monotonic() < deadline:
        time.sleep(0.05)
    node.release_cbdir()  # the crashed node's directory lock: the restart takes it again


def restart(settings, cbdir):
    """The same node again (same ports, same Redis), logging to a fresh file."""
    node = RouterProcess(settings, cbdir, log_path=cbdir + '/restarted.log')
    return node.start(timeout=120, wait_for_log='livehub history: ready')


class PacedPublisher(threading.Thread):
    """Publishes ``{'i': n}`` at ``rate`` events/s until ``count`` are out."""

    def __init__(self, publisher, count, rate=500):
        super().__init__(daemon=True)
        self.publisher, self.count, self.rate = publisher, count, rate
        self.published = 0

    def run(self):
        start = time.perf_counter()
        for i in range(self.count):
            wait = start + i / self.rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            self.publisher.publish(TOPIC, {'i': i})
            self.published = i + 1


def crash_settings(redis_prefix, acks):
    return parse_settings(crash_raw_settings(redis_prefix, acks))


def crash_raw_settings(redis_prefix, acks):
    return (router_settings(**{
        'livehub.history': 'app.orders.** 100000',
        'livehub.history_store': 'redis://127.0.0.1:6379/0?prefix=' + redis_prefix,
        'livehub.publish_acks': str(acks).lower(),
        'livehub.initial_retry_delay': '0.05',
        'livehub.max_retry_delay': '0.2',
    }))


def test_acked_publisher_resends_after_sigkill_and_subscriber_gets_each_event_once_in_order(
        redis_prefix, tmp_path):
    raw = crash_raw_settings(redis_prefix, acks=True)
    settings = parse_settings(raw)
    cbdir = str(tmp_path / 'node')
    node = RouterProcess(settings, cbdir).start(timeout=120, wait_for_log='livehub history: ready')
    publisher = Publisher(settings)
    router_port = int(settings['router_url'].rsplit(':', 1)[1])
    # The subscriber reaches the router through a proxy that stays shut after
    # the restart until 200 more events were acknowledged: those reach it only
    # through recovery, however fast the router and the publisher come back.
    proxy = TcpProxy(('127.0.0.1', router_port))
    subscriber = None
    count = 2500
    try:
        assert publisher.connect(10)
        subscriber = Subscriber(raw, TOPIC, url='rs://127.0.0.1:%d' % proxy.port).start()
        sender = PacedPublisher(publisher, count)
        sender.start()
        wait_for(lambda: publisher.stats.acked >= 500, '500 acknowledged events', timeout=30)
        processes = freeze_then_kill(node)
        proxy.block()
        written = publisher.stats.sent
        wait_for(lambda: publisher.stats.sent >= written + 20,
                 'events written to the frozen router', timeout=10)
        kill(node, processes)
        unacked_at_crash = publisher.stats.sent - publisher.stats.acked
        assert unacked_at_crash >= 20
        acked_at_crash = publisher.stats.acked
        node = restart(settings, cbdir)
        wait_for(lambda: publisher.stats.acked >= acked_at_crash + unacked_at_crash + 200,
                 '200 events acknowledged by the restarted router', timeout=60)
        last_seen = subscriber.positions.get(TOPIC)
        proxy.unblock()
        sender.join(60)
        assert sender.published == count
        assert publisher.flush(60), publisher.stats.as_dict()
        stats = publisher.stats
        assert stats.resent >= unacked_at_crash
        assert stats.acked == count and stats.failed == 0 and stats.dropped == 0
        events = subscriber.collect(count, timeout=60)
        numbers = [event.args[0]['i'] for event in events]
        assert numbers == list(range(count)), (len(numbers), subscriber.gaps)
        offsets = [event.position['offset'] for event in events]
        assert offsets == list(range(offsets[0], offsets[0] + count))
        assert len({event.position['epoch'] for event in events}) == 1  # Redis kept the epoch
        assert all(event.recovered for event in events) and not subscriber.gaps
        # at least the 200 acknowledged while it was shut out came from history
        # (the resent ones the router had stored before the crash are
        # duplicates: they get no new offset)
        assert subscriber.recovered_events >= 200, (subscriber.recovered_events, last_seen)
        assert subscriber.collect(1, timeout=0.5) == []  # nothing twice
    except BaseException:
        print(node.log_tail(60))
        raise
    finally:
        if subscriber is not None:
            subscriber.stop()
        proxy.close()
        publisher.close(1)
        node.stop()


def test_fire_and_forget_publisher_never_counts_acknowledgements_and_loses_what_was_in_flight(
        redis_prefix, tmp_path):
    settings = crash_settings(redis_prefix, acks=False)
    cbdir = str(tmp_path / 'node')
    node = RouterProcess(settings, cbdir).start(timeout=120, wait_for_log='livehub history: ready')
    publisher = Publisher(settings)
    subscriber = None
    try:
        assert publisher.connect(10)
        subscriber = Subscriber(settings, TOPIC).start()
        for i in range(100):
            publisher.publish(TOPIC, {'i': i})
        assert publisher.flush(10)
        # flush() without acknowledgements only knows the router read the events
        before = [event.args[0]['i'] for event in subscriber.collect(100, timeout=20)]
        assert before == list(range(100))
        processes = freeze_then_kill(node)
        for i in range(100, 150):
            publisher.publish(TOPIC, {'i': i})
        wait_for(lambda: publisher.stats.sent >= 150, 'events written to the frozen router',
                 timeout=10)
        kill(node, processes)
        node = restart(settings, cbdir)
        for i in range(150, 160):
            publisher.publish(TOPIC, {'i': i})
        assert publisher.flush(20)
        events = subscriber.collect(60, timeout=20)
        numbers = [event.args[0]['i'] for event in events]
        # the 50 written to the frozen router are gone, and the counters do not hide it
        assert numbers == list(range(150, 160))
        assert publisher.stats.sent == 160 and publisher.stats.acked == 0
        assert publisher.stats.resent == 0
    except BaseException:
        print(node.log_tail(60))
        raise
    finally:
        if subscriber is not None:
            subscriber.stop()
        publisher.close(1)
        node.stop()
