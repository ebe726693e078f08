"""The machine a benchmark run ran on, for the results and the docs page."""
import datetime
import importlib.metadata
import os
import platform
import subprocess

from benchmarks import peer_venv


def _cpu_model():
    try:
        with open('/proc/cpuinfo') as fh:
            for line in fh:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def _memory_gb():
    try:
        with open('/proc/meminfo') as fh:
            return round(int(fh.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None


def _version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git_commit():
    try:
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                              text=True, timeout=5).stdout.strip() or None
    except OSError:
        return None


def _redis_version():
    try:
        out = subprocess.run(['redis-cli', 'INFO', 'server'], capture_output=True, text=True,
                             timeout=5).stdout
    except OSError:
        return None
    for line in out.splitlines():
        if line.startswith('redis_version:'):
            return line.split(':', 1)[1].strip()
    return None


def describe(quick):
    """Machine, load and versions at the start of a run."""
    return {
        'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        'cpu': _cpu_model(), 'cores': os.cpu_count(), 'memory_gb': _memory_gb(),
        'load_start': [round(x, 2) for x in os.getloadavg()],
        'kernel': platform.release(), 'python': platform.python_version(),
        'quick': quick, 'pin_router': os.environ.get('BENCH_PIN_ROUTER') == '1',
        'versions': {'pyramid_livehub': '%s (git %s)' % (_version('pyramid_livehub'),
                                                         _git_commit()),
                     'crossbar': _version('crossbar'), 'autobahn': _version('autobahn'),
                     'twisted': _version('twisted'), 'websockets': _version('websockets'),
                     'redis-server': _redis_version(), **peer_venv.versions()},
        'started': datetime.datetime.now().timestamp(),
    }


def finish(info):
    """Add the load and duration at the end of the run."""
    info = dict(info)
    info['load_end'] = [round(x, 2) for x in os.getloadavg()]
    info['minutes'] = round((datetime.datetime.now().timestamp() - info.pop('started')) / 60, 1)
    return info
