"""The livehub command through a real router."""
import json
import os
import queue
import subprocess
import sys
import threading
import time

LIVEHUB = os.path.join(os.path.dirname(sys.executable), 'livehub')


def read_until(stream, text, timeout, keep_draining=False):
    """Read lines of a child's pipe (in a thread) until one contains ``text``; fail after ``timeout``.

    A bare ``readline()`` would block for ever on a child that prints nothing.
    The thread stops at that line unless ``keep_draining`` (then it reads
    and drops the rest, so that a chatty child never blocks on a full pipe).
    """
    lines = queue.Queue()

    def pump():
        found = False
        for line in iter(stream.readline, ''):
            if not found:
                lines.put(line)
            found = found or text in line
            if found and not keep_draining:
                return
        lines.put(None)  # EOF
    threading.Thread(target=pump, daemon=True).start()
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            raise AssertionError('%r not printed within %ss; got: %s' % (text, timeout,
                                                                       ''.join(seen)[-2000:]))
        seen.append(line)
        if text in line:
            return line


def write_ini(path, router):
    """An app .ini with the router's URLs (the CLI reads only livehub.* keys)."""
    path.write_text('[app:main]\nlivehub.router_url = %s\nlivehub.browser_url = %s\n' % (
        router.settings['router_url'], router.settings['browser_url']))
    return str(path)


def test_publish_and_tail_round_trip_through_the_router(router, tmp_path):
    ini = write_ini(tmp_path / 'app.ini', router)
    tail = subprocess.Popen([LIVEHUB, 'tail', 'app.cli', '--match', 'prefix', '--count', '1',
                             '--ini', ini], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        read_until(tail.stderr, 'subscribed', 30)
        done = subprocess.run([LIVEHUB, 'publish', 'app.cli.hello', '{"n": 1}',
                               '--kwargs', '{"by": "cli"}', '--ini', ini],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        # delivered: no shutdown warning (close() once called a live router unreachable)
        assert 'unreachable' not in done.stderr and 'not acknowledged' not in done.stderr
        out, _ = tail.communicate(timeout=20)
    finally:
        tail.kill()
    event = json.loads(out.strip().splitlines()[-1])
    assert event == {'topic': 'app.cli.hello', 'args': [{'n': 1}], 'kwargs': {'by': 'cli'}}


def assert_lean_processes(cli_pid):
    """Issue 13: the CLI became the stdlib-only watcher; the router worker has no web3/numpy."""
    from benchmarks import procs
    with open('/proc/%d/cmdline' % cli_pid, 'rb') as fh:
        assert b'pyramid_livehub/router/watch.py' in fh.read()
    workers = [pid for pid, cmd, _ in procs.describe(procs.tree(cli_pid))
               if 'RouterController' in cmd]
    assert len(workers) == 1, procs.describe(procs.tree(cli_pid))
    with open('/proc/%d/maps' % workers[0]) as fh:
        maps = fh.read()
    assert 'numpy' not in maps  # crossbar's cookie store imports it: stubbed (router/slim)
    assert procs.rss_mb([cli_pid]) < 20


def test_livehub_router_runs_crossbar_from_the_app_ini_and_stops_on_sigterm(tmp_path):
    import signal
    from pyramid_livehub.publisher import Publisher
    from pyramid_livehub.router.process import free_port, port_open
    from pyramid_livehub.settings import parse_settings
    from pyramid_livehub.subscriber import Subscriber
    rs_port, ws_port = free_port(), free_port()
    ini = tmp_path / 'app.ini'
    ini.write_text('[app:main]\nlivehub.router_url = rs://127.0.0.1:%d\n'
                   'livehub.browser_url = ws://127.0.0.1:%d/ws\nlivehub.realm = fromini\n'
                   % (rs_port, ws_port))
    router = subprocess.Popen([LIVEHUB, 'router', '--ini', str(ini), '--cbdir', str(tmp_path / 'cb')],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        read_until(router.stdout, 'livehub router: browsers at ws://127.0.0.1:%d/ws' % ws_port, 60,
                   keep_draining=True)
        settings = parse_settings({'livehub.router_url': 'rs://127.0.0.1:%d' % rs_port,
                                   'livehub.browser_url': 'ws://127.0.0.1:%d/ws' % ws_port,
                                   'livehub.realm': 'fromini'})
        with Subscriber(settings, 'app.ini.check') as sub:
            publisher = Publisher(settings)
            publisher.publish('app.ini.check', 'hello')
            assert sub.get(timeout=10).args == ['hello']
            publisher.close(1)
        assert_lean_processes(router.pid)
        router.send_signal(signal.SIGTERM)
        assert router.wait(timeout=30) == 0
        assert not port_open('127.0.0.1', rs_port) and not port_open('127.0.0.1', ws_port)
    finally:
        router.kill()
