"""The background session (:mod:`pyramid_livehub._session`): an absent router, a fork, a real router.

The reconnect policy and the bounded queue are unit-tested in
tests/unit/test_retry_and_queue.py.
"""
import threading

import pytest

from pyramid_livehub.settings import parse_settings


# -- BackgroundSession -------------------------------------------------------------------

def _unreachable(**extra):
    from pyramid_livehub.router.process import free_port
    raw = {'livehub.router_url': 'rs://127.0.0.1:%d' % free_port(),
           'livehub.browser_url': 'ws://127.0.0.1:%d/ws' % free_port(),
           'livehub.initial_retry_delay': '0.05', 'livehub.max_retry_delay': '0.1'}
    raw.update(extra)
    return parse_settings(raw)


def test_background_session_stops_cleanly_while_reconnecting():
    from pyramid_livehub._session import BackgroundSession
    background = BackgroundSession(_unreachable(), name='test-bg').start()
    assert background.started and background.thread.is_alive()
    assert background.run(_answer(), timeout=5) == 42       # runs coroutines on its loop
    done = threading.Event()
    assert background.call_soon(done.set) and done.wait(5)
    background.stop(5)
    assert not background.thread.is_alive() and background.loop.is_closed()
    assert not background.started and background.session is None


async def _answer():
    return 42


def test_background_session_gives_up_after_max_retries_and_says_why():
    from pyramid_livehub._session import BackgroundSession, run_with_session
    background = BackgroundSession(_unreachable(), max_retries=1).start()
    try:
        with pytest.raises(RuntimeError, match='could not join the router at rs://'):
            background.wait_joined(10)
        assert background.done.done()
    finally:
        background.stop()
    with pytest.raises(RuntimeError, match='could not join'):
        run_with_session(_unreachable(), lambda session: session.call('x'), timeout=10)


def test_background_session_in_a_forked_child_starts_a_thread_of_its_own():
    import os
    from pyramid_livehub._session import BackgroundSession
    background = BackgroundSession(_unreachable(), name='test-fork').start()
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                assert not background.started          # the parent's thread is not here
                background.start()
                code = 0 if background.run(_answer(), timeout=5) == 42 else 2
                background.stop(5)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert background.started                      # the parent's is untouched
    finally:
        background.stop(5)


def test_background_session_joins_and_calls_the_router(router):
    from pyramid_livehub._session import BackgroundSession, run_with_session
    joined = threading.Event()
    with BackgroundSession(router.settings, on_join=lambda s, d: joined.set()) as background:
        session = background.wait_joined(10)
        assert joined.is_set() and session.is_attached()
    assert background.session is None
    count = run_with_session(router.settings, lambda s: s.call('wamp.session.count'))
    assert count >= 1
