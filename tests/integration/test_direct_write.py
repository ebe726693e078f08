"""The request path writes its events from the request's thread (pyramid_livehub._direct).

Real crossbar, real WAMP subscriber.  A spy counts what the direct writer
took, so each test proves the path it is about was the one taken.
"""
import os
import signal
import threading
import time

import psutil
import pytest

from pyramid_livehub import get_publisher
from pyramid_livehub._direct import DirectWriter
from pyramid_livehub.publisher import Publisher
from pyramid_livehub.subscriber import Subscriber
from tests.support import wait_for
from tests.support.app import make_testapp
from tests.support.services import router_settings

TOPIC = 'app.direct.orders'


@pytest.fixture
def direct_spy(monkeypatch):
    """Counts of DirectWriter.write outcomes: written, refused, and partial writes."""
    counts = {'written': 0, 'refused': 0, 'partial': 0}
    write = DirectWriter.write

    def spy(self, topic, args, kwargs):
        ok = write(self, topic, args, kwargs)
        counts['written' if ok else 'refused'] += 1
        if ok and self.rest is not None:
            counts['partial'] += 1
        return ok

    monkeypatch.setattr(DirectWriter, 'write', spy)
    return counts


def make_app(settings):
    def publish_view(request):
        for n in range(int(request.params.get('count', 1))):
            request.livehub.publish(TOPIC, {'n': int(request.params['n']) + n,
                                            'pad': 'x' * int(request.params.get('pad', 0))})
        return {'ok': True}

    def configure(config):
        config.add_route('publish', '/publish')
        config.add_view(publish_view, route_name='publish', renderer='json')
    app = make_testapp(settings, configure=configure)
    return app, get_publisher(app.app.registry)


@pytest.mark.parametrize('serializer', ['json', 'msgpack'])
def test_request_events_are_written_by_the_request_thread_and_acknowledged(
        router, router_raw_settings, direct_spy, serializer, monkeypatch):
    # On a busy machine the loop thread can be preempted holding the write lock
    # for longer than DIRECT_LOCK_WAIT, and that request's event would take the
    # queue (another test covers it): here every request waits for the lock.
    monkeypatch.setattr(Publisher, 'DIRECT_LOCK_WAIT', 30.0)
    app, publisher = make_app(dict(router_raw_settings, **{'livehub.serializer': serializer}))
    try:
        with Subscriber(router.settings, TOPIC) as subscriber:
            assert publisher.connect(timeout=10)
            for n in range(300):
                app.get('/publish', params={'n': n})
            received = [event.args[0]['n'] for event in subscriber.collect(300, timeout=30)]
        assert received == list(range(300))
        assert direct_spy == {'written': 300, 'refused': 0, 'partial': 0}
        # no batch follows the last events: the probe timer asks for their acknowledgement
        wait_for(lambda: publisher.stats.acked == 300, 'the router to acknowledge all 300')
        assert publisher.pending() == 0
        assert publisher.stats.as_dict()['sent'] == 300
        assert publisher.stats.dropped == publisher.stats.failed == 0
    finally:
        publisher.close(2)


def test_a_stalled_router_moves_the_request_path_to_the_queue_and_keeps_the_order(
        private_router, direct_spy):
    """The router stops reading (SIGSTOP): the socket's buffers fill, direct writes are
    refused or cut short, later events queue; after SIGCONT every event arrives, in order."""
    node = private_router()
    app, publisher = make_app(router_settings(**{
        'livehub.router_url': node.settings['router_url'],
        'livehub.browser_url': node.settings['browser_url'],
        'livehub.queue_size': '100000'}))
    subscriber = Subscriber(node.settings, TOPIC).start()
    processes = [psutil.Process(node.process.pid)]
    processes += processes[0].children(recursive=True)
    try:
        assert publisher.connect(timeout=10)
        app.get('/publish', params={'n': 0})
        assert subscriber.get(timeout=10).args[0]['n'] == 0
        for process in processes:
            process.send_signal(signal.SIGSTOP)
        total, n = 1, 1
        # 8 KB events until a direct write is refused (the kernel's buffers are full)
        while direct_spy['refused'] == 0:
            assert total < 20000, 'the socket never filled up: %r' % direct_spy
            app.get('/publish', params={'n': n, 'count': 50, 'pad': 8000})
            n += 50
            total += 50
        app.get('/publish', params={'n': n, 'count': 50, 'pad': 8000})  # these queue
        total += 50
        assert publisher.stats.queued == total
        for process in processes:
            process.send_signal(signal.SIGCONT)
        received = [event.args[0]['n'] for event in subscriber.collect(total - 1, timeout=120)]
        assert received == list(range(1, total))
        wait_for(lambda: publisher.pending() == 0, 'every event acknowledged', timeout=60)
        assert publisher.stats.dropped == publisher.stats.failed == 0
        # the direct path takes over again once the queue is empty
        written = direct_spy['written']
        app.get('/publish', params={'n': total})
        assert direct_spy['written'] == written + 1
        assert subscriber.get(timeout=10).args[0]['n'] == total
    finally:
        for process in processes:
            try:
                process.send_signal(signal.SIGCONT)
            except psutil.NoSuchProcess:
                pass
        subscriber.stop()
        publisher.close(2)


def test_a_forked_child_never_writes_to_the_parents_connection(router, router_raw_settings,
                                                               direct_spy):
    app, publisher = make_app(router_raw_settings)
    try:
        assert publisher.connect(timeout=10)
        app.get('/publish', params={'n': 0})
        assert direct_spy['written'] == 1
        with Subscriber(router.settings, TOPIC) as subscriber:
            pid = os.fork()
            if pid == 0:  # the child publishes on a connection of its own
                code = 3
                try:
                    app.get('/publish', params={'n': 1})
                    # 1: the parent's write; the child queued its own event
                    code = 0 if publisher.flush(20) and direct_spy['written'] == 1 else 4
                finally:
                    os._exit(code)
            assert os.waitpid(pid, 0)[1] == 0
            assert subscriber.get(timeout=10).args[0]['n'] == 1
            app.get('/publish', params={'n': 2})  # the parent's connection still works
            assert subscriber.get(timeout=10).args[0]['n'] == 2
        assert direct_spy['written'] == 2
    finally:
        publisher.close(2)


def test_a_request_never_waits_for_the_write_lock_it_queues_instead(
        router, router_raw_settings, direct_spy):
    """The loop thread holds the write lock through a drain or a resend: a request
    that finds it taken waits at most DIRECT_LOCK_WAIT, then queues its event
    (behind what is being written) and returns."""
    app, publisher = make_app(router_raw_settings)
    held, release = threading.Event(), threading.Event()

    def hold_the_lock():
        with publisher._write_lock:
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold_the_lock, daemon=True)
    try:
        with Subscriber(router.settings, TOPIC) as subscriber:
            assert publisher.connect(timeout=10)
            holder.start()
            assert held.wait(10)
            request = threading.Thread(target=app.get, args=('/publish',),
                                       kwargs={'params': {'n': 7}}, daemon=True)
            request.start()
            request.join(30)
            assert not request.is_alive(), 'the request waited for the write lock'
            assert holder.is_alive()  # still held: the request did not wait for it
            assert direct_spy['written'] == 0
            assert publisher.stats.queued == 1
            release.set()
            assert subscriber.get(timeout=10).args[0]['n'] == 7
    finally:
        release.set()
        publisher.close(2)
