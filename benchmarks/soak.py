"""Issue 11 soak: steady load, slow and reconnecting clients, two router restarts.

For ``SOAK_SECONDS`` (default 120) through a real crossbar node:

* ``SOAK_RATE`` events/s (default 1,000) in all: half from a Pyramid-style
  publisher (:meth:`Publisher.from_settings`, topic ``soak.app``), half from a
  ZeroMQ PUB socket through the router's zmq bridge (brokerless, topic
  ``soak.zmq``); each event carries its sequence number;
* ``SOAK_SUBSCRIBERS`` (default 200) anonymous WAMP/WebSocket subscribers on
  both topics, plain Autobahn asyncio sessions in ``SOAK_PROCESSES`` (4)
  processes: 10 % *slow* (stop reading once subscribed; the router's guard
  closes them past ``livehub.max_queued_bytes``, set to 1 MB here; they come
  back and get stuck again), 10 % *reconnecting* (leave every 3-6 s), the rest
  *normal* (reconnect only when the router goes away).  A slow client cannot
  see its socket close while it does not read, so it drops its connection
  after ``SOAK_STUCK_SECONDS`` (30) and comes back.  Slow clients fix their
  socket's receive buffer at 8 KB (Linux would autotune it up to tcp_rmem's
  maximum, tens of MB); the router's send buffer still takes up to
  tcp_wmem's maximum (4 MB) before the router holds anything.  So the slow
  clients also subscribe to ``soak.fat``, ``SOAK_FAT_RATE`` (20) events/s of
  ``SOAK_FAT_BYTES`` (32 KB) from the publisher, which reaches the bound
  within seconds, before the ping timeout would drop them;
* the router stopped and started again (same ports, same cbdir) at 1/3 and 2/3.

Every second it samples the router worker's and this process's RSS and every
counter of :mod:`pyramid_livehub.metrics` (publisher, router guard, bridge,
sessions, subscriptions).  At the end it prints a summary, writes
``SOAK_OUT`` (default ``soak.png``, plus ``.json`` with every sample) and exits
non-zero when:

* the router worker's RSS grew more than ``SOAK_RSS_BOUND_MB`` (50) between
  ``WARMUP`` s after a start and the end of that router's life, or this
  process's RSS grew more than that after warm-up;
* there are slow subscribers and the router's guard closed none
  (``SOAK_REQUIRE_SLOW_CLOSES=0`` turns this off);
* the publisher dropped an event;
* a *normal* subscriber missed an event outside the documented bounds.  The
  bound (no acknowledged publishing, no history here): events published
  while the router is down or the subscriber is re-subscribing after a
  restart may be lost, i.e. those published from 1 s before a stop until
  ``RECONNECT_GRACE`` s after the router is back.  Every other event must
  reach every normal subscriber.

The subscriber processes (JSON over WebSocket, in Python) are the first to
give out: on a shared 2-core machine 1,000 ev/s to 50 subscribers (50,000
deliveries/s) left the subscribers and the router's meta calls far behind
(ping timeouts, lost events); ``SOAK_RATE=100 SOAK_SUBSCRIBERS=50`` passed.
The slow clients only reach ``livehub.max_queued_bytes`` (plus the kernel's
socket buffers) when a router life carries several MB per client.

Run: ``make soak`` or ``PYTHONPATH=$PWD .venv/bin/python -m benchmarks.soak``.
The subscribers are raw Autobahn sessions (hundreds per process on one
loop), not :class:`~pyramid_livehub._session.BackgroundSession`, which is one
thread and loop per session; the router helpers come from
:mod:`benchmarks.stuck_clients`.
"""
import asyncio
import json
import multiprocessing
import os
import random
import socket
import sys
import tempfile
import threading
import time
from urllib.parse import urlsplit

from benchmarks.stuck_clients import router_worker_pid, rss_mb
from pyramid_livehub.metrics import LivehubCollector
from pyramid_livehub.publisher import Publisher
from pyramid_livehub.router.process import RouterProcess, free_port
from pyramid_livehub.settings import parse_settings

DURATION = float(os.environ.get('SOAK_SECONDS', 120))
RATE = int(os.environ.get('SOAK_RATE', 1000))
SUBSCRIBERS = int(os.environ.get('SOAK_SUBSCRIBERS', 200))
PROCESSES = int(os.environ.get('SOAK_PROCESSES', 4))
RSS_BOUND_MB = float(os.environ.get('SOAK_RSS_BOUND_MB', 50))
#: fail when there are slow clients and the router's guard closed none
STUCK_SECONDS = float(os.environ.get('SOAK_STUCK_SECONDS', 30))  # a slow client's stint
REQUIRE_SLOW_CLOSES = os.environ.get('SOAK_REQUIRE_SLOW_CLOSES', '1') == '1'
OUT = os.environ.get('SOAK_OUT', 'soak.png')
WARMUP = 15.0           # s after a router start before its RSS baseline is taken
RECONNECT_GRACE = 10.0  # s after a restart for every subscriber to be back
JOIN_TIMEOUT = 60.0     # s for all subscribers to join at the start
TOPICS = ('soak.app', 'soak.zmq')
PAD = 'x' * int(os.environ.get('SOAK_PAD', 200))  # bytes of padding per app event
#: a topic only the slow clients subscribe to: it fills their buffers fast
#: without making every normal client carry big events
FAT_TOPIC = 'soak.fat'
FAT_RATE = float(os.environ.get('SOAK_FAT_RATE', 20))  # events/s on FAT_TOPIC
FAT = 'x' * int(os.environ.get('SOAK_FAT_BYTES', 32768))


# -- subscribers (child processes) -----------------------------------------

def _subscriber_process(url, realm, kinds, started_at, stop_at, results):
    """Run ``len(kinds)`` WAMP subscribers on one loop; put their seq bitmaps in ``results``."""
    from autobahn.asyncio.wamp import ApplicationSession
    from autobahn.asyncio.websocket import WampWebSocketClientFactory
    from autobahn.wamp.types import ComponentConfig

    import txaio
    txaio.use_asyncio()
    txaio.start_logging(level='error')  # restarts make every session log its lost transport
    parts = urlsplit(url)

    class Client:
        def __init__(self, index, kind):
            self.index, self.kind = index, kind
            self.seen = {topic: bytearray() for topic in TOPICS}
            self.joins = 0
            self.joined = asyncio.Event()
            self.lost = asyncio.Event()

        def got(self, topic, seq):
            bits = self.seen[topic]
            if seq // 8 >= len(bits):
                bits.extend(bytes(seq // 8 - len(bits) + 1024))
            bits[seq // 8] |= 1 << (seq % 8)

    def session_factory(client):
        class Session(ApplicationSession):
            async def onJoin(self, details):
                try:
                    for topic in TOPICS:
                        await self.subscribe(lambda seq, *_, t=topic, **__: client.got(t, seq),
                                             topic)
                    if client.kind == 'slow':
                        await self.subscribe(lambda *_, **__: None, FAT_TOPIC)
                except Exception:  # the router went away meanwhile: run_client reconnects
                    return
                client.joins += 1
                client.joined.set()
                if client.kind == 'slow':
                    self._transport.transport.pause_reading()  # stuck: never reads again

            def onDisconnect(self):
                client.lost.set()
        return lambda: Session(ComponentConfig(realm))

    async def connect(client):
        sock = socket.socket()
        if client.kind == 'slow':
            # a small fixed receive buffer: Linux would otherwise let the
            # kernel take up to tcp_rmem's maximum (32 MB here) of what a
            # stuck client does not read, before the router holds anything
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
        except OSError:
            sock.close()
            raise
        return sock

    async def run_client(client):
        loop = asyncio.get_running_loop()
        while time.time() < stop_at.value:
            client.joined.clear()
            client.lost.clear()
            factory = WampWebSocketClientFactory(session_factory(client), url=url)
            try:
                transport, _ = await loop.create_connection(factory, sock=await connect(client))
            except OSError:
                await asyncio.sleep(0.5)  # router down: try again
                continue
            # a slow client cannot see its socket close while it does not
            # read: it gives up after STUCK_SECONDS, comes back, gets stuck again
            stay = {'reconnecting': random.uniform(3, 6), 'slow': STUCK_SECONDS}.get(client.kind)
            leave_at = time.time() + (stay or 1e9)
            # a connection accepted while the router restarts can die before
            # the session starts (no onDisconnect then): watch the transport
            # too, and give up on a session that has not joined in 10 s
            join_by = time.time() + 10
            while time.time() < min(leave_at, stop_at.value) and not client.lost.is_set():
                if transport.is_closing() or (not client.joined.is_set()
                                              and time.time() > join_by):
                    break
                try:
                    await asyncio.wait_for(client.lost.wait(),
                                           timeout=max(0.0, min(1.0, leave_at - time.time(),
                                                                 stop_at.value - time.time())))
                except asyncio.TimeoutError:
                    pass
            transport.abort()
            await asyncio.sleep(0.2)

    async def main():
        await asyncio.sleep(max(0.0, started_at - time.time()))
        clients = [Client(i, kind) for i, kind in kinds]
        await asyncio.gather(*(run_client(c) for c in clients))
        return clients

    clients = asyncio.run(main())
    results.put([(c.index, c.kind, c.joins, {t: bytes(b) for t, b in c.seen.items()})
                 for c in clients])


def client_kinds(count):
    """``[(index, kind)]``: 10 % slow, 10 % reconnecting, the rest normal."""
    kinds = []
    for i in range(count):
        kinds.append((i, 'slow' if i % 10 == 3 else 'reconnecting' if i % 10 == 7 else 'normal'))
    return kinds


# -- producers ---------------------------------------------------------------

class Paced(threading.Thread):
    """Calls ``send(seq)`` at ``rate`` per second in 10 ms ticks; records each seq's time."""

    def __init__(self, name, rate, send):
        super().__init__(name=name, daemon=True)
        self.rate, self.send = rate, send
        self.times = []          # publish time of seq i
        self.stopping = threading.Event()

    def run(self):
        start = time.time()
        while not self.stopping.is_set():
            due = int((time.time() - start) * self.rate)
            while len(self.times) < due:
                self.times.append(time.time())
                self.send(len(self.times) - 1)
            time.sleep(0.01)


# -- sampling ----------------------------------------------------------------

def sample(collector):
    """``{metric{labels}: value}`` of one reading of every livehub counter."""
    values = {}
    for family in collector.collect():
        for s in family.samples:
            labels = ','.join('%s=%s' % kv for kv in sorted(s.labels.items()))
            values[s.name + ('{%s}' % labels if labels else '')] = s.value
    return values


def main():
    import zmq
    zmq_port = free_port()
    raw = {
        'livehub.router_url': 'rs://127.0.0.1:%d' % free_port(),
        'livehub.browser_url': 'ws://127.0.0.1:%d/ws' % free_port(),
        'livehub.bridges': 'zmq',
        'livehub.zmq_inbound': 'soak.#',
        'livehub.zmq_subscribe_endpoints': 'tcp://127.0.0.1:%d' % zmq_port,
        'livehub.max_queued_bytes': str(1024 * 1024),
        'livehub.initial_retry_delay': '0.1',
        'livehub.max_retry_delay': '0.5',
    }
    settings = parse_settings(raw)
    node = RouterProcess(settings, tempfile.mkdtemp(prefix='livehub-soak-'))
    node.start(wait_for_log='livehub bridge zmq: connected')
    publisher = Publisher.from_settings(raw)
    collector = LivehubCollector(publisher, settings, cache_seconds=0.0, timeout=5.0)
    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 0)
    pub.bind('tcp://127.0.0.1:%d' % zmq_port)

    t0 = time.time()
    started_at = t0 + 1
    # the subscribers run until told (after the last events had time to
    # arrive): however long the joins took, they outlive the publishing
    stop_at = multiprocessing.get_context('spawn').Value('d', t0 + 365 * 86400)
    results = multiprocessing.get_context('spawn').Queue()
    kinds = client_kinds(SUBSCRIBERS)
    procs = [multiprocessing.get_context('spawn').Process(
        target=_subscriber_process, args=(settings['browser_url'], settings['realm'],
                                          kinds[p::PROCESSES], started_at, stop_at, results))
        for p in range(PROCESSES)]
    for proc in procs:
        proc.start()
    # wait for the subscribers: one session per subscriber plus the publisher, bridge, guard
    deadline = time.time() + JOIN_TIMEOUT
    while time.time() < deadline:
        try:
            # the subscribers, the publisher, the guard and the bridge
            if publisher.connect(1) and publisher.call('wamp.session.count', timeout=2) \
                    >= SUBSCRIBERS + 3:
                break
        except Exception:
            pass
        time.sleep(0.5)
    time.sleep(2)  # joined sessions subscribe next
    print('soak: %d subscribers joined, %d ev/s for %.0f s, router restarts at 1/3 and 2/3'
          % (SUBSCRIBERS, RATE, DURATION), flush=True)

    app = Paced('soak-app', RATE / 2, lambda seq: publisher.publish('soak.app', seq, PAD))
    bridged = Paced('soak-zmq', RATE / 2, lambda seq: pub.send_multipart(
        [b'soak.zmq', b'%d' % seq]))  # a JSON body: the event's one argument
    fat = Paced('soak-fat', FAT_RATE, lambda seq: publisher.publish(FAT_TOPIC, seq, FAT))
    begin = time.time()
    app.start()
    bridged.start()
    fat.start()
    samples, outages, lives = [], [], [{'start': begin, 'pid': router_worker_pid(node)}]
    restarts = [begin + DURATION / 3, begin + 2 * DURATION / 3]
    own_pid = os.getpid()
    while time.time() < begin + DURATION:
        now = time.time()
        if restarts and now >= restarts[0]:
            restarts.pop(0)
            lives[-1]['end'] = now
            down = time.time()
            node.stop()
            stopped = time.time()
            node.start(wait_for_log='livehub bridge zmq: connected')
            outages.append((down, time.time()))
            lives.append({'start': time.time(), 'pid': router_worker_pid(node)})
            print('soak: router restarted at t=%.0f (stop %.1f s, start %.1f s)'
                  % (down - begin, stopped - down, time.time() - stopped), flush=True)
            continue
        try:
            router = rss_mb(lives[-1]['pid'])
        except (OSError, RuntimeError):
            router = None
        samples.append({'t': now - begin, 'router_rss': router, 'app_rss': rss_mb(own_pid),
                        'counters': sample(collector)})
        time.sleep(max(0.0, 1 - (time.time() - now)))
    lives[-1]['end'] = time.time()
    app.stopping.set()
    bridged.stopping.set()
    fat.stopping.set()
    publisher.flush(10)
    time.sleep(5)  # the last events reach the subscribers
    final = sample(collector)
    stop_at.value = time.time()
    clients = []
    for _ in procs:
        clients.extend(results.get(timeout=120))
    for proc in procs:
        proc.join(30)
    failures = check(clients, {'soak.app': app.times, 'soak.zmq': bridged.times}, outages,
                     samples, lives, begin)
    report(samples, final, clients, outages, lives, begin, failures)
    publisher.close(2)
    node.stop()
    return 1 if failures else 0


def counter_total(samples, name):
    """A counter summed over router lives (a restarted router counts from 0 again)."""
    total = last = 0.0
    for sample_ in samples:
        value = sample_['counters'].get(name)
        if value is None:
            continue
        if value < last:
            total += last
        last = value
    return total + last


def _has(bits, seq):
    return seq // 8 < len(bits) and bits[seq // 8] >> (seq % 8) & 1


def check(clients, times, outages, samples, lives, begin):
    """The list of failed bounds (empty: the soak passed)."""
    failures = []
    for life in lives:
        base = [s['router_rss'] for s in samples if s['router_rss'] is not None
                and life['start'] + WARMUP <= begin + s['t'] <= life['end']]
        if len(base) > 1:
            life['rss'] = (base[0], base[-1], max(base))
            if base[-1] - base[0] > RSS_BOUND_MB:
                failures.append('router worker %d RSS grew %.1f MB (bound %.0f MB)'
                                % (life['pid'], base[-1] - base[0], RSS_BOUND_MB))
    app = [s['app_rss'] for s in samples if s['t'] >= WARMUP]
    if app and app[-1] - app[0] > RSS_BOUND_MB:
        failures.append('app RSS grew %.1f MB (bound %.0f MB)' % (app[-1] - app[0], RSS_BOUND_MB))
    slow = [c for c in clients if c[1] == 'slow']
    closes = counter_total(samples, 'livehub_router_slow_client_closes_total')
    if slow and REQUIRE_SLOW_CLOSES and not closes:
        failures.append('%d slow clients but the guard closed none (raise SOAK_FAT_RATE or '
                        'SOAK_FAT_BYTES so a slow client has more than livehub.max_queued_bytes '
                        'plus the socket buffers queued before the ping timeout drops it)'
                        % len(slow))
    dropped = counter_total(samples, 'livehub_publisher_total{counter=dropped}')
    if dropped:
        failures.append('the publisher dropped %d events' % dropped)
    excused = [(down - 1, up + RECONNECT_GRACE) for down, up in outages]
    for topic, published in times.items():
        expected = [seq for seq, at in enumerate(published)
                    if not any(lo <= at <= hi for lo, hi in excused)]
        for index, kind, joins, seen in clients:
            if kind != 'normal':
                continue
            missing = [seq for seq in expected if not _has(seen[topic], seq)]
            if missing:
                failures.append('normal subscriber %d missed %d %s events outside the bounds '
                                '(first seqs %s)' % (index, len(missing), topic, missing[:5]))
    return failures


def report(samples, final, clients, outages, lives, begin, failures):
    """Print the summary, write the PNG and the JSON of every sample."""
    print('\nsoak summary (%d samples)' % len(samples))
    for life in lives:
        rss = life.get('rss')
        print('  router worker %d: %s' % (life['pid'], 'RSS %.1f -> %.1f MB (max %.1f) after '
                                          'warm-up' % rss if rss else 'too short to measure'))
    app = [s['app_rss'] for s in samples]
    print('  app RSS: %.1f -> %.1f MB (max %.1f)' % (app[0], app[-1], max(app)))
    print('  outages: %s' % ', '.join('%.1f s at t=%.0f' % (up - down, down - begin)
                                      for down, up in outages))
    for kind in ('normal', 'slow', 'reconnecting'):
        group = [c for c in clients if c[1] == kind]
        if group:
            got = [sum(bin(b).count('1') for t in TOPICS for b in c[3][t]) for c in group]
            print('  %-12s %3d clients: events received min %d / max %d, joins mean %.1f'
                  % (kind, len(group), min(got), max(got),
                     sum(c[2] for c in group) / len(group)))
    print('  counters at the end:')
    for name, value in sorted(final.items()):
        print('    %-70s %s' % (name, value))
    with open(os.path.splitext(OUT)[0] + '.json', 'w') as fh:
        json.dump({'samples': samples, 'final': final, 'outages': outages, 'lives': lives,
                   'begin': begin, 'failures': failures}, fh)
    try:
        plot(samples, outages, begin)
        print('  plot: %s' % os.path.abspath(OUT))
    except ImportError:
        print('  plot: skipped, matplotlib is not installed (`make soak` installs it)')
    for failure in failures:
        print('FAIL: ' + failure)
    print('soak: %s' % ('FAILED' if failures else 'passed'))


def plot(samples, outages, begin):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (rss, counters) = plt.subplots(2, 1, figsize=(11, 8), sharex=True)
    t = [s['t'] for s in samples]
    rss.plot(t, [s['router_rss'] for s in samples], label='router worker RSS (MB)')
    rss.plot(t, [s['app_rss'] for s in samples], label='app (publisher) RSS (MB)')
    rss.set_ylabel('MB')
    names = sorted({name for s in samples for name in s['counters']
                    if name.endswith('_total') or '_total{' in name})
    for name in names:
        values = [s['counters'].get(name) for s in samples]
        if any(values):
            counters.plot(t, values, label=name, linewidth=0.8)
    counters.set_yscale('symlog')
    counters.set_xlabel('seconds')
    for axis in (rss, counters):
        for down, up in outages:
            axis.axvspan(down - begin, up - begin, color='red', alpha=0.15)
    rss.legend(loc='upper left', fontsize=8)
    counters.legend(loc='upper left', fontsize=5, ncol=2)
    rss.set_title('livehub soak: %d subscribers, %d ev/s, router restarts shaded'
                  % (SUBSCRIBERS, RATE))
    fig.tight_layout()
    fig.savefig(OUT, dpi=100)


if __name__ == '__main__':
    sys.exit(main())
