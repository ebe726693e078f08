"""Issue 2 benchmarks: our publisher against a raw Autobahn publisher, side by side.

1. Throughput: events/s received by a subscriber (separate process, anonymous
   WebSocket like a browser) when N events are published by (a) a raw Autobahn asyncio session and
   (b) ``pyramid_livehub.Publisher``, both over the same router's backend transport.
2. Cost of ``request.livehub.publish()`` in the caller's thread (median, p99).
3. Requests/s of a WSGI view (waitress, loaded by wrk when installed, else a Python
   HTTP client) with and without one publish per request.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.modules.setdefault('bjdata', None)

from benchmarks.bridges import finish_subscriber, produce_wamp, start_subscriber  # noqa: E402
from pyramid_livehub.publisher import Publisher  # noqa: E402
from pyramid_livehub.router.process import RouterProcess, free_port  # noqa: E402
from pyramid_livehub.settings import parse_settings  # noqa: E402

N_EVENTS = int(os.environ.get('BENCH_EVENTS', 20000))


def start_router():
    settings = parse_settings({
        'livehub.router_url': 'rs://127.0.0.1:%d' % free_port(),
        'livehub.browser_url': 'ws://127.0.0.1:%d/ws' % free_port(),
        'livehub.queue_size': str(N_EVENTS * 2),
    })
    return RouterProcess(settings, tempfile.mkdtemp(prefix='livehub-bench-')).start()


def raw_autobahn_publish(settings, topic, count):
    """A bare Autobahn asyncio publisher over the same backend transport; returns its start time."""
    return produce_wamp(settings, topic, count)


def livehub_publish(settings, topic, count):
    publisher = Publisher(settings)
    publisher.publish(topic + '.warmup', 0)
    assert publisher.flush(10)
    start = time.time()
    for i in range(count):
        publisher.publish(topic, i)
    assert publisher.flush(120)
    assert publisher.stats.dropped == 0
    publisher.close(1)
    return start


def throughput(router):
    rows = {}
    for name, publish in (('raw autobahn', raw_autobahn_publish), ('livehub Publisher', livehub_publish)):
        best = 0
        for attempt in range(3):
            topic = 'bench.tp%d%s' % (attempt, name.split()[0])
            sub = start_subscriber(router.settings, topic, N_EVENTS)
            start = publish(router.settings, topic, N_EVENTS)
            stats = finish_subscriber(sub)
            best = max(best, stats['n'] / (stats['last'] - start))
        rows[name] = best
    return rows


def publish_cost():
    """Median and p99 of request.livehub.publish() in the caller's thread (router absent)."""
    from pyramid import testing
    settings = {'livehub.router_url': 'rs://127.0.0.1:%d' % free_port(),
                'livehub.queue_size': '1000000'}
    config = testing.setUp(settings=settings)
    config.include('pyramid_livehub')
    config.commit()
    request = testing.DummyRequest()
    request.registry = config.registry
    from pyramid_livehub.request import livehub_for_request
    hub = livehub_for_request(request)
    payload = {'id': 42, 'total': '9.90', 'items': [1, 2, 3], 'customer': 'ada'}
    samples = []
    clock = time.perf_counter_ns
    for i in range(50000):
        t0 = clock()
        hub.publish('app.orders.created', payload, seq=i)
        samples.append(clock() - t0)
    samples.sort()
    hub.publisher.close(0)
    testing.tearDown()
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99)] / 1000


WSGI_VARIANTS = (
    ('without publish', '0', '0', 'json'),
    ('with publish', '1', '0', 'json'),
    ('with publish, linger 2 ms', '1', '0.002', 'json'),
    ('with publish, msgpack', '1', '0', 'msgpack'),
)


def _process_cpu(pid):
    """User+system CPU seconds of a process so far (Linux /proc)."""
    with open('/proc/%d/stat' % pid) as fh:
        fields = fh.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def _tree_cpu(pid):
    """CPU seconds of a process and all its descendants (a crossbar node's workers)."""
    total = _process_cpu(pid)
    children = subprocess.run(['pgrep', '-P', str(pid)], capture_output=True,
                              text=True).stdout.split()
    return total + sum(_tree_cpu(int(child)) for child in children)


def wsgi_throughput(router, rounds=3, seconds=4):
    """Requests/s, server and router CPU per request of one view, with and without a publish.

    waitress serves, wrk loads (a Python client if wrk is missing); the
    variants alternate and the best round of each counts.
    """
    import shutil
    results = {}
    for _ in range(rounds):
        for name, publish, linger, serializer in WSGI_VARIANTS:
            port = free_port()
            env = dict(os.environ, BENCH_ROUTER_URL=router.settings['router_url'],
                       BENCH_PUBLISH=publish, BENCH_LINGER=linger, BENCH_PORT=str(port),
                       BENCH_SERIALIZER=serializer)
            server = subprocess.Popen([sys.executable, '-m', 'benchmarks.wsgi_app'], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            assert server.stdout.readline().strip() == 'READY'
            url = 'http://127.0.0.1:%d/' % port
            cpu_before = _process_cpu(server.pid)
            router_before = _tree_cpu(router.process.pid)
            if shutil.which('wrk'):
                out = subprocess.run(['wrk', '-t1', '-c8', '-d%ds' % seconds, url],
                                     capture_output=True, text=True).stdout
                rate = float([ln for ln in out.splitlines() if 'Requests/sec' in ln][0].split()[1])
            else:
                rate = _python_load(url, seconds)
            cpu_per_request = (_process_cpu(server.pid) - cpu_before) / (rate * seconds) * 1e6
            router_per_request = ((_tree_cpu(router.process.pid) - router_before)
                                  / (rate * seconds) * 1e6)
            server.terminate()
            server.wait()
            best = results.get(name)
            if best is None or rate > best[0]:
                results[name] = (rate, cpu_per_request, router_per_request)
    return results


def _python_load(url, seconds):
    import http.client
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    count = 0
    stop = time.monotonic() + seconds

    def worker():
        nonlocal count
        conn = http.client.HTTPConnection(parts.hostname, parts.port)
        while time.monotonic() < stop:
            conn.request('GET', '/')
            conn.getresponse().read()
            count += 1

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count / seconds


def main():
    router = start_router()
    try:
        rows = throughput(router)
        raw, ours = rows['raw autobahn'], rows['livehub Publisher']
        print('publisher throughput, %d events, rawsocket backend -> WebSocket subscriber:' % N_EVENTS)
        print('  raw autobahn       %8.0f ev/s' % raw)
        print('  livehub Publisher  %8.0f ev/s   ratio %.2f (target >= 0.95)' % (ours, ours / raw))
        median, p99 = publish_cost()
        print('request.livehub.publish() cost: median %.1f us, p99 %.1f us (target median <= 20 us)'
              % (median, p99))
        web = wsgi_throughput(router)
        base_rate, base_cpu, _ = web['without publish']
        print('WSGI view (waitress + wrk + router on the same 2 cores), best of 3 rounds:')
        for name, _, _, _ in WSGI_VARIANTS:
            rate, cpu, router_cpu = web[name]
            print('  %-26s %6.0f req/s  ratio %.2f (target >= 0.95) | server CPU %4.0f us/request,'
                  ' ratio %.2f | router CPU %4.0f us/request'
                  % (name, rate, rate / base_rate, cpu, base_cpu / cpu, router_cpu))
    finally:
        router.stop()


if __name__ == '__main__':
    main()
