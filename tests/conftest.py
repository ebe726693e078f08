"""Shared fixtures: a real crossbar node on free ports, settings, Pyramid config.

The brokers (RabbitMQ, Mosquitto) are part of the test environment: tests
that need them fail loudly when they are not running, they never skip.
"""
import os
import socket

import pytest
from pyramid import testing

from pyramid_livehub.router.process import RouterProcess, free_port
from pyramid_livehub.settings import parse_settings


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


@pytest.fixture(scope='session')
def router_raw_settings():
    """Raw settings of the session's shared router."""
    return router_settings()


@pytest.fixture(scope='session')
def router(router_raw_settings, tmp_path_factory):
    """A crossbar node (default config, no components) shared by the session."""
    node = RouterProcess(parse_settings(router_raw_settings),
                         str(tmp_path_factory.mktemp('router')))
    node.start()
    yield node
    node.stop()


@pytest.fixture
def private_router(tmp_path):
    """Factory for a router of the test's own (for fault tests); stopped at the end."""
    nodes = []

    def start(**overrides):
        node = RouterProcess(parse_settings(router_settings(**overrides)),
                             str(tmp_path / ('router%d' % len(nodes))))
        nodes.append(node)
        return node.start()

    yield start
    for node in nodes:
        node.stop()


@pytest.fixture
def config(router_raw_settings):
    """A Pyramid Configurator with pyramid_livehub pointed at the shared router."""
    config = testing.setUp(settings=dict(router_raw_settings), autocommit=False)
    yield config
    testing.tearDown()


def require_service(host, port, name, start_hint):
    """Fail (never skip) when a broker the tests need is not listening."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        pytest.fail('%s is not running on %s:%d; start it with: %s' % (name, host, port, start_hint))


@pytest.fixture(autouse=True)
def _quiet_autobahn_reconnect_noise(caplog):
    # Autobahn logs every failed reconnect attempt at ERROR; tests that stop
    # routers on purpose do not want those to look like failures.
    import logging
    logging.getLogger('autobahn').setLevel(logging.CRITICAL)
    yield


os.environ.setdefault('PYTHONWARNINGS', 'ignore::UserWarning')
