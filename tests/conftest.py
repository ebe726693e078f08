"""Shared fixtures: a real crossbar node on free ports, Pyramid config, test apps, brokers.

The brokers (RabbitMQ, Mosquitto) are part of the test environment: tests
that need them fail loudly when they are not running, they never skip.
Helpers that are not fixtures live in :mod:`tests.support`.
"""
import os

import pytest
from pyramid import testing

from pyramid_livehub import get_publisher
from pyramid_livehub.router.process import RouterProcess
from pyramid_livehub.settings import parse_settings
from tests.support.app import make_testapp as build_testapp
from tests.support.services import require_service, router_settings


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


@pytest.fixture(scope='session')
def make_testapp():
    """Factory: ``make_testapp(settings, include=..., configure=...)`` -> ``webtest.TestApp``.

    The one app builder (:func:`tests.support.app.make_testapp`); session
    scoped so that module-scoped fixtures can use it too.
    """
    return build_testapp


@pytest.fixture
def testapp(make_testapp, router_raw_settings, router):
    """A ``webtest.TestApp`` with pyramid_livehub on the shared router; its publisher closed after."""
    app = make_testapp(router_raw_settings)
    yield app
    get_publisher(app.app.registry).close(2)


@pytest.fixture(scope='session')
def brokers():
    """Check that RabbitMQ (AMQP, STOMP) and Mosquitto listen; fail the test if not."""
    require_service('127.0.0.1', 5672, 'RabbitMQ', 'systemctl start rabbitmq-server')
    require_service('127.0.0.1', 61613, 'RabbitMQ STOMP plugin',
                    'rabbitmq-plugins enable rabbitmq_stomp')
    require_service('127.0.0.1', 1883, 'Mosquitto', 'systemctl start mosquitto')


@pytest.fixture(autouse=True)
def _quiet_autobahn_reconnect_noise(caplog):
    # Autobahn logs every failed reconnect attempt at ERROR; tests that stop
    # routers on purpose do not want those to look like failures.
    import logging
    logging.getLogger('autobahn').setLevel(logging.CRITICAL)
    yield


os.environ.setdefault('PYTHONWARNINGS', 'ignore::UserWarning')


#: The shared Redis the history tests use (keys under a prefix of each test's own).
REDIS_URL = 'redis://127.0.0.1:6379/0'


@pytest.fixture
def redis_prefix():
    """A Redis key prefix of the test's own; its keys are deleted afterwards."""
    import uuid

    import redis
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail('Redis is not running on 127.0.0.1:6379; start it with: redis-server '
                    '--daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no')
    prefix = 'livehub:test:%s:' % uuid.uuid4().hex
    yield prefix
    keys = list(client.scan_iter(prefix + '*'))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_store_url(redis_prefix):
    """``livehub.history_store`` for a Redis store under the test's own key prefix."""
    return REDIS_URL + '?prefix=' + redis_prefix

def _tolerate_concurrent_ast_use():
    # CPython 3.11.7's ast module keeps one recursion counter for all threads
    # (fixed in 3.11.8, gh-106905): when pytest parses a failed test's source
    # while a server thread compiles a Chameleon template, ast.parse raises
    # "SystemError: AST constructor recursion depth mismatch" and the whole
    # run aborts with INTERNALERROR instead of reporting the one failure.
    # Retry the parse, so a failure is reported as a failure.
    import _pytest._code.code as code_module
    import _pytest._code.source as source_module
    parse = source_module.getstatementrange_ast

    def getstatementrange_ast(*args, **kwargs):
        for _ in range(5):
            try:
                return parse(*args, **kwargs)
            except SystemError:
                continue
        return parse(*args, **kwargs)

    source_module.getstatementrange_ast = getstatementrange_ast
    code_module.getstatementrange_ast = getstatementrange_ast


_tolerate_concurrent_ast_use()
