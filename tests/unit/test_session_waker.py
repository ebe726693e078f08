"""The background session's wake-up: callbacks run in the loop's thread, and the
caller keeps the GIL while it wakes the loop (so ``publish()`` returns at once)."""
import asyncio
import sys
import threading

import pytest

from pyramid_livehub import _session
from tests.support import wait_for


@pytest.fixture
def loop_thread():
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder = {}

    def run():
        holder['waker'] = _session._Waker(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield loop, holder['waker'], thread
    loop.call_soon_threadsafe(holder['waker'].close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_wake_runs_callbacks_in_the_loop_thread_in_order(loop_thread):
    _, waker, thread = loop_thread
    seen = []
    for n in range(50):
        assert waker.wake(lambda n=n: seen.append((n, threading.get_ident())))
    wait_for(lambda: len(seen) == 50, lambda: 'all 50 callbacks, ran %d' % len(seen))
    assert [n for n, _ in seen] == list(range(50))
    assert {ident for _, ident in seen} == {thread.ident}


def test_a_failing_callback_does_not_stop_the_next(loop_thread):
    _, waker, _ = loop_thread
    seen = []
    waker.wake(lambda: 1 / 0)
    waker.wake(lambda: seen.append('next'))
    wait_for(lambda: seen == ['next'], lambda: 'the next callback, saw %r' % seen)


def test_the_caller_keeps_the_gil_while_waking(loop_thread):
    # With a wake-up that releases the GIL (os.write, call_soon_threadsafe) the
    # loop thread can take it during the write and run the callback before
    # wake() returns.  Holding it, the caller always goes first (the switch
    # interval is raised so that Python does not force a switch meanwhile).
    assert _session._libc_write is not None, 'libc write through ctypes.PyDLL is available on Linux'
    _, waker, _ = loop_thread
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1.0)
    try:
        for _ in range(20):
            order = []
            waker.wake(lambda: order.append('callback'))
            order.append('returned')
            wait_for(lambda: len(order) == 2, lambda: 'both callbacks, saw %r' % order)
            assert order == ['returned', 'callback']
    finally:
        sys.setswitchinterval(interval)


def test_a_closed_waker_refuses_and_the_session_falls_back_to_call_soon():
    background = _session.BackgroundSession({'livehub.router_url': 'rs://127.0.0.1:9'},
                                            max_retries=0)
    assert background.wake(lambda: None) is False  # no loop yet
    loop = asyncio.new_event_loop()
    try:
        waker = _session._Waker(loop)
        waker.close()
        assert waker.wake(lambda: None) is False
        waker.close()  # twice is fine
    finally:
        loop.close()
