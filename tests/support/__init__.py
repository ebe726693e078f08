"""Helpers the tests import (fixtures live in conftest.py files, never here).

* :mod:`.services` -- ``router_settings()`` for routers on free ports, ``require_service()``;
* :mod:`.app` -- ``make_testapp()``, the one test-app builder;
* :mod:`.bridges` -- broker clients, a private Mosquitto, router-log waits;
* :mod:`.tcpproxy` -- ``TcpProxy`` to cut and restore connections;
* :mod:`.browser` -- ``LiveApp`` (the app served over HTTP for Chromium);
* :mod:`.demo` -- the demo app and its settings;
* here: ``run_python()``, code in a fresh interpreter; ``wait_for()``, the one poll.
"""
import os
import subprocess
import sys
import time

#: The repository root (demo/, README.md, crossbar_config/ live there).
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_python(code, *args, timeout=120):
    """Run ``code`` in a fresh interpreter with this one's ``sys.path``; return its stdout.

    For what must not leak into the test process (imports that choose
    txaio's framework, import stubs, the modules a process ends up with).
    Fails the test with the child's stderr when it exits non-zero.
    """
    done = subprocess.run([sys.executable, '-c', code, *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ,
                                                    PYTHONPATH=os.pathsep.join(sys.path)))
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def wait_for(condition, what, timeout=30.0, interval=0.01):
    """Poll ``condition()`` until it is true; fail naming ``what`` after ``timeout`` seconds.

    ``what`` may be a callable, called on failure: a message that shows the
    state the condition last saw.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %ss waiting for %s'
                                 % (timeout, what() if callable(what) else what))
        time.sleep(interval)
