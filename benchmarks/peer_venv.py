"""The Socket.IO peer's own venv (``benchmarks/.peer-venv``), made by ``make bench``.

The peer runs from its own venv so that its dependencies (python-socketio,
uvicorn, redis) never mix with ours; :func:`ensure` makes it when missing,
with pip, so ``python -m benchmarks.run`` works without make too.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, '.peer-venv')
PYTHON = os.path.join(VENV, 'bin', 'python')
#: what the peer needs: python-socketio 5 (RedisManager, AsyncRedisManager), an ASGI
#: server with WebSocket support, and the Redis client
REQUIREMENTS = ['python-socketio>=5,<6', 'uvicorn[standard]', 'redis']


def ensure():
    """Create the venv and install :data:`REQUIREMENTS` unless it imports them already."""
    check = [PYTHON, '-c', 'import socketio, uvicorn, redis']
    if os.path.exists(PYTHON) and subprocess.run(check, capture_output=True).returncode == 0:
        return PYTHON
    subprocess.run([sys.executable, '-m', 'venv', VENV], check=True)
    subprocess.run([PYTHON, '-m', 'pip', 'install', '-q'] + REQUIREMENTS, check=True)
    return PYTHON


def versions():
    """Versions of the peer's packages ({} when the venv is not there yet)."""
    if not os.path.exists(PYTHON):
        return {}
    code = ('import importlib.metadata as m, json; print(json.dumps({n: m.version(n) for n in '
            '("python-socketio", "python-engineio", "uvicorn", "redis")}))')
    out = subprocess.run([PYTHON, '-c', code], capture_output=True, text=True)
    try:
        return {'peer ' + k: v for k, v in json.loads(out.stdout).items()}
    except ValueError:
        return {}


if __name__ == '__main__':
    print(ensure())
