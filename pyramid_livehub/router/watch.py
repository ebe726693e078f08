"""What ``livehub router`` becomes once crossbar runs: a watcher that imports only the stdlib.

The CLI parent needs the package (settings, config rendering) to start the
node, ~36 MB of imports, but afterwards only watches: it prints the
readiness lines it reads from the node log, forwards SIGTERM/Ctrl-C and
reports a crash.  So :func:`pyramid_livehub.cli.cmd_router` replaces itself
(``os.execv``, same PID, crossbar stays its child, the router directory's
lock stays held) with this file run as a script under ``python -I -S``:
~10 MB instead of ~36 (issue 13).  Being run by path, it must not import
anything from ``pyramid_livehub``; the CLI and
:class:`~pyramid_livehub.router.process.RouterProcess` import its parsing and
:class:`ReadinessReport` from here, so there is one copy of each.
"""
import json
import os
import re
import signal
import socket
import sys
import time

#: Node log lines that say a component is ready (True) or failed (False).
COMPONENT_LINES = [
    (re.compile(r'livehub (?P<component>bridge \w+): (?P<text>connected to .*)'), True),
    (re.compile(r'livehub (?P<component>bridge \w+): could not start: (?P<text>.*)'), False),
    (re.compile(r'livehub (?P<component>bridge \w+): (?P<text>.* failed: .*)'), False),
    (re.compile(r'livehub (?P<component>plugins) ready: (?P<text>.*)'), True),
    (re.compile(r'livehub (?P<component>plugin) (?P<text>\S+ not loaded: .*)'), False),
]


def component_events(log_path, offset):
    """``(new_offset, [(component, ok, text), ...])`` from the node log since ``offset``."""
    try:
        with open(log_path, 'rb') as fh:
            fh.seek(offset)
            chunk = fh.read()
    except FileNotFoundError:
        return offset, []
    end = chunk.rfind(b'\n') + 1  # only whole lines
    events = []
    for line in chunk[:end].decode('utf-8', 'replace').splitlines():
        for pattern, ok in COMPONENT_LINES:
            match = pattern.search(line)
            if match:
                events.append((match.group('component'), ok, match.group('text').strip()))
                break
    return offset + end, events


def log_tail(log_path, lines=40):
    """Last lines of the node log."""
    try:
        with open(log_path, encoding='utf-8', errors='replace') as fh:
            return '\n'.join(fh.read().splitlines()[-lines:])
    except FileNotFoundError:
        return ''


class ReadinessReport:
    """What ``livehub router`` prints as the bridges and plugins come up (or fail).

    One line per change of a component's state (a bridge that keeps failing
    is reported once, then again when it connects), and one ``ready`` line
    once every expected component has reported.
    """

    def __init__(self, expected):
        self.expected = list(expected)
        self.state = {}
        self.announced = False

    def update(self, events):
        """Lines to print for ``[(component, ok, text), ...]`` from the node log."""
        lines = []
        if not self.expected and not self.announced:
            self.announced = True
            lines.append('ready (no bridges or plugins configured)')
        for component, ok, text in events:
            if component == 'plugin':  # one plugin that did not load
                lines.append('plugin %s' % text)
                continue
            if self.state.get(component) == ok:
                continue
            self.state[component] = ok
            if ok:
                lines.append('%s ready: %s' % (component, text))
            else:
                lines.append('%s FAILED: %s' % (component, text))
        if not self.announced and all(name in self.state for name in self.expected):
            self.announced = True
            failed = [name for name in self.expected if not self.state[name]]
            summary = 'ready: %s' % (', '.join(n for n in self.expected if self.state[n])
                                     or 'none')
            if failed:
                summary += '; not connected (retrying): %s' % ', '.join(failed)
            lines.append(summary)
        return lines


def _port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def watch(state):
    """Watch the crossbar child ``state['pid']`` until it exits; return the exit status.

    ``state``: ``pid``, ``log_path``, ``offset`` (node log position at start),
    ``expected`` (component names), ``endpoints`` ([host, port] pairs, free
    again before a clean stop returns).  SIGTERM/SIGINT are forwarded to crossbar.
    """
    pid = state['pid']
    stopping = []

    def stop(*_):
        stopping.append(True)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # the CLI blocked them across the exec: a signal that came meanwhile is delivered now
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    report = ReadinessReport(state['expected'])
    offset = state['offset']
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # pragma: no cover - reaped elsewhere
            done, status = pid, 0
        if done:
            break
        offset, events = component_events(state['log_path'], offset)
        for line in report.update(events):
            print('livehub router: %s' % line, flush=True)
        time.sleep(0.2)
    code = os.waitstatus_to_exitcode(status)
    if stopping:
        for host, port in state['endpoints']:
            end = time.monotonic() + 5
            while _port_open(host, port) and time.monotonic() < end:
                time.sleep(0.05)
        return 0
    return 'livehub router: crossbar exited with code %s:\n%s' % (code, log_tail(state['log_path']))


def exec_watcher(state):
    """Replace this process with the watcher (``python -I -S watch.py STATE``); never returns.

    Call with SIGTERM/SIGINT blocked (``signal.pthread_sigmask``): the mask
    survives the exec and the watcher unblocks them once it handles them.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, '-I', '-S', os.path.abspath(__file__),
                              json.dumps(state)])


if __name__ == '__main__':
    sys.exit(watch(json.loads(sys.argv[1])))
