"""Slow and stuck browser clients against a real crossbar node (issue 11).

The stuck client is a raw socket (:class:`benchmarks.stuck_clients.RawWampClient`)
that joins with a proper HELLO, subscribes and stops reading, so the router
really has to queue for it; the well-behaved subscriber is an Autobahn
session on the same browser WebSocket.
"""
import threading
import time

from benchmarks.stuck_clients import PAYLOAD, RawWampClient, router_worker_pid, rss_mb
from tests.support import wait_for
from tests.support.bridges import wait_for_log, wamp_call
from pyramid_livehub.publisher import Publisher
from pyramid_livehub.router.auth import browser_websocket
from pyramid_livehub.router.guard import CLOSE_CODE, READY_MESSAGE, STATS, Guard
from pyramid_livehub.router.node_config import render_node_config
from pyramid_livehub.settings import parse_settings
from pyramid_livehub.subscriber import Subscriber

TOPIC = 'demo.slow'
GUARD_CLOSED = 'livehub guard: closing'


# -- unit: the rendered config and the guard's decisions ------------------------------

def test_browser_pings_count_only_pongs_and_the_guard_is_always_embedded():
    for auth in ({}, {'livehub.auth': 'true', 'livehub.ticket_secret': 'Hq7-rW2zK9xL4vB8nM1cT6yP3sD5fG0jA_uE'}):
        node = render_node_config(parse_settings(dict(auth, **{
            'livehub.ping_interval': '7', 'livehub.ping_timeout': '3',
            'livehub.max_queued_bytes': '1000000'})))
        options = browser_websocket(node)['options']
        assert options['auto_ping_restart_on_any_traffic'] is False
        assert (options['auto_ping_interval'], options['auto_ping_timeout']) == (7000, 3000)
        components = {c['id']: c for c in node['workers'][0]['components']}
        assert components['livehub_guard']['extra'] == {'max_queued_bytes': 1000000}
        assert components['livehub_guard']['role'] == 'backend'


class FakeTcp:
    def __init__(self, queued):
        self.dataBuffer, self.offset = b'x' * queued, 0
        self._tempDataBuffer, self._tempDataLen = [], 0


class FakeProtocol:
    """Just what the guard touches of autobahn's WebSocket protocol."""

    STATE_CLOSED = 3
    state = 1
    peer = 'tcp4:127.0.0.1:1'

    def __init__(self, queued):
        self.transport = FakeTcp(queued)
        self.sent, self.closes, self.lost = [], [], []

    def send(self, msg):
        self.sent.append(msg)

    def connectionLost(self, reason=None):
        self.lost.append(reason)

    def sendClose(self, code, reason):
        self.closes.append((code, reason))

    def dropConnection(self, abort=False):
        self.state = self.STATE_CLOSED


def test_guard_closes_a_connection_past_the_bound_and_drops_what_follows():
    later, trims = [], []
    guard = Guard(1000, lambda delay, fn, *args: later.append((fn, args)), malloc_trim=trims.append)

    class Protocol(FakeProtocol):
        pass
    guard.install(Protocol)
    fast, slow = Protocol(10), Protocol(1001)
    fast.send('event')
    slow.send('event')
    slow.send('another')
    assert fast.sent == ['event'] and fast.closes == []
    assert slow.sent == [] and slow.closes[0][0] == CLOSE_CODE and 'too slow' in slow.closes[0][1]
    assert guard.stats()['slow_client_closes'] == 1
    for fn, args in later:  # the grace period ends: aborted
        fn(*args)
    assert slow.state == FakeProtocol.STATE_CLOSED
    # its buffer is freed when the connection goes, and the heap trimmed
    big = Protocol(2 * 1024 * 1024)
    big.connectionLost('gone')
    assert big.lost == ['gone'] and big.transport.dataBuffer == b''
    later[-1][0](*later[-1][1])
    assert trims == [0] and guard.stats()['memory_trims'] == 1


# -- through a real node ---------------------------------------------------------------

def start_guarded(private_router, **overrides):
    raw = {'livehub.%s' % key: str(value) for key, value in overrides.items()}
    node = private_router(**raw)
    wait_for_log(node, [READY_MESSAGE], 30)
    return node


def stuck_client(node):
    client = RawWampClient(node.settings.browser_url, node.settings.realm, recv_buffer=4096)
    client.join()
    client.subscribe(TOPIC)
    return client


def publish_batch(publisher, start, count):
    for i in range(start, start + count):
        publisher.publish(TOPIC, i, PAYLOAD)
    assert publisher.flush(30), 'the publisher could not flush'
    return start + count


def test_stuck_keepalive_client_is_closed_too_slow_and_others_get_every_event(private_router):
    # pings far apart: what closes the stuck client must be the queued-bytes bound
    node = start_guarded(private_router, max_queued_bytes=256 * 1024, ping_interval=120,
                         ping_timeout=60)
    publisher = Publisher(node.settings)
    normal = Subscriber(node.settings, TOPIC, url=node.settings.browser_url,
                        authentication={}).start()
    stuck = stuck_client(node)
    closed = {}

    def read_when_closed():
        # a slow (not dead) client that reads right after the close finds the
        # close frame behind its backlog, within the guard's grace period
        while GUARD_CLOSED not in node.log_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        closed['frame'] = stuck.close_code(timeout=10)

    deadline = time.monotonic() + 120
    watcher = threading.Thread(target=read_when_closed, daemon=True)
    watcher.start()
    try:
        sent, last_keepalive = 0, time.monotonic()
        # 1 KB events until the guard closes the stuck client (the router's kernel
        # send buffer takes up to 4 MB first); it keeps sending keepalives throughout
        while watcher.is_alive():
            assert time.monotonic() < deadline, 'stuck client never closed:\n' + node.log_tail()
            sent = publish_batch(publisher, sent, 200)
            if time.monotonic() - last_keepalive > 2 and 'frame' not in closed:
                try:
                    stuck.keepalive()
                except OSError:
                    pass  # cut without a readable close frame: the assert below says so
                last_keepalive = time.monotonic()
        code, reason = closed['frame'] or (None, 'no close frame')
        assert code == CLOSE_CODE and 'too slow' in reason, (code, reason)
        sent = publish_batch(publisher, sent, 1000)  # after the close, the others go on

        deadline = time.monotonic() + 60
        numbers = []
        while len(numbers) < sent and time.monotonic() < deadline:
            numbers.extend(event.args[0] for event in normal.collect(sent - len(numbers), 5))
        assert numbers == list(range(sent)), 'normal subscriber got %d of %d' % (len(numbers), sent)
        assert wamp_call(node.settings, STATS)['slow_client_closes'] == 1
    finally:
        stuck.close()
        normal.stop()
        publisher.close(2)


def test_stuck_client_is_dropped_by_ping_timeout_whatever_it_sends(private_router):
    # bound far away: the ping timeout alone must drop it; its own frames (every
    # 0.5 s, more often than the pings) must not count as answers
    node = start_guarded(private_router, max_queued_bytes=64 * 1024 * 1024, ping_interval=1,
                         ping_timeout=1)
    stuck = stuck_client(node)
    try:
        deadline = time.monotonic() + 30
        while not stuck.is_cut():
            assert time.monotonic() < deadline, 'stuck client never dropped:\n' + node.log_tail()
            try:
                stuck.keepalive()
            except OSError:
                break
            time.sleep(0.5)
        wait_for_log(node, ['ping timeout'], 10)
    finally:
        stuck.close()


def test_memory_a_stuck_client_held_is_given_back(private_router):
    # a bound above the episode, so the buffer grows to ~30 MB until the ping timeout
    node = start_guarded(private_router, max_queued_bytes=256 * 1024 * 1024, ping_interval=10,
                         ping_timeout=5)
    worker = router_worker_pid(node)
    publisher = Publisher(node.settings)
    try:
        publish_batch(publisher, 0, 2000)  # warm-up: first-use allocations are not a leak
        base = rss_mb(worker)
        stuck = stuck_client(node)
        sent, peak = 0, base
        while sent < 30000:
            sent = publish_batch(publisher, sent, 1000)
            peak = max(peak, rss_mb(worker))
        wait_for(stuck.is_cut, 'the stuck client to be dropped', 60, 0.2)
        stuck.close()
        # the episode did cost memory, and it comes back
        assert peak - base > 15, 'the episode did not load the worker (%.1f MB)' % (peak - base)
        wait_for(lambda: rss_mb(worker) - base <= 5,
                 lambda: 'the memory back; worker kept %.1f MB (peak +%.1f MB)' % (
                     rss_mb(worker) - base, peak - base), 30, 0.2)
        assert wamp_call(node.settings, STATS)['memory_trims'] >= 1
    finally:
        publisher.close(2)
