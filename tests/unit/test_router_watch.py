"""The stdlib-only watcher that ``livehub router`` execs into (pyramid_livehub.router.watch)."""
import os
import signal
import subprocess
import sys
import textwrap
import time

from pyramid_livehub.router.watch import ReadinessReport

# A parent that starts a fake crossbar (writes node-log lines, stops on
# SIGTERM or exits with a code) and then execs the watcher, as cmd_router does.
PARENT = textwrap.dedent('''
    import json, signal, subprocess, sys
    from pyramid_livehub.router.watch import exec_watcher
    log, exit_code = sys.argv[1], sys.argv[2]
    fake = """
    import signal, sys, time
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(%r, 'a') as fh:
        fh.write('x livehub bridge mqtt: connected to mqtt://127.0.0.1:1883\\\\n')
    if %s:
        sys.exit(%s)
    time.sleep(60)
    """ % (log, exit_code, exit_code)
    child = subprocess.Popen([sys.executable, '-c', fake])
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    exec_watcher({'pid': child.pid, 'log_path': log, 'offset': 0,
                  'expected': ['bridge mqtt'], 'endpoints': []})
''')


def start(tmp_path, exit_code):
    log = tmp_path / 'node.log'
    log.write_text('')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.Popen([sys.executable, '-c', PARENT, str(log), str(exit_code)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def read_until(process, text, timeout=30):
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError('%r not printed: %r' % (text, lines))


def test_watcher_prints_readiness_and_stops_crossbar_on_sigterm(tmp_path):
    watcher = start(tmp_path, 0)
    try:
        lines = read_until(watcher, 'livehub router: ready: bridge mqtt')
        assert 'livehub router: bridge mqtt ready: connected to mqtt://127.0.0.1:1883\n' in lines
        with open('/proc/%d/cmdline' % watcher.pid, 'rb') as fh:  # same PID, now the watcher
            assert b'router/watch.py' in fh.read()
        watcher.send_signal(signal.SIGTERM)
        assert watcher.wait(timeout=30) == 0
    finally:
        if watcher.poll() is None:
            watcher.kill()


def test_watcher_reports_a_crossbar_crash_with_the_log_tail(tmp_path):
    watcher = start(tmp_path, 3)
    _, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 1
    assert 'livehub router: crossbar exited with code 3:' in err
    assert 'livehub bridge mqtt: connected' in err


def test_readiness_report_says_each_change_once_then_ready():
    report = ReadinessReport(['bridge mqtt', 'plugins'])
    assert report.update([('bridge mqtt', False, 'refused')]) == ['bridge mqtt FAILED: refused']
    assert report.update([('bridge mqtt', False, 'refused')]) == []
    assert report.update([('plugins', True, '2 loaded')]) == [
        'plugins ready: 2 loaded', 'ready: plugins; not connected (retrying): bridge mqtt']
    assert ReadinessReport([]).update([]) == ['ready (no bridges or plugins configured)']
