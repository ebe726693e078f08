"""Issue 12 benchmark: acknowledged publishing against fire-and-forget, same router, same run.

``python -m benchmarks.acked_publish`` starts one router (with a history
line for ``bench.hist.**``), one subscriber process (WebSocket/JSON, like a
browser) per measurement, and publishes ``BENCH_EVENTS`` (20,000) events
with ``pyramid_livehub.Publisher`` in each mode, alternating, best of
``BENCH_ROUNDS``.  Throughput = events received / (last receive - first
publish); on a shared machine it swings by tens of percent between runs, so
the CPU the publishing process spends per event (caller + publisher thread,
``time.process_time``) is printed too: it is the publisher's own cost.  The target (issue 12) is acked >= 0.9 x fire-and-forget.
"""
import json
import os
import sys
import tempfile
import time

sys.modules.setdefault('bjdata', None)

from benchmarks.bridges import finish_subscriber, start_subscriber  # noqa: E402
from pyramid_livehub.publisher import Publisher  # noqa: E402
from pyramid_livehub.router.process import RouterProcess, free_port  # noqa: E402
from pyramid_livehub.settings import parse_settings  # noqa: E402

N_EVENTS = int(os.environ.get('BENCH_EVENTS', 20000))
ROUNDS = int(os.environ.get('BENCH_ROUNDS', 3))


def raw_settings(router_url, browser_url, acks):
    return {'livehub.router_url': router_url, 'livehub.browser_url': browser_url,
            'livehub.queue_size': str(N_EVENTS * 2), 'livehub.publish_acks': str(acks),
            'livehub.history': 'bench.hist.** 50000'}


def run(router, topic, acks):
    settings = parse_settings(raw_settings(router.settings['router_url'],
                                           router.settings['browser_url'], acks))
    publisher = Publisher(settings)
    publisher.publish(topic + '.warmup', 0)
    assert publisher.flush(10)
    sub = start_subscriber(settings, topic, N_EVENTS)
    start = time.time()
    cpu = time.process_time()
    for i in range(N_EVENTS):
        publisher.publish(topic, i)
    assert publisher.flush(180)
    cpu = time.process_time() - cpu  # this process: caller + publisher thread
    stats = finish_subscriber(sub)
    counters = publisher.stats.as_dict()
    publisher.close(1)
    return stats['n'] / (stats['last'] - start), stats['n'], counters, cpu / N_EVENTS * 1e6


def main():
    settings = parse_settings(raw_settings('rs://127.0.0.1:%d' % free_port(),
                                           'ws://127.0.0.1:%d/ws' % free_port(), True))
    router = RouterProcess(settings, tempfile.mkdtemp(prefix='livehub-bench-'))
    router.start(timeout=40, wait_for_log='livehub history: ready')
    results, cpus = {}, {}
    try:
        for attempt in range(ROUNDS):
            for kind, prefix in (('plain', 'bench.plain'), ('history', 'bench.hist')):
                for acks in (False, True):
                    name = '%s %s' % (kind, 'acked' if acks else 'fire-and-forget')
                    rate, received, counters, cpu = run(
                        router, '%s.r%d%s' % (prefix, attempt, int(acks)), acks)
                    print('%-28s %8.0f ev/s  %5.1f us CPU/event in the publishing process  '
                          'received %d  %s' % (name, rate, cpu, received, json.dumps(counters)))
                    results[name] = max(results.get(name, 0), rate)
                    cpus.setdefault(name, []).append(cpu)
    finally:
        router.stop()
    for kind in ('plain', 'history'):
        ratio = results['%s acked' % kind] / results['%s fire-and-forget' % kind]
        print('%s: acked %.0f ev/s, fire-and-forget %.0f ev/s, ratio %.2f (target >= 0.9); '
              'publisher CPU/event %.1f vs %.1f us' % (
                  kind, results['%s acked' % kind], results['%s fire-and-forget' % kind], ratio,
                  min(cpus['%s acked' % kind]), min(cpus['%s fire-and-forget' % kind])))


if __name__ == '__main__':
    main()
