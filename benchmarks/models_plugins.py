"""Issue 6 benchmarks: what live models cost a commit, and what a consumer can take.

1. Commit time of a one-row transaction (SQLite file and PostgreSQL): plain;
   with the live-model hooks publishing into a recording publisher (the cost
   of collecting and serializing in the flush); and with the real publisher
   and router (adds the publisher thread's work, which shares the GIL).
2. Consumer throughput: N events published into the router, consumed by a
   consumer running in the router's container worker, which reports its count;
   events/s from the first publish to the last one consumed.

Run: ``python -m benchmarks.models_plugins`` (from the repository root);
``run(ctx)`` returns the rows for ``make bench``.
"""
import os
import statistics
import sys
import tempfile
import time
import uuid

sys.modules.setdefault('bjdata', None)

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column  # noqa: E402

from benchmarks.rows import info  # noqa: E402
from pyramid_livehub.models import publish_model_changes  # noqa: E402
from pyramid_livehub.plugins import Consumer  # noqa: E402
from pyramid_livehub.publisher import Publisher  # noqa: E402
from pyramid_livehub.router.process import RouterProcess, free_port  # noqa: E402
from pyramid_livehub.settings import parse_settings  # noqa: E402
from pyramid_livehub.subscriber import Subscriber  # noqa: E402

N_COMMITS = int(os.environ.get('BENCH_COMMITS', 2000))
N_EVENTS = int(os.environ.get('BENCH_EVENTS', 20000))
POSTGRES_URL = 'postgresql+psycopg2://postgres@127.0.0.1:5432/test'


class CountingConsumer(Consumer):
    """Counts ``bench.plugins.in`` events; reports every 1000th and the last one."""

    topic = 'bench.plugins.in'

    def __init__(self, hub):
        super().__init__(hub)
        self.count = 0

    def consume(self, message):
        self.count += 1
        if self.count % 1000 == 0 or message.body.get('last'):
            self.publish('bench.plugins.progress', {'count': self.count})


def raw_settings(**extra):
    raw = {'livehub.router_url': 'rs://127.0.0.1:%d' % free_port(),
           'livehub.browser_url': 'ws://127.0.0.1:%d/ws' % free_port(),
           'livehub.queue_size': str(max(N_EVENTS, N_COMMITS) * 2)}
    raw.update(extra)
    return raw


def commit_times(engine, model, n):
    times = []
    with Session(engine) as session:
        for i in range(n):
            start = time.perf_counter()
            session.add(model(title='order %d' % i, status='new', note='x' * 40))
            session.commit()
            times.append(time.perf_counter() - start)
    return times


def make_model():
    class Base(DeclarativeBase):
        pass

    class Order(Base):
        __tablename__ = 'bench_orders_%s' % uuid.uuid4().hex[:8]
        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str] = mapped_column(sa.String(80))
        status: Mapped[str] = mapped_column(sa.String(20))
        note: Mapped[str] = mapped_column(sa.String(80))

    return Base, Order


def bench_model_commits(raw):
    from pyramid_livehub.testing import RecordingPublisher
    publisher = Publisher.from_settings(raw)
    recorder = RecordingPublisher(raw)
    variants = (('plain', None), ('hooks only', recorder), ('live model', publisher))
    found = {}
    for name, url in (('sqlite', 'sqlite:///%s/bench.db' % tempfile.mkdtemp()),
                      ('postgresql', POSTGRES_URL)):
        engine = sa.create_engine(url)
        results = []
        for label, target in variants:
            Base, Order = make_model()
            Base.metadata.create_all(engine)
            try:
                if target is not None:
                    publish_model_changes(Order, target, topic='bench.order',
                                          fields=['id', 'title', 'status'])
                commit_times(engine, Order, 50)  # warm up
                times = sorted(commit_times(engine, Order, N_COMMITS))
                results.append((label, statistics.median(times), times[int(len(times) * 0.99)]))
            finally:
                Base.metadata.drop_all(engine)
        engine.dispose()
        plain = results[0][1]
        print('  %-10s one-row commit, median / p99 (overhead vs plain):' % name)
        for label, median, p99 in results:
            print('    %-11s %.3f ms / %.3f ms (%+.0f us)'
                  % (label, median * 1e3, p99 * 1e3, (median - plain) * 1e6))
        recorder.outbox.clear()
        found[name] = results
    assert publisher.flush(30)
    publisher.close(5)
    return found


def bench_consumer_throughput(raw):
    publisher = Publisher.from_settings(raw)
    with Subscriber(raw, 'bench.plugins.progress') as progress:
        start = time.perf_counter()
        for i in range(N_EVENTS - 1):
            publisher.publish('bench.plugins.in', {'i': i})
        publisher.publish('bench.plugins.in', {'i': N_EVENTS - 1, 'last': True})
        count = 0
        while count < N_EVENTS:
            count = progress.get(timeout=60).args[0]['count']
        elapsed = time.perf_counter() - start
    publisher.close(5)
    print('  consumer in the router: %d events in %.2f s = %.0f events/s (publish -> consume)'
          % (N_EVENTS, elapsed, N_EVENTS / elapsed))
    return N_EVENTS / elapsed


def run(ctx):
    """Rows: what a live model adds to a one-row commit; a consumer's throughput in the router."""
    global N_COMMITS, N_EVENTS
    N_COMMITS = int(os.environ.get('BENCH_COMMITS', ctx.scale(2000, 500)))
    N_EVENTS = int(os.environ.get('BENCH_EVENTS', ctx.scale(20000, 5000)))
    raw = raw_settings(**{'livehub.plugin_entry_points': 'false',
                          'livehub.consumers': 'benchmarks.models_plugins:CountingConsumer',
                          'livehub.consumer_backlog': str(N_EVENTS)})
    node = RouterProcess(parse_settings(raw), tempfile.mkdtemp(prefix='livehub-bench-'))
    node.start(wait_for_log='livehub plugins ready')
    rows = []
    try:
        for database, results in bench_model_commits(raw).items():
            plain = results[0][1]
            for label, median, p99 in results[1:]:
                rows.append(info('%s one-row commit, %s, median' % (database, label),
                                 median * 1e3, 'ms', plain * 1e3, details={
                                     'p99 ms': p99 * 1e3, 'overhead us': (median - plain) * 1e6,
                                     'note': '%d commits; reference: the same commit without '
                                             'live-model hooks' % N_COMMITS},
                                 label='plain'))
        rows.append(info('consumer in the router, publish -> consume', bench_consumer_throughput(
            raw), 'ev/s', details={'note': '%d events from a Publisher to a Consumer in the '
                                           'container worker' % N_EVENTS}))
    finally:
        node.stop()
    return rows


if __name__ == '__main__':
    from benchmarks.run import main
    sys.exit(main(['--only', 'models_plugins', '--no-docs'] + sys.argv[1:]))
