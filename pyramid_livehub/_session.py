"""One WAMP session outside the router: an Autobahn ``Component`` on its own loop in a thread.

Everything in livehub that talks to the router from a normal Python
process uses :class:`BackgroundSession`: the publisher, the subscriber,
``fetch_plugin_stats``, the demo's viewer counter, the tests and the
benchmarks.  It owns the asyncio loop (in a daemon thread, so that it works
beside any web server and beside other loops), reconnects with
:class:`pyramid_livehub._retry.RetryPolicy`, stops cleanly (the session
leaves, every task is cancelled and awaited, the loop closes, the thread is
joined) and notices a fork: in a child process the parent's thread does not
exist, so :attr:`BackgroundSession.started` is False there and
:meth:`~BackgroundSession.start` builds a new one.

For a one-off call, :func:`run_with_session` joins, runs a coroutine with the
session and stops.
"""
import asyncio
import collections
import concurrent.futures
import ctypes
import logging
import os
import threading
import time
from typing import Any, Callable

from pyramid_livehub._retry import RetryPolicy

__all__ = ['BackgroundSession', 'run_with_session', 'make_transport', 'backend_authentication']

log = logging.getLogger(__name__)


def backend_authentication(settings):
    """Autobahn ``Component`` authentication for the backend identity (WAMP-CRA)."""
    return {'wampcra': {'authid': settings['backend_authid'],
                        'secret': settings['backend_secret']}}


def make_transport(settings):
    """Autobahn ``Component`` transport config for ``livehub.router_url``.

    The retry options are Autobahn's names for the ``livehub.*retry*``
    settings; :class:`BackgroundSession` makes the delays follow
    :class:`~pyramid_livehub._retry.RetryPolicy` (Autobahn's own formula differs).
    """
    url = settings['router_url']
    kind = 'rawsocket' if url.startswith(('rs://', 'rss://')) else 'websocket'
    transport = {
        'type': kind,
        'url': url,
        'max_retries': settings['max_retries'],
        'initial_retry_delay': settings['initial_retry_delay'],
        'max_retry_delay': settings['max_retry_delay'],
        'retry_delay_growth': settings['retry_delay_growth'],
        'retry_delay_jitter': settings['retry_delay_jitter'],
    }
    if kind == 'rawsocket':
        transport['serializer'] = settings['serializer']
    else:
        transport['serializers'] = [settings['serializer']]
    return transport


def _write_keeping_gil():
    """libc ``write(fd, buf, count)`` called without releasing the GIL (None where unavailable).

    ``os.write`` releases the GIL around the system call: the thread it wakes
    takes the GIL at once and the caller waits until that thread lets go.
    Through ``ctypes.PyDLL`` the caller keeps it for the microsecond the
    write of one byte to a non-blocking pipe takes.
    """
    try:
        write = ctypes.PyDLL(None).write
    except (OSError, AttributeError):  # not a POSIX libc (Windows)
        return None
    write.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t)
    write.restype = ctypes.c_ssize_t
    return write


_libc_write = _write_keeping_gil()


class _Waker:
    """Runs callbacks in a loop's thread, woken by other threads without a GIL hand-off.

    ``loop.call_soon_threadsafe`` wakes the loop with ``socket.send``, which
    releases the GIL: the woken loop thread takes it and runs its callback
    (the publisher's whole drain) while the calling thread, a web request,
    waits: ~70 us per publish at low rates on an idle machine, a
    millisecond or more on a busy one.  Here the caller writes its wake-up
    byte holding the GIL (:func:`_write_keeping_gil`), so ``publish()``
    returns at once and the loop thread runs when the caller next releases
    the GIL (any I/O, or Python's switch interval).  Create it in the
    loop's thread; :meth:`close` there too.
    """

    def __init__(self, loop):
        self._loop = loop
        self._read_fd, write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(write_fd, False)
        self._write_fd: int | None = write_fd
        self._callbacks: collections.deque[Callable[[], Any]] = collections.deque()
        self._lock = threading.Lock()  # a wake never writes to a closed (reused) fd
        loop.add_reader(self._read_fd, self._run_callbacks)

    def wake(self, callback):
        """Run ``callback()`` in the loop's thread soon; False if closed."""
        with self._lock:
            if self._write_fd is None:
                return False
            self._callbacks.append(callback)
            if _libc_write is not None:
                _libc_write(self._write_fd, b'\0', 1)  # -1 (pipe full) is fine: a wake is pending
            else:
                try:
                    os.write(self._write_fd, b'\0')
                except BlockingIOError:
                    pass
        return True

    def _run_callbacks(self):
        # One read (each system call lets another thread take the GIL): a
        # wake is a byte, and what a read leaves wakes the selector again.
        try:
            os.read(self._read_fd, 4096)
        except BlockingIOError:
            pass
        callbacks = self._callbacks
        while callbacks:
            callback = callbacks.popleft()
            try:
                callback()
            except Exception:  # noqa: BLE001 - as asyncio does for a callback
                log.exception('livehub: a callback in the background session failed')

    def close(self):
        with self._lock:
            if self._write_fd is None:
                return
            write_fd, self._write_fd = self._write_fd, None
            self._loop.remove_reader(self._read_fd)
            os.close(self._read_fd)
            os.close(write_fd)


#: Per loop thread: True once its session is being stopped on purpose.
_thread_state = threading.local()


def _demote_retry_notice(record):
    """Demote Autobahn messages that tell our users nothing.

    "trying transport 0 ..." is logged at WARNING and "connecting once using
    transport type ..." at INFO before every connect attempt (the
    publisher's own warning already says the router is away, once; Autobahn's
    "Connection failed with OS error" INFO line still gives each attempt's
    reason); "Connection failed: TransportLost" is logged at ERROR when a
    session we stop on purpose leaves while a call is in flight.
    """
    message = str(record.msg)
    if message.startswith(('trying transport', 'connecting once using transport')) or (
            message.startswith('Connection failed') and getattr(_thread_state, 'stopping', False)):
        record.levelno, record.levelname = logging.DEBUG, 'DEBUG'
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
    return True


logging.getLogger('autobahn.asyncio.component.Component').addFilter(_demote_retry_notice)

class BackgroundSession:
    """A WAMP session to the router kept by a daemon thread with its own asyncio loop.

    ``settings`` are parsed livehub settings (or a raw dict).  ``url``
    replaces ``livehub.router_url``, ``authentication`` the backend login
    (``{}``: anonymous, like a browser), ``max_retries`` the setting.
    ``on_join(session, details)``, ``on_leave(session, details)`` and
    ``on_disconnect(session, was_clean)`` run in the loop's thread (they may
    be coroutine functions).  ::

        background = BackgroundSession(settings, on_join=subscribe_things).start()
        background.call_soon(lambda: background.session.publish('app.x', 1))
        background.stop()
    """

    def __init__(self, settings, name='livehub-session', url=None, authentication=None,
                 max_retries=None, on_join=None, on_leave=None, on_disconnect=None):
        from pyramid_livehub.settings import LivehubSettings, parse_settings
        if not isinstance(settings, LivehubSettings):
            settings = parse_settings(settings)
        self.settings = settings
        self.name = name
        self.url = url or settings['router_url']
        self.authentication = (backend_authentication(settings) if authentication is None
                               else authentication)
        self.max_retries = settings['max_retries'] if max_retries is None else max_retries
        self.on_join = on_join
        self.on_leave = on_leave
        self.on_disconnect = on_disconnect
        self._reset()

    def _reset(self):
        self._pid = os.getpid()
        self._started = False
        self._start_lock = threading.Lock()
        self.thread = None
        self._fresh_state()

    def _fresh_state(self):
        #: the joined WAMP session, None while there is none
        self.session = None
        #: the loop of the background thread (None until :meth:`start`)
        self.loop = None
        self._waker = None
        self.component = None
        #: set while stopping: the ``leave``/``disconnect`` that follow are expected
        self.stopping = False
        #: resolves when the component is done (left for good, or gave up retrying)
        self.done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._changed = threading.Event()  # a join, or done

    # -- caller side -----------------------------------------------------------

    @property
    def started(self):
        """True if the thread was started in this process (False in a forked child)."""
        return self._started and self._pid == os.getpid()

    def start(self, timeout=5.0):
        """Start the thread and the component (no-op when running); return ``self``.

        Waits up to ``timeout`` seconds for the loop to run, not for the join
        (see :meth:`wait_joined`).  In a forked child the parent's thread is
        forgotten and a new one started.
        """
        if self._pid != os.getpid():
            self._reset()
        with self._start_lock:
            if self._started:
                return self
            self._started = True
            if self.thread is not None:  # stopped before: start over
                self._fresh_state()
            ready = threading.Event()
            self.thread = threading.Thread(target=self._run, args=(ready,), name=self.name,
                                           daemon=True)
            self.thread.start()
        ready.wait(timeout)
        return self

    def wait_joined(self, timeout=10.0):
        """The joined session; ``RuntimeError`` after ``timeout`` s or if the component gave up."""
        deadline = time.monotonic() + timeout
        while True:
            session = self.session
            if session is not None:
                return session
            if self.done.done():
                raise RuntimeError('could not join the router at %s: %s'
                                   % (self.url, self._done_reason()))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError('could not join the router at %s within %ss'
                                   % (self.url, timeout))
            self._changed.wait(min(remaining, 0.1))
            self._changed.clear()

    def call_soon(self, callback, *args):
        """Run ``callback(*args)`` in the loop's thread; False if the loop is gone."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return False
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # closed meanwhile (interpreter exit)
            return False
        return True

    def wake(self, callback):
        """Run ``callback()`` in the loop's thread, without a GIL hand-off; False if the loop is gone.

        For a thread that must return at once (a request that publishes):
        unlike :meth:`call_soon`, the loop thread does not take over the
        caller's GIL at the wake-up, it runs when the caller next lets go
        (see :class:`_Waker`).  Falls back to :meth:`call_soon` until the
        loop runs.
        """
        waker = self._waker
        if waker is not None and waker.wake(callback):
            return True
        return self.call_soon(callback)

    def submit(self, coroutine):
        """Schedule ``coroutine`` on the loop; a ``concurrent.futures.Future`` of its result.

        Create it with ``async def`` so that its body (e.g. ``session.call()``)
        runs in the loop's thread.
        """
        if self.loop is None:
            coroutine.close()
            raise RuntimeError('the background session %s is not running' % self.name)
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine, timeout=None):
        """Run ``coroutine`` on the loop and wait up to ``timeout`` s for its result."""
        future = self.submit(coroutine)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def stop(self, timeout=2.0):
        """Leave, end the loop's tasks, stop the loop, join the thread (up to ``timeout`` s)."""
        if not self.started:
            return
        loop, thread = self.loop, self.thread
        self._started = False
        if loop is not None and not loop.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(self._stop_async(timeout / 2), loop)
            except RuntimeError:  # the loop closed meanwhile
                pass
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- the background thread --------------------------------------------------

    def _run(self, ready):
        import txaio
        txaio.use_asyncio()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # txaio finds the loop per thread; two loops may coexist
        self.loop = loop
        finished = None
        try:
            self._waker = _Waker(loop)
            self.component = self._make_component()
            finished = self.component.start(loop=loop)
            finished.add_done_callback(self._component_done)
            loop.call_soon(ready.set)
            loop.run_forever()
        except Exception as exc:  # noqa: BLE001 - reported through done
            if not self.done.done():
                self.done.set_exception(exc)
            log.exception('livehub: the background session %s failed', self.name)
        finally:
            ready.set()
            try:
                _finish_tasks(loop)
            finally:
                if self._waker is not None:
                    self._waker.close()
                loop.close()
                # The component may have ended in the last turn, too late for
                # its callback to run: read the outcome here (and mark it seen).
                if finished is not None and finished.done():
                    self._component_done(finished)
                if not self.done.done():
                    self.done.set_result(None)
                self._changed.set()

    def _make_component(self):
        from autobahn.asyncio.component import Component
        overrides = {'router_url': self.url}
        if self.url == self.settings.get('browser_url'):
            overrides['serializer'] = 'json'  # the browsers' transport speaks JSON only
        transport = make_transport(dict(self.settings, **overrides))
        transport['max_retries'] = self.max_retries
        component = Component(transports=[transport], realm=self.settings['realm'],
                              authentication=self.authentication)
        RetryPolicy.from_settings(self.settings).install(component)
        component.on('join', self._on_join)
        component.on('leave', self._on_leave)
        component.on('disconnect', self._on_disconnect)
        return component

    def _on_join(self, session, details):
        RetryPolicy.joined(self.component)
        self.session = session
        self._changed.set()
        if self.on_join is not None:
            return self.on_join(session, details)
        return None

    def _on_leave(self, session, details):
        self.session = None
        if self.on_leave is not None:
            return self.on_leave(session, details)
        return None

    def _on_disconnect(self, session, was_clean=True):
        self.session = None
        if self.on_disconnect is not None:
            return self.on_disconnect(session, was_clean)
        return None

    def _component_done(self, finished):
        if not self.done.done():
            exc = None if finished.cancelled() else finished.exception()
            if exc is not None:
                self.done.set_exception(exc)
            else:
                self.done.set_result(None)
        self._changed.set()

    def _done_reason(self):
        try:
            self.done.result(0)
        except Exception as exc:  # noqa: BLE001 - described to the caller
            return str(exc) or type(exc).__name__
        return 'the session ended'

    async def _stop_async(self, timeout):
        self.stopping = True
        _thread_state.stopping = True
        session, self.session = self.session, None
        try:
            if self.component is not None:
                await asyncio.wait_for(asyncio.ensure_future(self.component.stop()), timeout)
        except Exception:  # noqa: BLE001 - stopping anyway (router gone, leave timed out)
            pass
        if session is not None and session.is_attached():
            try:
                session.leave()
            except Exception:  # noqa: BLE001 - already leaving
                pass
        asyncio.get_running_loop().stop()


def _finish_tasks(loop):
    """Cancel the stopped loop's tasks (e.g. a reconnect delay) and let them end.

    Ending one may schedule another (Autobahn's reconnect loop runs once
    more to see that it is stopping), so this repeats until none is left:
    a task still pending when the loop closes is reported as destroyed.
    """
    loop.run_until_complete(loop.shutdown_asyncgens())
    for _ in range(10):
        tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
        if not tasks:
            break
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def run_with_session(settings, work, timeout=10.0, name='livehub-call', **options):
    """Join (as the backend by default), return ``await work(session)``, stop.

    ``work`` is called in the loop's thread and may return any awaitable
    (``lambda session: session.call('x')``).
    ``options`` go to :class:`BackgroundSession` (``max_retries`` defaults to
    0: one attempt).  Raises ``RuntimeError`` when the router cannot be
    joined within ``timeout`` seconds, and whatever ``work`` raises.
    """
    options.setdefault('max_retries', 0)
    background = BackgroundSession(settings, name=name, **options).start()
    try:
        session = background.wait_joined(timeout)
        return background.run(_await_work(work, session), timeout)
    finally:
        background.stop()


async def _await_work(work, session):
    # ``work(session)`` is called here, in the loop's thread: Autobahn is not thread-safe.
    return await work(session)
