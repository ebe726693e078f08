"""livehub against python-socketio + Redis, side by side in the same run (issue 13).

Both servers run as a deployment would, each in its own processes:

* **livehub**: ``livehub router --ini bench.ini`` (the CLI parent, the crossbar
  controller, its router and container workers) with default settings; the
  web process is a ``Publisher.from_settings`` in its own process
  (:mod:`benchmarks.emitter`) connected to it.
* **Socket.IO**: python-socketio 5 ``AsyncServer`` with ``AsyncRedisManager``
  under uvicorn (:mod:`benchmarks.peer.sio_server`), from its own venv; the web
  process emits with ``socketio.RedisManager(write_only=True).emit()``.

Subscribers are the same minimal WebSocket client for both
(:mod:`benchmarks.ws_clients`), payloads are 100 bytes of JSON.  For every
measurement the two alternate, round by round, so they share the machine's
noise; the median over rounds is reported.  Server CPU is summed over the
server's process tree from /proc, and its memory is the tree's resident pages,
each counted once (:func:`benchmarks.procs.memory_mb`; the RSS sum is shown
too).  Redis is a shared service here and is not counted for the peer, which
favours the peer.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

from benchmarks import peer_venv, procs
from benchmarks.rows import absolute, info, median, percentile, vs_reference
from pyramid_livehub.router.process import free_port, port_open

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMITTER = os.path.join(ROOT, 'benchmarks', 'emitter.py')
REDIS_URL = os.environ.get('BENCH_REDIS_URL', 'redis://127.0.0.1:6379/0')
TOPIC = 'bench.peers'


def _env():
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''),
                PYTHONUNBUFFERED='1')


def _wait_port(port, process, timeout=60):
    deadline = time.monotonic() + timeout
    while not port_open('127.0.0.1', port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError('server did not listen on %d (exit %s)' % (port, process.poll()))
        time.sleep(0.1)


class Server:
    """A server under test: start, stop, its process tree, how to reach it."""

    label = None

    def pin(self):
        pinning = procs.pin_settings()
        if pinning:
            procs.pin(self.process.pid, pinning[0])

    def pids(self):
        return procs.tree(self.process.pid)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def ready_for_events(self):
        """Block until events emitted now reach the subscribers."""


class LivehubServer(Server):
    """``livehub router --ini`` with default settings, as in production."""

    label = 'livehub'

    def start(self):
        self.browser_port, self.router_port = free_port(), free_port()
        workdir = tempfile.mkdtemp(prefix='livehub-bench-peers-')
        ini = os.path.join(workdir, 'bench.ini')
        with open(ini, 'w') as fh:
            fh.write('[app:main]\nlivehub.router_url = rs://127.0.0.1:%d\n'
                     'livehub.browser_url = ws://127.0.0.1:%d/ws\n'
                     % (self.router_port, self.browser_port))
        self.log = open(os.path.join(workdir, 'cli.log'), 'wb')
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'pyramid_livehub.cli', 'router', '--ini', ini,
             '--cbdir', os.path.join(workdir, 'node')],
            stdout=self.log, stderr=subprocess.STDOUT, env=_env())
        for port in (self.router_port, self.browser_port):
            _wait_port(port, self.process)
        self.pin()
        return self

    def client(self, connections, expect):
        return {'kind': 'wamp', 'url': 'ws://127.0.0.1:%d/ws' % self.browser_port,
                'realm': 'livehub', 'topic': TOPIC, 'connections': connections,
                'expect': expect}

    def emitter(self, count, rate):
        config = {'kind': 'livehub', 'router_url': 'rs://127.0.0.1:%d' % self.router_port,
                  'topic': TOPIC, 'count': count, 'rate': rate}
        return [sys.executable, EMITTER, json.dumps(config)]


class SocketioServer(Server):
    """python-socketio + AsyncRedisManager under uvicorn, from the peer's venv."""

    label = 'Socket.IO'

    def start(self):
        self.python = peer_venv.ensure()
        self.port = free_port()
        self.channel = 'livehub-bench-%s' % uuid.uuid4().hex[:8]
        self.process = subprocess.Popen(
            [self.python, os.path.join(ROOT, 'benchmarks', 'peer', 'sio_server.py'),
             str(self.port), REDIS_URL, self.channel],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
        _wait_port(self.port, self.process)
        self.pin()
        return self

    def client(self, connections, expect):
        return {'kind': 'socketio', 'url': 'ws://127.0.0.1:%d' % self.port, 'topic': TOPIC,
                'connections': connections, 'expect': expect}

    def emitter(self, count, rate):
        config = {'kind': 'socketio', 'redis_url': REDIS_URL, 'channel': self.channel,
                  'topic': TOPIC, 'count': count, 'rate': rate}
        return [self.python, EMITTER, json.dumps(config)]

    def ready_for_events(self):
        # The server subscribes to the Redis channel when its first client
        # connects; events published before that are lost by design.
        import redis
        client = redis.Redis.from_url(REDIS_URL)
        deadline = time.monotonic() + 20
        while dict(client.pubsub_numsub(self.channel)).get(self.channel.encode(), 0) < 1:
            if time.monotonic() > deadline:
                raise RuntimeError('the Socket.IO server never subscribed to Redis')
            time.sleep(0.05)
        client.close()


def _ready_line(process, what):
    line = process.stdout.readline().strip()
    if line != 'READY':
        rest = process.communicate(timeout=10)[0] if process.poll() is not None else ''
        raise RuntimeError('%s did not start: %r %s' % (what, line, rest[-500:]))


def measure(server, count, rate=None, connections=1, sample_memory=False):
    """One emitter -> server -> ``connections`` subscribers; everything one row needs."""
    pinning = procs.pin_settings()
    clients = subprocess.Popen(
        [sys.executable, '-m', 'benchmarks.ws_clients',
         json.dumps(server.client(connections, count))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT)
    emitter = None
    try:
        _ready_line(clients, 'subscribers')
        server.ready_for_events()
        emitter = subprocess.Popen(server.emitter(count, rate), stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=_env(), cwd=ROOT)
        _ready_line(emitter, 'emitter')
        if pinning:
            procs.pin(clients.pid, pinning[1])
            procs.pin(emitter.pid, pinning[1])
        time.sleep(0.3)  # let the connections settle before counting CPU
        memory = procs.memory_mb(server.pids()) if sample_memory else None
        meter = procs.CpuMeter(server.process.pid).start()
        emitted, _ = emitter.communicate('GO\n', timeout=600)
        emitted = json.loads(emitted.strip().splitlines()[-1])
        received, errors = clients.communicate(timeout=600)
        cpu = meter.stop()
        if not received.strip():
            raise RuntimeError('subscriber client failed: %s' % errors[-800:])
        received = json.loads(received.strip().splitlines()[-1])
    finally:
        for process in (clients, emitter):
            if process and process.poll() is None:
                process.kill()
                process.wait()
    got = received['received']
    elapsed = (received['last'] - emitted['start']) if received['last'] else None
    latencies_ms = [x * 1000 for x in received['latencies']]
    return {
        'sent': count, 'received': got, 'lost': count * connections - got,
        'fewest': received['fewest'], 'rate': got / elapsed if elapsed else 0.0,
        'emit_us': emitted['emit_us'], 'latencies_ms': latencies_ms,
        'cpu_us_per_delivery': cpu * 1e6 / got if got else None,
        'memory_mb': memory and memory['distinct'], 'rss_sum_mb': memory and memory['rss_sum'],
        'publisher': emitted.get('stats'), 'flushed': emitted.get('flushed'),
    }


def _rounds(servers, rounds, **kwargs):
    """``rounds`` alternating measurements of each server: {label: [result, ...]}."""
    out = {s.label: [] for s in servers}
    for n in range(rounds):
        for server in (servers if n % 2 == 0 else servers[::-1]):
            out[server.label].append(measure(server, **kwargs))
    return out


def _mid(results, key):
    values = [r[key] for r in results if r[key] is not None]
    return median(values)


def run(ctx):
    rounds = ctx.scale(3, 1)
    n_events = int(os.environ.get('BENCH_EVENTS', 20000))
    latency_seconds = ctx.scale(10, 3)
    slow_seconds = ctx.scale(30, 6)
    fanout_events = ctx.scale(100, 30)
    fanout_subscribers = 200
    livehub, peer = LivehubServer(), SocketioServer()
    servers = [livehub.start(), peer.start()]
    rows = []
    try:
        time.sleep(2)  # idle means idle: let start-up work finish
        idle_memory = {s.label: procs.memory_mb(s.pids()) for s in servers}
        idle = {label: m['distinct'] for label, m in idle_memory.items()}
        idle_detail = {s.label: procs.describe(s.pids()) for s in servers}

        burst = _rounds(servers, rounds, count=n_events)
        at_500 = _rounds(servers, rounds, count=500 * latency_seconds, rate=500)
        at_20 = _rounds(servers, rounds, count=20 * slow_seconds, rate=20)
        fanout = _rounds(servers, rounds, count=fanout_events, rate=10,
                         connections=fanout_subscribers, sample_memory=True)
        sweep = {}
        for rate in ctx.scale([1000, 2000, 5000, 10000], [2000, 8000]):
            sweep[rate] = _rounds(servers, 1, count=min(n_events, rate * 2), rate=rate)
        scaling = {}
        for subscribers in ctx.scale([1, 50, 100], [50]):
            scaling[subscribers] = _rounds(servers, 1, count=fanout_events, rate=10,
                                           connections=subscribers)
        scaling[fanout_subscribers] = fanout
    finally:
        for server in servers:
            server.stop()

    L, P = livehub.label, peer.label

    def both(results, key):
        return _mid(results[L], key), _mid(results[P], key)

    def all_of(results, label, key):
        return [x for r in results[label] for x in r[key]]

    # throughput 1 -> 1
    ours, theirs = both(burst, 'rate')
    lost = max(r['lost'] for r in burst[L])
    rows.append(vs_reference(
        'throughput 1 publisher -> 1 subscriber, %d events' % n_events, ours, theirs, 'ev/s',
        1.2, '>=', '>= 1.2 x Socket.IO, nothing lost', ok=lost == 0,
        details={'lost': {L: [r['lost'] for r in burst[L]], P: [r['lost'] for r in burst[P]]},
                 'publisher stats': [r['publisher'] for r in burst[L]],
                 'rounds': {L: [r['rate'] for r in burst[L]], P: [r['rate'] for r in burst[P]]},
                 'note': 'a web-process publisher emits %d events flat out; one subscriber; '
                         'rate = events received / (last receive - first emit); lost = sent - '
                         'received, livehub with default settings (livehub.queue_size)'
                         % n_events}))
    rows.append(absolute('events lost in the 1 -> 1 burst (livehub)', lost, 'events', 0, '<=',
                         '0 (Socket.IO: %d)' % max(r['lost'] for r in burst[P])))
    # latency at 500 ev/s
    for label, q in (('p50', 0.5), ('p99', 0.99)):
        ours = percentile(all_of(at_500, L, 'latencies_ms'), q)
        theirs = percentile(all_of(at_500, P, 'latencies_ms'), q)
        rows.append(vs_reference(
            'latency at 500 ev/s, %s' % label, ours, theirs, 'ms', 1.0, '<=',
            "<= Socket.IO's", details={'note': 'emit stamp to receive in the subscriber, '
                                               '%d s at 500 ev/s per round' % latency_seconds}))
    # emit cost in the web process
    ours, theirs = (median(all_of(burst, L, 'emit_us')), median(all_of(burst, P, 'emit_us')))
    rows.append(info('emit cost in the web process, burst, p50', ours, 'us', theirs, label=P,
                     details={'note': 'time of one publish()/emit() call in the caller\'s '
                                      'thread during the 1 -> 1 burst, router connected'}))
    ours = percentile(all_of(at_20, L, 'emit_us'), 0.99)
    theirs = percentile(all_of(at_20, P, 'emit_us'), 0.99)
    rows.append(vs_reference('emit p99 at 20 ev/s', ours, theirs, 'us', 1.0, '<=',
                             "<= Socket.IO's", details={
                                 'p50': {L: median(all_of(at_20, L, 'emit_us')),
                                         P: median(all_of(at_20, P, 'emit_us'))},
                                 'note': '%d s at 20 ev/s, router connected, one subscriber'
                                         % slow_seconds}))
    # fan-out
    complete = all(r['fewest'] == fanout_events for r in fanout[L])
    for label, q in (('p50', 0.5), ('p99', 0.99)):
        ours = percentile(all_of(fanout, L, 'latencies_ms'), q)
        theirs = percentile(all_of(fanout, P, 'latencies_ms'), q)
        rows.append(info('fan-out to %d subscribers, %s' % (fanout_subscribers, label), ours,
                         'ms', theirs, label=P, details={
                             'all received': {L: complete, P: all(
                                 r['fewest'] == fanout_events for r in fanout[P])},
                             'note': '%d events at 10 ev/s, each to %d subscribers in one '
                                     'client process' % (fanout_events, fanout_subscribers)}))
    rows.append(absolute('fan-out: every subscriber got every event (livehub)',
                         min(r['fewest'] for r in fanout[L]), 'events', fanout_events, '>=',
                         '%d per subscriber' % fanout_events))
    # CPU and memory
    ours, theirs = both(burst, 'cpu_us_per_delivery')
    rows.append(vs_reference('server CPU per delivery, 1 subscriber burst', ours, theirs, 'us',
                             0.8, '<=', '<= 0.8 x Socket.IO', details={
                                 'note': 'CPU of all server processes (livehub: CLI parent, '
                                         'crossbar controller, router and container workers; '
                                         'Socket.IO: uvicorn, Redis not counted) / events '
                                         'delivered'}))
    ours, theirs = both(fanout, 'cpu_us_per_delivery')
    rows.append(info('server CPU per delivery, fan-out to %d' % fanout_subscribers, ours, 'us',
                     theirs, label=P))
    ours, theirs = both(fanout, 'memory_mb')
    rows.append(info('server memory, all processes, %d connections' % fanout_subscribers,
                     ours, 'MB', theirs, label=P, details={
                         'RSS summed': {L: _mid(fanout[L], 'rss_sum_mb'),
                                        P: _mid(fanout[P], 'rss_sum_mb')},
                         'memory counted': idle_memory[L]['method'],
                         'note': 'resident memory of the server\'s processes together, each '
                                 'page once, while %d subscribers are connected (Redis not '
                                 'counted for the peer)' % fanout_subscribers}))
    rows.append(absolute('router memory, all processes, idle', idle[L], 'MB', 150, '<=',
                         '<= 150 MB (Socket.IO: %.0f MB)' % idle[P], details={
                             'processes (RSS each)': idle_detail[L],
                             'memory counted': idle_memory[L]['method'],
                             'note': 'resident memory of livehub router\'s processes together '
                                     '(CLI watcher, crossbar controller, router worker; a '
                                     'container worker when components are configured) with '
                                     'no client connected, each page once: the pages the '
                                     'controller and worker both map (shared libraries, '
                                     'extension modules) count once, as they use RAM once',
                             'Socket.IO idle MB': idle[P],
                             'peer processes': idle_detail[P]}))
    rows.append(info('router memory, all processes, idle, RSS summed',
                     idle_memory[L]['rss_sum'], 'MB', idle_memory[P]['rss_sum'], label=P,
                     details={'note': 'RSS of each process added up, as ps shows it: pages '
                                      'shared by the processes count once per process'}))
    _plots(ctx, at_500, fanout, sweep, scaling, L, P)
    return rows


def _plots(ctx, at_500, fanout, sweep, scaling, L, P):
    def cdf(results):
        def draw(ax):
            for label in (L, P):
                values = sorted(x for r in results[label] for x in r['latencies_ms'])
                if values:
                    ax.plot(values, [i / len(values) for i in range(len(values))], label=label)
            ax.set_xscale('log')
        return draw

    ctx.plot('peers-latency-500', 'Latency at 500 ev/s, 1 subscriber (CDF)', cdf(at_500),
             'latency (ms, log)', 'fraction of events')
    ctx.plot('peers-fanout-latency', 'Fan-out to 200 subscribers: latency (CDF)', cdf(fanout),
             'latency (ms, log)', 'fraction of deliveries')

    def draw_sweep(ax):
        rates = sorted(sweep)
        for label in (L, P):
            ax.plot(rates, [sweep[r][label][0]['rate'] for r in rates], marker='o', label=label)
        ax.plot(rates, rates, linestyle=':', color='grey', label='offered')
    ctx.plot('peers-throughput-vs-rate', 'Delivered vs offered rate, 1 subscriber', draw_sweep,
             'offered (ev/s)', 'delivered (ev/s)')

    def draw_scaling(ax):
        counts = sorted(scaling)
        for label in (L, P):
            ax.plot(counts, [percentile([x for r in scaling[n][label] for x in r['latencies_ms']],
                                        0.99) for n in counts], marker='o', label=label + ' p99')
            ax.plot(counts, [percentile([x for r in scaling[n][label] for x in r['latencies_ms']],
                                        0.5) for n in counts], marker='.', linestyle='--',
                    label=label + ' p50')
    ctx.plot('peers-fanout-vs-subscribers', 'Fan-out latency vs subscribers (10 ev/s)',
             draw_scaling, 'subscribers', 'latency (ms)')
