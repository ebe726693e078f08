"""Issue 12 benchmarks: what history and acknowledged publishing cost, same routers, same run.

Two routers run side by side for the whole module, with the same
``livehub.history`` line (``bench.hist.**``): one keeps history in memory,
the other in Redis (127.0.0.1:6379, under a key prefix of this run's own,
deleted at the end).  Each measurement is the real path a user gets: a
fresh :class:`pyramid_livehub.Publisher` in this process publishes
``BENCH_EVENTS`` 100-byte JSON events flat out to one router, and a
subscriber process (WebSocket/JSON, like a browser) must receive every one;
throughput = events received / (last receive - first publish).  The
subscriber reports distinct events and order, so loss and duplicates show.

Per round, six measurements (plain and history topics, acknowledged and
fire-and-forget on the memory router; plain and history topics,
acknowledged, on the Redis router) run in an order reversed every other
round, so load drift on a shared machine hits both sides of each ratio.
The median over rounds is reported.  Rows (targets from issue 12):

* history on vs off, memory store and Redis store: >= 0.8 (each against
  plain topics on the same router);
* acknowledged (``livehub.publish_acks = true``, the default) vs
  fire-and-forget: >= 0.9, plain topic and history topic;
* CPU per event in the publishing process (caller + publisher thread),
  acknowledged vs fire-and-forget: reported, since on a busy machine the
  subscriber, not the publisher, usually limits the throughput.

``python -m benchmarks.history_acks [--quick]`` runs this module alone.
"""
import os
import sys
import tempfile
import time
import uuid

sys.modules.setdefault('bjdata', None)

from benchmarks import procs  # noqa: E402
from benchmarks.rows import absolute, info, median, vs_reference  # noqa: E402

REDIS_URL = 'redis://127.0.0.1:6379/0'
HISTORY_LINE = 'bench.hist.** 1000000'
PAYLOAD_BYTES = 100

#: (key, router, topic kind, acks) of one round's measurements.
MEASUREMENTS = (
    ('memory plain acked', 'memory', 'plain', True),
    ('memory plain fire-and-forget', 'memory', 'plain', False),
    ('memory history acked', 'memory', 'hist', True),
    ('memory history fire-and-forget', 'memory', 'hist', False),
    ('redis plain acked', 'redis', 'plain', True),
    ('redis history acked', 'redis', 'hist', True),
)

#: (row name, value key, reference key, target, goal text, reference label)
RATIO_ROWS = (
    ('throughput, history on vs off, memory store', 'memory history acked',
     'memory plain acked', 0.8, '>= 0.8 x history off, nothing lost', 'history off'),
    ('throughput, history on vs off, Redis store', 'redis history acked',
     'redis plain acked', 0.8, '>= 0.8 x history off, nothing lost', 'history off'),
    ('throughput, acked vs fire-and-forget, plain topic', 'memory plain acked',
     'memory plain fire-and-forget', 0.9, '>= 0.9 x fire-and-forget, nothing lost',
     'fire-and-forget'),
    ('throughput, acked vs fire-and-forget, history topic',
     'memory history acked', 'memory history fire-and-forget', 0.9,
     '>= 0.9 x fire-and-forget, nothing lost', 'fire-and-forget'),
)


def round_order(round_index):
    """The measurements of round ``round_index``: every other round reversed.

    Alternating the order means neither side of a ratio always runs first
    (right after a router start, or while another helper's load ramps up).
    """
    order = list(MEASUREMENTS)
    return order if round_index % 2 == 0 else order[::-1]


def payload(i):
    """A 100-byte JSON object carrying the event's index ``i`` (checked by the subscriber)."""
    body = {'i': i, 'pad': ''}
    body['pad'] = 'x' * max(0, PAYLOAD_BYTES - len('{"i": %d, "pad": ""}' % i))
    return body


def loss(count, stats):
    """``{'lost', 'duplicates', 'out_of_order'}`` from a subscriber's report of ``count`` events."""
    distinct = stats.get('distinct', 0)
    return {'lost': count - distinct, 'duplicates': stats['n'] - distinct,
            'out_of_order': stats.get('out_of_order', 0)}


def raw_settings(router_url, browser_url, store, acks, queue_size):
    """The ``livehub.*`` settings of the routers and of each publisher."""
    return {'livehub.router_url': router_url, 'livehub.browser_url': browser_url,
            'livehub.queue_size': str(queue_size), 'livehub.publish_acks': str(acks).lower(),
            'livehub.history': HISTORY_LINE, 'livehub.history_store': store}


def summarize(results, count, rounds):
    """Rows from ``results`` ({measurement key: [one dict per round]}).

    Each dict has ``rate`` (ev/s), ``cpu_us`` (publisher CPU per event),
    ``lost``, ``duplicates``, ``out_of_order``, ``flushed`` (``flush()``
    returned True) and ``publisher`` (its counters).  A ratio row is met
    only when both of its sides lost, duplicated and reordered nothing and
    flushed in every round.
    """
    def clean(key):
        return all(r['lost'] == 0 and r['duplicates'] == 0 and r['out_of_order'] == 0
                   and r['flushed'] for r in results[key])

    def rates(key):
        return [round(r['rate']) for r in results[key]]

    rows = []
    for name, key, ref, target, text, label in RATIO_ROWS:
        value = median([r['rate'] for r in results[key]])
        reference = median([r['rate'] for r in results[ref]])
        pairs = [a['rate'] / b['rate'] if b['rate'] else None
                 for a, b in zip(results[key], results[ref])]
        rows.append(vs_reference(
            name, value, reference, 'ev/s', target, '>=', text,
            against='baseline', ok=clean(key) and clean(ref), label=label, details={
                'events per run': count, 'rounds': {key: rates(key), ref: rates(ref)},
                'per-round ratios': [None if p is None else round(p, 3) for p in pairs],
                'lost': {key: [r['lost'] for r in results[key]],
                         ref: [r['lost'] for r in results[ref]]},
                'publisher': {key: results[key][-1]['publisher'],
                              ref: results[ref][-1]['publisher']},
                'note': 'median of %d alternating rounds; Publisher in the bench process -> '
                        'crossbar router -> 1 WebSocket/JSON subscriber process that must '
                        'receive every event; ev/s = received / (last receive - first '
                        'publish)' % rounds}))
    for kind in ('plain', 'history'):
        acked = median([r['cpu_us'] for r in results['memory %s acked' % kind]])
        fire = median([r['cpu_us'] for r in results['memory %s fire-and-forget' % kind]])
        rows.append(info(
            'publisher CPU per event, acked, %s topic' % kind,
            acked, 'us', reference=fire, label='fire-and-forget', details={
                'note': 'CPU of the publishing process (caller + publisher thread) per event, '
                        'median of the rounds; the publisher\'s own cost of acknowledgements'}))
    problems = {key: {'lost': sum(r['lost'] for r in runs),
                      'duplicates': sum(r['duplicates'] for r in runs),
                      'out_of_order': sum(r['out_of_order'] for r in runs)}
                for key, runs in results.items()}
    bad = sum(sum(p.values()) for p in problems.values())
    rows.append(absolute(
        'events lost, duplicated or reordered, all %d runs' % sum(
            len(runs) for runs in results.values()), bad, 'events', 0, '<=', '0',
        details={'per measurement': problems}))
    return rows


class Routers:
    """The memory-store and Redis-store routers of this module, and their cleanup."""

    def __init__(self, queue_size):
        self.queue_size = queue_size
        self.prefix = 'livehub:bench:%s:' % uuid.uuid4().hex
        self.nodes = {}

    def start(self):
        from pyramid_livehub.router.process import RouterProcess, free_port
        from pyramid_livehub.settings import parse_settings
        import redis
        redis.Redis.from_url(REDIS_URL).ping()  # fail here, clearly, when Redis is down
        stores = {'memory': 'memory', 'redis': '%s?prefix=%s' % (REDIS_URL, self.prefix)}
        for name, store in stores.items():
            settings = parse_settings(raw_settings(
                'rs://127.0.0.1:%d' % free_port(), 'ws://127.0.0.1:%d/ws' % free_port(),
                store, True, self.queue_size))
            node = RouterProcess(settings, tempfile.mkdtemp(prefix='livehub-bench-hist-'))
            self.nodes[name] = node
            node.start(timeout=60, wait_for_log='livehub history: ready')
            pinning = procs.pin_settings()
            if pinning:
                procs.pin(node.process.pid, pinning[0])
        return self

    def stop(self):
        for node in self.nodes.values():
            node.stop()
        import redis
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=self.prefix + '*', count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
        return len(keys)


def measure(node, topic, acks, count, queue_size):
    """One measurement: a fresh Publisher -> ``node`` -> one subscriber; a result dict."""
    # imported here: benchmarks.bridges loads every broker client, and the
    # unit tests of summarize() should not pay for that
    from benchmarks.bridges import finish_subscriber, start_subscriber
    from pyramid_livehub.publisher import Publisher
    from pyramid_livehub.settings import parse_settings
    settings = parse_settings(raw_settings(
        node.settings['router_url'], node.settings['browser_url'],
        node.settings['history_store'], acks, queue_size))
    publisher = Publisher(settings)
    # warm up: joined, and on history topics the history component answered
    publisher.publish(topic + '.warmup', payload(-1))
    assert publisher.flush(30), 'the publisher did not reach the router'
    sub = start_subscriber(node.settings, topic, count)
    try:
        start = time.time()
        cpu = time.process_time()
        for i in range(count):
            publisher.publish(topic, payload(i))
        flushed = publisher.flush(180)
        cpu = time.process_time() - cpu  # this process: caller + publisher thread
        stats = finish_subscriber(sub)
    finally:
        if sub.poll() is None:
            sub.kill()
    counters = publisher.stats.as_dict()
    publisher.close(1)
    elapsed = (stats['last'] - start) if stats['last'] else None
    result = {'rate': stats['n'] / elapsed if elapsed else 0.0, 'received': stats['n'],
              'cpu_us': cpu / count * 1e6, 'flushed': flushed, 'publisher': counters}
    result.update(loss(count, stats))
    return result


def run(ctx):
    """Rows: history on (memory, Redis) vs off, acknowledged vs fire-and-forget."""
    count = int(os.environ.get('BENCH_EVENTS', ctx.scale(20000, 10000)))
    rounds = int(os.environ.get('BENCH_ROUNDS', ctx.scale(3, 2)))
    queue_size = count * 2  # nothing may be dropped at the publisher
    routers = Routers(queue_size).start()
    results = {key: [] for key, _, _, _ in MEASUREMENTS}
    try:
        for n in range(rounds):
            for key, router, kind, acks in round_order(n):
                topic = 'bench.%s.%s.r%d' % (kind, key.replace(' ', '_').replace('-', '_'), n)
                result = measure(routers.nodes[router], topic, acks, count, queue_size)
                results[key].append(result)
                print('round %d %-32s %8.0f ev/s  %5.1f us CPU/event  lost %d dup %d '
                      'reordered %d  %s' % (n, key, result['rate'], result['cpu_us'],
                                            result['lost'], result['duplicates'],
                                            result['out_of_order'], result['publisher']),
                      flush=True)
    finally:
        deleted = routers.stop()
        print('deleted %d Redis keys under %s' % (deleted, routers.prefix), flush=True)
    return summarize(results, count, rounds)


if __name__ == '__main__':
    from benchmarks.run import main
    sys.exit(main(['--only', 'history_acks', '--no-docs'] + sys.argv[1:]))
