"""Issue 4 benchmarks: the broker bridges against the raw router and the raw brokers.

One run, side by side, on one router with all four bridges:

1. **Raw limits**: a bare Autobahn publisher -> router -> one WebSocket/JSON
   subscriber (the router's own limit), and each broker's own client ->
   broker -> own client (pika, paho QoS 0, pyzmq, stomp.py).
2. **Bridge throughput**: each broker's client publishes N messages as fast
   as it can -> bridge -> router -> the same WebSocket subscriber.  Target:
   >= 0.9 x the raw router limit.
3. **Latency at 1,000 msg/s** (p50): broker client -> broker -> own client,
   raw Autobahn -> router -> subscriber, and broker -> bridge -> router ->
   subscriber.  The bridge adds ``bridged - broker - router``.  Target: <= 0.5 ms.

``python -m benchmarks.bridges`` (``BENCH_EVENTS`` sets N, default 20000);
``run(ctx)`` returns the rows for ``make bench``.
"""
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.modules.setdefault('bjdata', None)

import paho.mqtt.client as paho  # noqa: E402
import pika  # noqa: E402
import stomp  # noqa: E402
import zmq  # noqa: E402

from benchmarks import procs  # noqa: E402
from benchmarks.rows import absolute, info, vs_reference  # noqa: E402
from pyramid_livehub.router.process import RouterProcess, free_port  # noqa: E402
from pyramid_livehub.settings import parse_settings  # noqa: E402

N_EVENTS = int(os.environ.get('BENCH_EVENTS', 20000))
RATE = 1000
LATENCY_SECONDS = 3
AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672/%2F'
BROKERS = ('amqp', 'mqtt', 'zmq', 'stomp')
OUT_ZMQ_PORT = free_port()


# -- router and subscriber ------------------------------------------------------

def start_router(zmq_port):
    settings = parse_settings({
        'livehub.router_url': 'rs://127.0.0.1:%d' % free_port(),
        'livehub.browser_url': 'ws://127.0.0.1:%d/ws' % free_port(),
        'livehub.bridges': ' '.join(BROKERS),
        'livehub.bridge_queue_size': str(max(10000, N_EVENTS * 2)),
        'livehub.amqp_inbound': 'bench.amqp.#',
        'livehub.mqtt_inbound': 'bench/mqtt/#',
        'livehub.zmq_inbound': 'bench.zmq.#',
        'livehub.zmq_subscribe_endpoints': 'tcp://127.0.0.1:%d' % zmq_port,
        'livehub.stomp_inbound': 'bench.stomp.#',
        'livehub.amqp_outbound': 'out.amqp.#',
        'livehub.mqtt_outbound': 'out/mqtt/#',
        'livehub.zmq_outbound': 'out.zmq.#',
        'livehub.zmq_publish_endpoints': 'tcp://127.0.0.1:%d' % OUT_ZMQ_PORT,
        'livehub.stomp_outbound': 'out.stomp.#',
    })
    node = RouterProcess(settings, tempfile.mkdtemp(prefix='livehub-bench-bridges-')).start()
    pinning = procs.pin_settings()
    if pinning:
        procs.pin(node.process.pid, pinning[0])
    deadline = time.monotonic() + 30
    while not all('livehub bridge %s: connected' % b in node.log_text() for b in BROKERS):
        if time.monotonic() > deadline:
            raise RuntimeError('bridges did not connect:\n' + node.log_tail(40))
        time.sleep(0.2)
    return node


def start_subscriber(settings, topic, count):
    proc = subprocess.Popen(
        [sys.executable, '-m', 'benchmarks.bridge_sub_worker', settings['browser_url'],
         settings['realm'], topic, str(count)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()
    assert line == 'READY', line
    return proc


def finish_subscriber(proc, timeout=180):
    out, _ = proc.communicate(timeout=timeout)
    return json.loads(out.strip().splitlines()[-1])


# -- producers: each sends ``count`` bodies, paced at ``rate`` if given; returns start time

def _paced(count, rate):
    """Yield i for i in range(count), sleeping to keep ``rate`` per second (None: flat out)."""
    start = time.perf_counter()
    for i in range(count):
        if rate:
            wait = start + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        yield i


def _body(i, stamped):
    return json.dumps({'i': i, 't': time.time()} if stamped else {'i': i}).encode()


def run_backend_session(settings, work, timeout):
    """Join as the backend identity in a thread, return ``await work(session)``, leave."""
    from pyramid_livehub._session import run_with_session
    return run_with_session(settings, work, timeout=timeout, name='bench-backend')


def produce_wamp(settings, topic, count, rate=None):
    """Bare Autobahn asyncio publisher over the backend transport; returns its start time."""
    async def publish_all(session):
        start = time.time()
        begin = time.perf_counter()
        for i in range(count):
            if rate:
                wait = begin + i / rate - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                session.publish(topic, {'i': i, 't': time.time()})
            else:
                session.publish(topic, {'i': i})
                if i % 500 == 0:
                    await asyncio.sleep(0)
        await session.call('wamp.session.count')
        return start

    return run_backend_session(settings, publish_all, timeout=180)


def call_stats(settings, kind):
    """The bridge's counters from its WAMP procedure ``livehub.bridges.<kind>.stats``."""
    async def fetch(session):
        return await session.call('livehub.bridges.%s.stats' % kind)

    return run_backend_session(settings, fetch, timeout=30)


def produce_amqp(key, count, rate=None, stamped=False):
    channel = pika.BlockingConnection(pika.URLParameters(AMQP_URL)).channel()
    start = time.time()
    for i in _paced(count, rate):
        channel.basic_publish('amq.topic', key, _body(i, stamped))
    channel.connection.close()
    return start


def produce_mqtt(topic, count, rate=None, stamped=False):
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.max_queued_messages_set(0)
    client.connect('127.0.0.1', 1883)
    client.loop_start()
    start = time.time()
    info = None
    for i in _paced(count, rate):
        info = client.publish(topic, _body(i, stamped), qos=0)
    info.wait_for_publish(60)
    time.sleep(0.5)
    client.disconnect()
    client.loop_stop()
    return start


class ZmqProducer:
    """A bound PUB socket (the zmq bridge's SUB connects to it)."""

    def __init__(self, port):
        self.socket = zmq.Context.instance().socket(zmq.PUB)
        self.socket.setsockopt(zmq.SNDHWM, 0)
        self.socket.bind('tcp://127.0.0.1:%d' % port)

    def __call__(self, topic, count, rate=None, stamped=False):
        start = time.time()
        name = topic.encode()
        for i in _paced(count, rate):
            self.socket.send_multipart([name, _body(i, stamped)])
        return start


def produce_stomp(destination, count, rate=None, stamped=False):
    connection = stomp.Connection12([('127.0.0.1', 61613)], auto_decode=False, vhost='/')
    connection.connect('guest', 'guest', wait=True)
    start = time.time()
    for i in _paced(count, rate):
        connection.send(destination, _body(i, stamped), content_type='application/json')
    time.sleep(0.5)
    connection.disconnect()
    return start


# -- raw broker consumers (for the raw limits and the brokers' own latency) ---------

class Consumer:
    """Counts messages in a thread; records receive times and latencies of stamped bodies."""

    def __init__(self, count):
        self.count = count
        self.times, self.latencies = [], []
        self.done = threading.Event()

    def got(self, body):
        now = time.time()
        self.times.append(now)
        if b'"t"' in body:
            self.latencies.append(now - json.loads(body)['t'])
        if len(self.times) >= self.count:
            self.done.set()

    def wait(self, timeout=120):
        self.done.wait(timeout)
        return self


def consume_amqp(key, count):
    consumer = Consumer(count)
    ready = threading.Event()

    def run():
        channel = pika.BlockingConnection(pika.URLParameters(AMQP_URL)).channel()
        queue_name = channel.queue_declare('', exclusive=True).method.queue
        channel.queue_bind(queue_name, 'amq.topic', routing_key=key)
        channel.basic_consume(queue_name, lambda ch, m, p, body: consumer.got(body), auto_ack=True)
        ready.set()
        while not consumer.done.is_set():
            channel.connection.process_data_events(time_limit=0.2)
        channel.connection.close()

    threading.Thread(target=run, daemon=True).start()
    ready.wait(10)
    return consumer


def consume_mqtt(topic, count):
    consumer = Consumer(count)
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.on_message = lambda c, u, m: consumer.got(m.payload)
    client.connect('127.0.0.1', 1883)
    client.subscribe(topic)
    client.loop_start()
    time.sleep(0.3)
    consumer.close = lambda: (client.disconnect(), client.loop_stop())
    return consumer


def consume_zmq(port, count):
    consumer = Consumer(count)
    ready = threading.Event()

    def run():
        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.setsockopt(zmq.RCVHWM, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b'')
        sub.connect('tcp://127.0.0.1:%d' % port)
        ready.set()
        while not consumer.done.is_set():
            if sub.poll(200):
                consumer.got(sub.recv_multipart()[1])
        sub.close(0)

    threading.Thread(target=run, daemon=True).start()
    ready.wait(5)
    time.sleep(0.5)  # ZeroMQ slow joiner
    return consumer


def consume_stomp(destination, count):
    consumer = Consumer(count)

    class Listener(stomp.ConnectionListener):
        def on_message(self, frame):
            consumer.got(frame.body)

    connection = stomp.Connection12([('127.0.0.1', 61613)], auto_decode=False, vhost='/')
    connection.set_listener('bench', Listener())
    connection.connect('guest', 'guest', wait=True)
    connection.subscribe(destination, id='bench', ack='auto')
    time.sleep(0.3)
    return consumer


# -- measurements -------------------------------------------------------------

def worker_pids(node):
    """PIDs of the node's router worker and container worker (children of the controller)."""
    out = subprocess.run(['ps', '--ppid', str(node.process.pid), '-o', 'pid=,args='],
                         capture_output=True, text=True).stdout
    pids = {}
    for line in out.splitlines():
        pid, args = line.split(None, 1)
        if 'RouterController' in args:
            pids['router'] = int(pid)
        elif 'ContainerController' in args:
            pids['container'] = int(pid)
    return pids


def cpu_seconds(pid):
    """User + system CPU seconds used so far by process ``pid``."""
    with open('/proc/%d/stat' % pid) as fh:
        fields = fh.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


class CpuMeter:
    """CPU microseconds per message of the router and the bridge container over a run.

    Unlike ev/s this does not depend on what else the machine is doing: if the
    bridge spends less CPU per message than the router, the router is the limit.
    """

    def __init__(self, node):
        self.pids = worker_pids(node)

    def __enter__(self):
        self.start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        return self

    def __exit__(self, *exc):
        self.used = {name: cpu_seconds(pid) - self.start[name] for name, pid in self.pids.items()}

    def per_message(self, count):
        return {name: used * 1e6 / max(count, 1) for name, used in self.used.items()}


def rate_of(count, start, last):
    return count / (last - start) if last and last > start else 0.0


def raw_broker(kind, count, rate=None, stamped=False, zmq_port=None):
    """Broker client -> broker -> own client: (messages/s, p50 latency ms)."""
    if kind == 'amqp':
        consumer = consume_amqp('raw.amqp', count)
        start = produce_amqp('raw.amqp', count, rate, stamped)
    elif kind == 'mqtt':
        consumer = consume_mqtt('raw/mqtt', count)
        start = produce_mqtt('raw/mqtt', count, rate, stamped)
    elif kind == 'zmq':
        producer = ZmqProducer(zmq_port)
        consumer = consume_zmq(zmq_port, count)
        start = producer('raw.zmq', count, rate, stamped)
    else:
        consumer = consume_stomp('/topic/raw.stomp', count)
        start = produce_stomp('/topic/raw.stomp', count, rate, stamped)
    consumer.wait()
    if hasattr(consumer, 'close'):
        consumer.close()
    p50 = statistics.median(consumer.latencies) * 1000 if consumer.latencies else None
    return rate_of(len(consumer.times), start, consumer.times[-1] if consumer.times else None), p50


def bridged(node, kind, count, zmq_producer, rate=None, stamped=False):
    """Broker client -> bridge -> router -> WebSocket subscriber: (received, ev/s, p50 ms)."""
    wamp_topic, produce = {
        'amqp': ('bench.amqp.x', lambda *a: produce_amqp('bench.amqp.x', *a)),
        'mqtt': ('bench.mqtt.x', lambda *a: produce_mqtt('bench/mqtt/x', *a)),
        'zmq': ('bench.zmq.x', lambda *a: zmq_producer('bench.zmq.x', *a)),
        'stomp': ('bench.stomp.x', lambda *a: produce_stomp('/topic/bench.stomp.x', *a)),
    }[kind]
    sub = start_subscriber(node.settings, wamp_topic, count)
    start = produce(count, rate, stamped)
    stats = finish_subscriber(sub)
    p50 = statistics.median(stats['latencies']) * 1000 if stats['latencies'] else None
    return stats['n'], rate_of(stats['n'], start, stats['last']), p50


def outbound(node, kind, count, rate=None):
    """Raw Autobahn -> router -> bridge -> broker -> own client: (received, msg/s, p50 ms)."""
    consumer = {
        'amqp': lambda: consume_amqp('out.amqp.x', count),
        'mqtt': lambda: consume_mqtt('out/mqtt/x', count),
        'zmq': lambda: consume_zmq(OUT_ZMQ_PORT, count),
        'stomp': lambda: consume_stomp('/topic/out.stomp.x', count),
    }[kind]()
    start = produce_wamp(node.settings, 'out.%s.x' % kind, count, rate)
    consumer.wait(60)
    if hasattr(consumer, 'close'):
        consumer.close()
    p50 = statistics.median(consumer.latencies) * 1000 if consumer.latencies else None
    return len(consumer.times), rate_of(len(consumer.times), start,
                                        consumer.times[-1] if consumer.times else None), p50


def raw_wamp(node, count, rate=None):
    sub = start_subscriber(node.settings, 'bench.raw', count)
    start = produce_wamp(node.settings, 'bench.raw', count, rate)
    stats = finish_subscriber(sub)
    p50 = statistics.median(stats['latencies']) * 1000 if stats['latencies'] else None
    return rate_of(stats['n'], start, stats['last']), p50


def run(ctx):
    """Rows: each bridge in and out against the router's own limit, and its added latency."""
    global N_EVENTS, LATENCY_SECONDS
    N_EVENTS = int(os.environ.get('BENCH_EVENTS', ctx.scale(20000, 5000)))
    LATENCY_SECONDS = ctx.scale(3, 1)
    runs_each = ctx.scale(2, 1)
    zmq_bridge_port, zmq_raw_port = free_port(), free_port()
    node = start_router(zmq_bridge_port)
    zmq_producer = ZmqProducer(zmq_bridge_port)
    time.sleep(1)  # the bridge's SUB connects to the producer's PUB
    lat_count = RATE * LATENCY_SECONDS
    rows = []

    def limit_row(direction, kind, runs, cpu):
        got, rate = max(runs, key=lambda r: r[1])
        return vs_reference(
            '%s bridge %s, %d messages' % (kind, direction, N_EVENTS), rate, wamp_rate, 'msg/s',
            0.9, '>=', '>= 0.9 x the router alone, all delivered', against='baseline',
            ok=got == N_EVENTS, details={
                'delivered': got, 'bridge CPU us/msg': cpu['container'],
                'router CPU us/msg': cpu['router'], 'raw broker msg/s': raw_rates[kind],
                'note': 'best of %d; %s' % (runs_each, 'broker client -> broker -> bridge -> '
                        'router -> WebSocket subscriber' if direction == 'in' else
                        'raw Autobahn -> router -> bridge -> broker -> broker client')},
            label='router alone')

    def ceiling_row(direction, kind, runs):
        # A bridge cannot beat its broker's own client -> broker -> client
        # rate either (RabbitMQ's, with pika on both ends, was below 0.9 x
        # the router alone here): this row says how close it gets to the
        # slower of the two paths it joins.
        rate = max(r[1] for r in runs)
        ceiling = min(wamp_rate, raw_rates[kind])
        return info('%s bridge %s vs the slower of router alone and broker alone'
                    % (kind, direction), rate, 'msg/s', ceiling, label=(
                        'broker alone' if raw_rates[kind] < wamp_rate else 'router alone'),
                    details={'router alone msg/s': wamp_rate,
                             'broker alone msg/s': raw_rates[kind]})

    try:
        meter = CpuMeter(node)
        with meter:
            wamp_rate = max(raw_wamp(node, N_EVENTS)[0] for _ in range(runs_each))
        print('raw router %.0f ev/s, router CPU %.0f us/event'
              % (wamp_rate, meter.per_message(runs_each * N_EVENTS)['router']))
        raw_rates = {k: raw_broker(k, N_EVENTS, zmq_port=zmq_raw_port)[0] for k in BROKERS}
        for kind in BROKERS:
            with meter:
                runs = [bridged(node, kind, N_EVENTS, zmq_producer)[:2] for _ in range(runs_each)]
            rows.append(limit_row('in', kind, runs, meter.per_message(sum(r[0] for r in runs))))
            rows.append(ceiling_row('in', kind, runs))
        for kind in BROKERS:
            with meter:
                runs = [outbound(node, kind, N_EVENTS)[:2] for _ in range(runs_each)]
            rows.append(limit_row('out', kind, runs, meter.per_message(sum(r[0] for r in runs))))
            rows.append(ceiling_row('out', kind, runs))
        wamp_p50 = raw_wamp(node, lat_count, RATE)[1]
        for kind in BROKERS:
            broker_p50 = raw_broker(kind, lat_count, RATE, True, zmq_port=zmq_raw_port)[1]
            got, _, bridge_p50 = bridged(node, kind, lat_count, zmq_producer, RATE, True)
            inside_in = call_stats(node.settings, kind)['inbound_delay_ms']['p50']
            out_got, _, out_p50 = outbound(node, kind, lat_count, RATE)
            inside_out = call_stats(node.settings, kind)['outbound_delay_ms']['p50']
            for direction, inside, end_to_end, delivered in (
                    ('in', inside_in, bridge_p50, got), ('out', inside_out, out_p50, out_got)):
                rows.append(absolute(
                    '%s bridge %s: time inside the bridge at %d msg/s, p50' % (kind, direction,
                                                                                RATE),
                    inside, 'ms', 0.5, '<=', '<= 0.5 ms', details={
                        'end-to-end p50 ms': end_to_end, 'broker alone p50 ms': broker_p50,
                        'router alone p50 ms': wamp_p50, 'delivered': delivered,
                        'sent': lat_count,
                        'note': 'from the broker client handing the message to the bridge '
                                'until session.publish (and back), from the bridge\'s own '
                                'stats procedure livehub.bridges.<name>.stats'}))
    finally:
        zmq_producer.socket.close(0)
        node.stop()
    return rows


if __name__ == '__main__':
    from benchmarks.run import main
    sys.exit(main(['--only', 'bridges', '--no-docs'] + sys.argv[1:]))
