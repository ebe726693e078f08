"""The services tests run against: routers on free ports, brokers and databases that must listen."""
import socket

import pytest

from pyramid_livehub.router.process import free_port


def router_settings(**overrides):
    """``livehub.*`` settings (raw dict) for a router on fresh free ports."""
    raw = {
        'livehub.router_url': 'rs://127.0.0.1:%d' % free_port(),
        'livehub.browser_url': 'ws://127.0.0.1:%d/ws' % free_port(),
        'livehub.initial_retry_delay': '0.1',
        'livehub.max_retry_delay': '0.5',
    }
    raw.update(overrides)
    return raw


def require_service(host, port, name, start_hint):
    """Fail (never skip) when a broker or database the tests need is not listening."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        pytest.fail('%s is not running on %s:%d; start it with: %s' % (name, host, port, start_hint))
