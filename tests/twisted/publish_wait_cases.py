"""A Twisted reactor thread counts as an event loop for the publish wait (run in a child
pytest by tests/unit/test_publish_block_policy.py: the reactor runs once per process)."""
import threading

from twisted.internet import reactor, threads

from pyramid_livehub.publisher import _outside_event_loop


def test_the_reactor_thread_never_waits_other_threads_may():
    seen = {}

    def in_reactor():
        seen['reactor thread'] = _outside_event_loop()
        d = threads.deferToThread(_outside_event_loop)
        d.addCallback(lambda value: seen.__setitem__('worker thread', value))
        d.addBoth(lambda _: reactor.stop())

    assert _outside_event_loop() is True  # imported, not running
    reactor.callWhenRunning(in_reactor)
    timer = threading.Timer(60, lambda: reactor.callFromThread(reactor.stop))
    timer.start()
    try:
        reactor.run(installSignalHandlers=False)
    finally:
        timer.cancel()
    assert seen == {'reactor thread': False, 'worker thread': True}
