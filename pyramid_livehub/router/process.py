"""Start and stop a Crossbar node with a rendered configuration.

Used by ``livehub router``, ``make demo``, the test fixtures and the
benchmarks, so that there is one way to run the bundled router.
"""
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from pyramid_livehub.router.node_config import local_address, render_node_config
from pyramid_livehub.router.watch import component_events


def crossbar_executable():
    """Path of the ``crossbar`` command next to this Python, else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), 'crossbar')
    if os.path.exists(beside):
        return beside
    found = shutil.which('crossbar')
    if not found:
        raise RuntimeError(ROUTER_EXTRA_MISSING)
    return found


#: The error for router-only features used in a web-only install.
ROUTER_EXTRA_MISSING = ('crossbar is not installed: the router and the bridges come with the '
                        'router extra; install pyramid_livehub[router] '
                        '(pip install "pyramid_livehub[router]")')


def running_crossbar_pid(cbdir):
    """PID of a live crossbar node that owns ``cbdir`` (its ``node.pid``), else None."""
    try:
        with open(os.path.join(cbdir, 'node.pid')) as fh:
            pid = int(json.load(fh)['pid'])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, someone else's
    return pid


def write_node_config(settings, cbdir):
    """Render the node config for ``settings`` into ``cbdir/config.json``; return its path."""
    os.makedirs(cbdir, exist_ok=True)
    path = os.path.join(cbdir, 'config.json')
    with open(path, 'w') as fh:
        json.dump(render_node_config(settings), fh, indent=2, sort_keys=True)
        fh.write('\n')
    return path


def port_open(host, port, timeout=0.2):
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port():
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _die_with_parent():
    """In the child: ask Linux to SIGTERM crossbar when its parent goes away.

    Without it, a ``livehub router`` (or a test run) killed hard leaves an
    orphaned node holding the ports.  Note: Linux ties this to the thread
    that started the node; start nodes from a long-lived thread.
    """
    try:
        import ctypes
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: stop() is then the only way


def node_environment(environ=None):
    """The crossbar node's environment: unbuffered, :mod:`~pyramid_livehub.router.slim` first.

    The slim directory's sitecustomize keeps crossbar's unused blockchain and
    database imports out of the router worker (~70 MB); ``LIVEHUB_ROUTER_SLIM=0``
    turns it off.
    """
    from pyramid_livehub.router.slim import SITE_DIR
    env = dict(os.environ if environ is None else environ, PYTHONUNBUFFERED='1')
    env['PYTHONPATH'] = os.pathsep.join(p for p in [SITE_DIR, env.get('PYTHONPATH')] if p)
    return env


class RouterProcess:
    """A crossbar node started from ``settings`` in ``cbdir``.

    ``start()`` returns when both the browser and the backend transports
    accept connections (and, when components are configured, when they have
    started); ``stop()`` sends SIGTERM and waits.
    """

    def __init__(self, settings, cbdir, log_path=None):
        self.settings = settings
        self.cbdir = os.path.abspath(cbdir)
        self.log_path = log_path or os.path.join(self.cbdir, 'node.log')
        self.process = None
        self.log_offset = 0
        self._lock = None

    def endpoints(self):
        """(host, port) pairs where the node's transports are reached from this host.

        Browsers first, then the backend: their listen addresses
        (``livehub.browser_listen``/``livehub.router_listen``, else the URLs'
        host and port), with ``0.0.0.0``/``::`` as the loopback address.
        """
        return [local_address(self.settings, key) for key in ('browser_url', 'router_url')]

    def start(self, timeout=90.0, wait_for_log=None):
        """Start the node; wait until it listens (and ``wait_for_log`` appears in its log).

        Refuses (RuntimeError) before writing anything when another router
        holds ``cbdir`` or the ports are taken.
        """
        executable = crossbar_executable()
        self.claim_cbdir()
        try:
            self._check_ports_free()
            write_node_config(self.settings, self.cbdir)
        except Exception:
            self.release_cbdir()
            raise
        self.log_offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        self._log = open(self.log_path, 'ab')
        self.process = subprocess.Popen(
            # --config: crossbar would read a config.yaml left in cbdir before ours
            [executable, 'start', '--cbdir', self.cbdir, '--config', 'config.json',
             '--loglevel', 'info'],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=self.cbdir,
            env=node_environment(), preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.release_cbdir()
                raise RuntimeError('crossbar exited with code %s; see %s:\n%s' % (
                    self.process.returncode, self.log_path, self.log_tail()))
            ready = all(port_open(h, p) for h, p in self.endpoints())
            if ready and (wait_for_log is None or wait_for_log in self.log_text()):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError('crossbar did not start within %ss; see %s:\n%s' % (
            timeout, self.log_path, self.log_tail()))

    def claim_cbdir(self):
        """Take ``cbdir/router.lock`` (held while this node runs) or refuse.

        Two routers in one directory would overwrite each other's config.json
        and share one node log; the second one refuses here, before touching
        anything, and names the first.
        """
        os.makedirs(self.cbdir, exist_ok=True)
        lock = open(os.path.join(self.cbdir, 'router.lock'), 'a+')
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.seek(0)
            owner = lock.read().strip() or '?'
            lock.close()
            raise RuntimeError(
                'another router (pid %s) is running in %s; stop it, or give this router its '
                'own directory with --cbdir' % (owner, self.cbdir))
        pid = running_crossbar_pid(self.cbdir)
        if pid is not None:
            lock.close()
            raise RuntimeError(
                'a crossbar node (pid %s) is running in %s; stop it, or give this router its '
                'own directory with --cbdir' % (pid, self.cbdir))
        lock.seek(0)
        lock.truncate()
        lock.write('%d\n' % os.getpid())
        lock.flush()
        self._lock = lock

    def release_cbdir(self):
        """Let another router use ``cbdir`` again."""
        lock, self._lock = getattr(self, '_lock', None), None
        if lock is not None:
            lock.close()

    def _check_ports_free(self):
        for host, port in self.endpoints():
            if port_open(host, port):
                raise RuntimeError('cannot start the router: %s:%s is already in use (another '
                                   '`livehub router` running?)' % (host, port))

    def expected_components(self):
        """Names of the components whose readiness ``component_events`` reports.

        ``bridge <name>`` per enabled bridge, ``plugins`` when consumers or
        producers are configured.
        """
        names = ['bridge %s' % name for name in self.settings.get('bridges', [])]
        try:
            from pyramid_livehub.plugins import plugin_sources
            if plugin_sources(self.settings):
                names.append('plugins')
        except ImportError:  # pragma: no cover - plugins are part of the package
            pass
        return names

    def component_events(self, offset=None):
        """``(new_offset, [(component, ok, text), ...])`` from the node log since ``offset``.

        Reads the ready/failed lines that the bridges and the plugin host log:
        ``ok`` is True (ready), False (failed: ``text`` says why).
        """
        return component_events(self.log_path, self.log_offset if offset is None else offset)

    def log_text(self):
        """The node's log so far."""
        try:
            with open(self.log_path, encoding='utf-8', errors='replace') as fh:
                return fh.read()
        except FileNotFoundError:
            return ''

    def log_tail(self, lines=40):
        """Last lines of the node's log."""
        return '\n'.join(self.log_text().splitlines()[-lines:])

    def stop(self, timeout=15.0):
        """SIGTERM the node and wait for it (SIGKILL after ``timeout``)."""
        if self.process is None or self.process.poll() is not None:
            self.release_cbdir()
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for host, port in self.endpoints():
            end = time.monotonic() + 5
            while port_open(host, port) and time.monotonic() < end:
                time.sleep(0.05)
        self.release_cbdir()

    def kill(self):
        """SIGKILL the node (simulates a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.release_cbdir()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
