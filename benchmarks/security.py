"""Issue 5 benchmarks: what live-topic security costs.

1. Pure logic: tickets issued and verified per second; topic-rule decisions per second.
2. Through a real crossbar node, a browser-like Autobahn client on the WebSocket:
   time to join (anonymous on a node without auth, anonymous and ticket on a node with
   auth) and time to subscribe (static permissions vs the dynamic authorizer), median
   and p95 over ``BENCH_ROUNDS`` rounds.

Run: ``.venv/bin/python -m benchmarks.security``; ``run(ctx)`` returns the rows
for ``make bench``.
"""
import asyncio
import os
import statistics
import sys
import tempfile
import time

sys.modules.setdefault('bjdata', None)

from benchmarks.rows import info, percentile  # noqa: E402
from pyramid_livehub.router.auth import READY_MESSAGE  # noqa: E402
from pyramid_livehub.router.process import RouterProcess, free_port  # noqa: E402
from pyramid_livehub.security import issue_ticket, parse_rules, rules_allow, verify_ticket  # noqa: E402
from pyramid_livehub.settings import parse_settings  # noqa: E402
from pyramid_livehub.testing import join_as_browser  # noqa: E402

ROUNDS = int(os.environ.get('BENCH_ROUNDS', 100))
SECRET = 'bench-secret-0123456789-abcdefghijklmnop'


def rate(fn, seconds=1.0):
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - start)


def bench_pure():
    """Operations per second of the pure security functions: {name: rate}."""
    ticket = issue_ticket(SECRET, 'livehub', 'alice', principals=['group:a', 'group:b'])
    rules = parse_rules('demo.** app.** !app.user.** app.user.{authid}.**')
    return {
        'issue_ticket': rate(lambda: issue_ticket(SECRET, 'livehub', 'alice',
                                                  principals=['group:a'])),
        'verify_ticket': rate(lambda: verify_ticket(SECRET, ticket, 'livehub')),
        'rules_allow, exact': rate(lambda: rules_allow(rules, 'app.user.alice.inbox', 'exact',
                                                       'alice')),
        'rules_allow, prefix': rate(lambda: rules_allow(rules, 'app.orders.', 'prefix', None)),
    }


def summary(samples):
    samples = sorted(samples)
    p95 = samples[int(len(samples) * 0.95) - 1]
    return 'median %6.2f ms  p95 %6.2f ms' % (statistics.median(samples) * 1000, p95 * 1000)


async def measure(settings, label, with_ticket):
    url, realm = settings['browser_url'], settings['realm']
    joins, subscribes = [], []
    for n in range(ROUNDS):
        ticket = issue_ticket(SECRET, realm, 'user%d' % n) if with_ticket else None
        start = time.perf_counter()
        session = await join_as_browser(url, realm, 'user%d' % n, ticket)
        joins.append(time.perf_counter() - start)
        topic = 'app.user.user%d.inbox' % n if with_ticket else 'demo.bench.%d' % n
        start = time.perf_counter()
        await session.subscribe(lambda *a: None, topic)
        subscribes.append(time.perf_counter() - start)
        session.leave()
    print('  %-34s join %s | subscribe %s' % (label, summary(joins), summary(subscribes)))
    return joins, subscribes


def node(auth):
    raw = {
        'livehub.router_url': 'rs://127.0.0.1:%d' % free_port(),
        'livehub.browser_url': 'ws://127.0.0.1:%d/ws' % free_port(),
    }
    if auth:
        raw.update({'livehub.auth': 'true', 'livehub.ticket_secret': SECRET})
    settings = parse_settings(raw)
    process = RouterProcess(settings, tempfile.mkdtemp(prefix='livehub-bench-security-'))
    process.start(wait_for_log=READY_MESSAGE if auth else None)
    return process


def run(ctx):
    """Rows: pure security operations per second; join and subscribe times through crossbar."""
    global ROUNDS
    ROUNDS = int(os.environ.get('BENCH_ROUNDS', ctx.scale(100, 30)))
    rows = [info(name + ' (pure logic)', value, 'ops/s')
            for name, value in bench_pure().items()]
    measured = {}
    plain = node(auth=False)
    try:
        measured['auth off, anonymous'] = asyncio.run(measure(plain.settings, 'off', False))
    finally:
        plain.stop()
    secure = node(auth=True)
    try:
        measured['auth on, anonymous (authorizer)'] = asyncio.run(
            measure(secure.settings, 'anon', False))
        measured['auth on, ticket'] = asyncio.run(measure(secure.settings, 'ticket', True))
    finally:
        secure.stop()
    base_join, base_sub = (statistics.median(x) * 1000 for x in measured['auth off, anonymous'])
    for label, (joins, subscribes) in measured.items():
        note = {'note': '%d browser-like WebSocket sessions, one after the other' % ROUNDS}
        rows.append(info('join, %s, median' % label, statistics.median(joins) * 1000, 'ms',
                         base_join, details={'p95 ms': percentile(joins, 0.95) * 1000, **note},
                         label='auth off'))
        rows.append(info('subscribe, %s, median' % label, statistics.median(subscribes) * 1000,
                         'ms', base_sub, details={'p95 ms': percentile(subscribes, 0.95) * 1000},
                         label='auth off'))
    return rows


if __name__ == '__main__':
    from benchmarks.run import main
    sys.exit(main(['--only', 'security', '--no-docs'] + sys.argv[1:]))
