"""What a new user meets in the first hour (issue 10): the CLI, the .ini, the router's output.

Everything runs the real ``livehub`` command, a real crossbar node and the
real brokers; output is read the way a user reads it.
"""
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from pyramid_livehub import get_publisher
from pyramid_livehub.router.process import free_port
from pyramid_livehub.settings import parse_settings
from pyramid_livehub.subscriber import Subscriber

from tests.support import PROJECT_ROOT
from tests.support.services import require_service

LIVEHUB = os.path.join(os.path.dirname(sys.executable), 'livehub')

#: What must never reach a user's terminal or the node log.
NOISE = ('Traceback', 'NumPy 1.x', 'pkg_resources is deprecated', 'DeprecationWarning',
         'trying transport', 'connecting once using transport', 'Task was destroyed')


def user_env():
    """The environment a user's shell has: no warning filters from the test suite."""
    env = dict(os.environ)
    env.pop('PYTHONWARNINGS', None)
    return env


def run(*argv, timeout=60):
    """Run ``livehub ARGV`` to the end as a user would; the CompletedProcess."""
    return subprocess.run([LIVEHUB] + list(argv), capture_output=True, text=True,
                          timeout=timeout, env=user_env())


def write_ini(path, **livehub):
    """An app .ini whose [app:main] holds ``livehub.<key> = value`` lines (verbatim)."""
    lines = ['[app:main]'] + ['livehub.%s = %s' % item for item in livehub.items()]
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def fresh_urls():
    return {'router_url': 'rs://127.0.0.1:%d' % free_port(),
            'browser_url': 'ws://127.0.0.1:%d/ws' % free_port()}


def assert_quiet(text, where):
    found = [word for word in NOISE if word in text]
    assert not found, '%s shows %s:\n%s' % (where, found, text)


class RouterCommand:
    """``livehub router`` in the background; its output lines as they come."""

    def __init__(self, *argv):
        self.process = subprocess.Popen([LIVEHUB, 'router'] + list(argv), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, env=user_env())
        self.lines = []
        self._queue = queue.Queue()
        # A reader thread, so that a line that never comes fails at the deadline.
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, predicate, timeout=60):
        """Read lines until one satisfies ``predicate``; that line (fails on timeout/exit)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                pytest.fail('livehub router exited (%s):\n%s' % (self.process.wait(),
                                                                 ''.join(self.lines)))
            self.lines.append(line)
            if predicate(line):
                return line
        pytest.fail('no such line within %ss:\n%s' % (timeout, ''.join(self.lines)))

    def stop(self):
        """SIGTERM, wait, and return everything it printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        while True:
            line = self._queue.get(timeout=10)
            if line is None:
                return ''.join(self.lines)
            self.lines.append(line)


# -- 1. publish ---------------------------------------------------------------

def test_publish_after_a_delivery_reports_nothing_undelivered(router, tmp_path):
    ini = write_ini(tmp_path / 'app.ini', router_url=router.settings['router_url'],
                    browser_url=router.settings['browser_url'])
    # Three runs: a zero-timeout close() only failed when its flush lost a race
    # (4 runs in 5), so one run could pass by luck.
    with Subscriber(router.settings, 'app.firsthour.publish') as subscriber:
        for n in range(3):
            done = run('publish', 'app.firsthour.publish', '{"n": %d}' % n, '--ini', ini)
            assert done.returncode == 0, done.stderr
            assert subscriber.get(timeout=10).args == [{'n': n}]
            assert 'not delivered' not in done.stderr, done.stderr
            assert done.stderr == '' and done.stdout == ''


# -- 2. a literal % in an .ini --------------------------------------------------

AMQP_INI_FORM = 'amqp://guest:guest@127.0.0.1:5672/%%2F'


def test_the_documented_amqp_url_form_reads_the_same_in_livehub_and_pserve(tmp_path):
    from pyramid.paster import get_appsettings

    from pyramid_livehub.cli import load_settings
    ini = write_ini(tmp_path / 'app.ini', amqp_broker=AMQP_INI_FORM)
    with open(ini, 'a') as fh:  # what pserve needs to load the app
        fh.write('use = call:pyramid_livehub:includeme\n')
    ours = load_settings(ini)['amqp_broker']
    assert ours == 'amqp://guest:guest@127.0.0.1:5672/%2F'
    # pserve's reader (PasteDeploy through plaster): the same value, no error.
    assert get_appsettings(ini)['livehub.amqp_broker'] == ours
    done = run('config', '--ini', ini)
    assert done.returncode == 0, done.stderr
    assert_quiet(done.stderr, 'livehub config')


@pytest.mark.parametrize('command', ['config', 'router'])
def test_a_single_percent_is_a_configuration_error_naming_the_key_and_the_fix(tmp_path,
                                                                             command):
    ini = write_ini(tmp_path / 'app.ini', amqp_broker='amqp://guest:guest@127.0.0.1:5672/%2F',
                    **fresh_urls())
    done = run(command, '--ini', ini, '--cbdir', str(tmp_path / 'cb')) if command == 'router' \
        else run(command, '--ini', ini)
    assert done.returncode != 0
    assert 'Traceback' not in done.stderr, done.stderr
    assert 'livehub.amqp_broker' in done.stderr
    assert 'livehub.amqp_broker = ' + AMQP_INI_FORM in done.stderr, done.stderr
    assert not os.path.exists(tmp_path / 'cb')


def test_a_bad_broker_url_is_a_configuration_error_naming_the_key(tmp_path):
    done = run('config', '--ini', write_ini(tmp_path / 'app.ini', amqp_broker='htp://x'))
    assert done.returncode != 0
    assert 'Traceback' not in done.stderr
    assert 'livehub.amqp_broker' in done.stderr and 'htp://x' in done.stderr


# -- 3. one router directory per app --------------------------------------------

def test_the_default_router_directory_is_one_per_app_ini(tmp_path):
    from pyramid_livehub.cli import build_parser, default_cbdir
    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    first = default_cbdir(str(tmp_path / 'a' / 'app.ini'))
    second = default_cbdir(str(tmp_path / 'b' / 'app.ini'))
    assert first != second
    assert default_cbdir(str(tmp_path / 'a' / 'app.ini')) == first
    assert default_cbdir(str(tmp_path / 'a' / 'app.ini#other')) != first
    assert os.path.basename(first).startswith('livehub-router-%d-app-' % os.getuid())
    # and `livehub router --help` says where it is
    help_text = build_parser()._subparsers._group_actions[0].choices['router'].format_help()
    assert '--cbdir' in help_text and 'livehub-router-' in help_text


def test_two_apps_routers_run_side_by_side_without_cbdir(tmp_path):
    """The issue's case: ``livehub router --ini`` for two apps, no --cbdir, both run."""
    from pyramid_livehub.cli import default_cbdir
    inis = []
    for name in ('shop', 'blog'):
        (tmp_path / name).mkdir()
        inis.append(write_ini(tmp_path / name / 'development.ini', **fresh_urls()))
    routers = []
    try:
        for ini in inis:
            routers.append(RouterCommand('--ini', ini))
            routers[-1].wait_for(lambda line: 'browsers at' in line)
        assert all(router.process.poll() is None for router in routers)
        for ini, router in zip(inis, routers):
            assert '(log: %s)' % os.path.join(default_cbdir(ini), 'node.log') in router.lines[0]
    finally:
        for router in routers:
            router.stop()
        for ini in inis:
            shutil.rmtree(default_cbdir(ini), ignore_errors=True)


def test_ini_name_reads_that_section_of_the_ini(tmp_path):
    """docs/router.rst: ``--ini x.ini#router`` reads ``[app:router]`` instead of ``[app:main]``."""
    from pyramid_livehub.cli import load_settings
    ini = tmp_path / 'production.ini'
    secret = 'livehub.backend_secret = %s\n' % ('s' * 24)
    ini.write_text('[app:main]\nuse = egg:myshop\n'
                   'livehub.browser_url = wss://shop.example.com/ws\n'
                   'livehub.router_url = rs://127.0.0.1:8081\n' + secret +
                   '[app:router]\nlivehub.browser_url = ws://127.0.0.1:8080/ws\n'
                   'livehub.router_url = rs://127.0.0.1:8081\n' + secret)
    assert load_settings(str(ini))['browser_url'] == 'wss://shop.example.com/ws'
    done = run('config', '--ini', '%s#router' % ini)
    assert done.returncode == 0, done.stderr
    endpoints = [t['endpoint'] for t in json.loads(done.stdout)['workers'][0]['transports']]
    assert {(e['interface'], e['port']) for e in endpoints} == {('127.0.0.1', 8080),
                                                                ('127.0.0.1', 8081)}


def test_config_listens_on_the_listen_settings_while_the_app_tells_the_public_urls(tmp_path):
    """docs/deployment.rst: one [app:main] for the app and ``livehub router`` behind nginx."""
    from pyramid_livehub.cli import load_settings
    ini = write_ini(tmp_path / 'production.ini', browser_url='wss://shop.example.com/ws',
                    browser_listen='127.0.0.1:8080', router_url='rs://router.example.com:8081',
                    router_listen='0.0.0.0:8081', backend_secret='s' * 24)
    assert load_settings(ini)['browser_url'] == 'wss://shop.example.com/ws'
    done = run('config', '--ini', ini)
    assert done.returncode == 0, done.stderr
    transports = {t['id']: t for t in json.loads(done.stdout)['workers'][0]['transports']}
    assert transports['browsers']['endpoint'] == {'type': 'tcp', 'interface': '127.0.0.1',
                                                  'port': 8080}
    assert 'ws' in transports['browsers']['paths']
    assert transports['backend']['endpoint'] == {'type': 'tcp', 'interface': '0.0.0.0',
                                                 'port': 8081}


def test_a_bad_listen_address_stops_the_router_naming_the_key_and_the_fix(tmp_path):
    ini = write_ini(tmp_path / 'app.ini', browser_listen='8080', **fresh_urls())
    done = run('router', '--ini', ini, '--cbdir', str(tmp_path / 'cb'))
    assert done.returncode != 0
    assert 'Traceback' not in done.stderr, done.stderr
    assert "livehub.browser_listen: a port alone does not say which interface" in done.stderr
    assert '127.0.0.1:8080' in done.stderr and '0.0.0.0:8080' in done.stderr
    assert not os.path.exists(tmp_path / 'cb')


def wait_for_file_text(path, text, timeout):
    """Poll ``path`` until it contains ``text``; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, encoding='utf-8', errors='replace') as fh:
                if text in fh.read():
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    pytest.fail('%r not in %s within %ss' % (text, path, timeout))


def test_router_listens_on_the_listen_settings_with_public_urls_it_cannot_reach(tmp_path):
    """Browsers are told nginx's ``wss://public.example/ws``, publishers a router host name
    that does not resolve (``.invalid``); ``livehub router`` listens on local ports of its
    own.  A browser-like client joins on the listen port and gets an event published to
    the backend listen port through the history component, which runs in the container
    worker: it reached the router at the listen address, not at the public URL.
    """
    import asyncio

    from pyramid_livehub.publisher import Publisher
    from pyramid_livehub.testing import join_as_browser
    ws_port, rs_port = free_port(), free_port()
    assert ws_port != rs_port
    secret = 's' * 24
    raw = {'browser_url': 'wss://public.example/ws', 'browser_listen': '127.0.0.1:%d' % ws_port,
           'router_url': 'rs://livehub-router.invalid:18081',
           'router_listen': '127.0.0.1:%d' % rs_port, 'backend_secret': secret,
           'history': 'app.listen.** 10'}
    ini = write_ini(tmp_path / 'production.ini', **raw)
    router = RouterCommand('--ini', ini, '--cbdir', str(tmp_path / 'cb'))
    # a publisher on the router host: the listen port
    publisher = Publisher(parse_settings({
        'livehub.router_url': 'rs://127.0.0.1:%d' % rs_port, 'livehub.backend_secret': secret,
        'livehub.history': raw['history'], 'livehub.max_retry_delay': '0.5'}))

    def publish():
        publisher.publish('app.listen.orders', {'n': 1})
        return publisher.flush(30)

    async def join_subscribe_and_receive():
        session = await join_as_browser('ws://127.0.0.1:%d/ws' % ws_port, 'livehub', timeout=20)
        loop = asyncio.get_running_loop()
        received = loop.create_future()

        def on_event(*args, **kwargs):
            if not received.done():
                received.set_result((args, kwargs))

        try:
            await session.subscribe(on_event, 'app.listen.orders')
            assert await loop.run_in_executor(None, publish), 'the publisher did not deliver'
            return await asyncio.wait_for(received, 20)
        finally:
            session.leave()

    try:
        line = router.wait_for(lambda line: 'browsers at' in line)
        assert ('browsers at wss://public.example/ws (listening on 127.0.0.1:%d), backend at '
                'rs://livehub-router.invalid:18081 (listening on 127.0.0.1:%d)'
                % (ws_port, rs_port)) in line, line
        wait_for_file_text(tmp_path / 'cb' / 'node.log', 'livehub history: ready', 60)
        args, kwargs = asyncio.run(join_subscribe_and_receive())
        assert args == ({'n': 1},)
        assert kwargs['livehub_position']['offset'] == 1
    finally:
        publisher.close(1)
        output = router.stop()
    assert_quiet(output, 'livehub router')
    with open(tmp_path / 'cb' / 'node.log', encoding='utf-8', errors='replace') as fh:
        assert 'livehub-router.invalid' not in fh.read()  # never connected to


def test_a_second_router_in_the_same_directory_refuses_before_touching_it(tmp_path):
    cbdir = tmp_path / 'shared'
    first = RouterCommand('--ini', write_ini(tmp_path / 'one.ini', **fresh_urls()),
                          '--cbdir', str(cbdir))
    try:
        first.wait_for(lambda line: 'browsers at' in line)
        config_before = (cbdir / 'config.json').read_bytes()
        log_before = (cbdir / 'node.log').read_text()
        second = run('router', '--ini', write_ini(tmp_path / 'two.ini', **fresh_urls()),
                     '--cbdir', str(cbdir))
        assert second.returncode != 0
        assert 'another router (pid %d) is running in %s' % (first.process.pid, cbdir) \
            in second.stderr, second.stderr
        assert '--cbdir' in second.stderr
        assert (cbdir / 'config.json').read_bytes() == config_before
        assert 'Controller' not in second.stderr  # not the first router's log
        assert (cbdir / 'node.log').read_text().startswith(log_before)
    finally:
        first.stop()
    # Once the first has stopped, the directory is free again.
    again = RouterCommand('--ini', write_ini(tmp_path / 'two.ini', **fresh_urls()),
                          '--cbdir', str(cbdir))
    try:
        again.wait_for(lambda line: 'browsers at' in line)
    finally:
        again.stop()


# -- 4. no noise ------------------------------------------------------------------

APP_SCRIPT = textwrap.dedent('''
    import logging, sys
    logging.basicConfig(level=logging.INFO)
    # pyramid_livehub before Pyramid: Pyramid's own pkg_resources warning is
    # filtered by our import; an app that imports Pyramid first gets it from
    # Pyramid (pserve too), which is not ours to hide.
    from pyramid_livehub import get_publisher
    from pyramid.config import Configurator
    from pyramid_livehub.router.process import free_port

    def app(router_url):
        config = Configurator(settings={
            'livehub.router_url': router_url, 'livehub.browser_url': sys.argv[2],
            'livehub.initial_retry_delay': '0.1', 'livehub.max_retry_delay': '0.2'})
        config.include('pyramid_livehub')
        return config.make_wsgi_app()

    # A router that is not there yet: the publisher retries several times.
    away = get_publisher(app('rs://127.0.0.1:%d' % free_port()).registry)
    away.publish('app.firsthour.away', 1)
    assert not away.flush(2)   # meanwhile it tries to connect every 0.1-0.2 s
    away.close(0)
    publisher = get_publisher(app(sys.argv[1]).registry)
    publisher.publish('app.firsthour.noise', 'hello')
    assert publisher.flush(10), 'not delivered'
    publisher.close(2)
    print('app done')
''')


def test_cli_app_and_router_print_no_traceback_and_no_deprecation_warning(tmp_path):
    urls = fresh_urls()
    ini = write_ini(tmp_path / 'app.ini', **urls)
    router = RouterCommand('--ini', ini, '--cbdir', str(tmp_path / 'cb'))
    try:
        router.wait_for(lambda line: 'ready' in line)
        outputs = {'livehub config': run('config', '--ini', ini),
                   'livehub publish': run('publish', 'app.firsthour.noise', '1', '--ini', ini),
                   'livehub list': run('list', '--ini', ini)}
        for where, done in outputs.items():
            assert done.returncode == 0, (where, done.stderr)
            assert_quiet(done.stderr, where)
        script = tmp_path / 'app.py'
        script.write_text(APP_SCRIPT)
        app = subprocess.run([sys.executable, str(script), urls['router_url'],
                              urls['browser_url']], capture_output=True, text=True, timeout=90,
                             env=user_env())
        assert 'app done' in app.stdout, app.stderr
        assert 'lost the router' in app.stderr or 'not delivered' in app.stderr, app.stderr
        assert_quiet(app.stderr, 'the publishing app')
    finally:
        output = router.stop()
    assert_quiet(output, 'livehub router')
    with open(tmp_path / 'cb' / 'node.log', encoding='utf-8', errors='replace') as fh:
        node_log = fh.read()
    for word in ('NumPy 1.x', 'pkg_resources is deprecated'):
        assert word not in node_log, 'the node log shows %r' % word


def test_the_demo_viewer_counter_stops_without_pending_tasks(router, tmp_path):
    script = tmp_path / 'counter.py'
    script.write_text(textwrap.dedent('''
        import logging, sys
        logging.basicConfig(level=logging.INFO)   # as demo/development.ini
        from demo.viewers import VIEWERS_TOPIC, ViewerCounter
        from pyramid_livehub.settings import parse_settings
        from pyramid_livehub.subscriber import Subscriber
        settings = parse_settings({'livehub.router_url': sys.argv[1],
                                   'livehub.browser_url': sys.argv[2]})
        with Subscriber(settings, VIEWERS_TOPIC) as viewers:
            counter = ViewerCounter(settings, 'demo.lobby', interval=0.2).start()
            viewers.get(timeout=20)   # it runs: its report loop is waiting now
            counter.stop()
        print('stopped')
    '''))
    root = PROJECT_ROOT
    env = dict(user_env(), PYTHONPATH=os.pathsep.join(
        [root] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    done = subprocess.run([sys.executable, str(script), router.settings['router_url'],
                           router.settings['browser_url']], capture_output=True, text=True,
                          timeout=60, env=env)
    assert 'stopped' in done.stdout, done.stderr
    assert_quiet(done.stderr, 'the demo viewer counter')
    assert 'Connection failed' not in done.stderr, done.stderr


# -- 6. the router says when its bridges are ready; /livehub/health shows them -----

def test_router_reports_each_bridge_ready_or_failed_and_health_shows_them(tmp_path, make_testapp):
    require_service('127.0.0.1', 1883, 'Mosquitto', 'service mosquitto start')
    urls = fresh_urls()
    raw = dict(urls, bridges='mqtt stomp', stomp_uri='127.0.0.1:%d' % free_port(),
               mqtt_inbound='app/firsthour/mqtt/#', stomp_inbound='app.firsthour.stomp.#')
    router = RouterCommand('--ini', write_ini(tmp_path / 'app.ini', **raw),
                           '--cbdir', str(tmp_path / 'cb'))
    try:
        router.wait_for(lambda line: 'browsers at' in line)
        ready = router.wait_for(lambda line: line.startswith('livehub router: ready'))
        printed = ''.join(router.lines)
        assert 'livehub router: bridge mqtt ready: connected to mqtt://127.0.0.1:1883' in printed
        assert 'livehub router: bridge stomp FAILED: STOMP connect' in printed, printed
        assert ready.strip() == ('livehub router: ready: bridge mqtt; '
                                 'not connected (retrying): bridge stomp')

        app = make_testapp({'livehub.%s' % k: v for k, v in raw.items()})
        try:
            health = app.get('/livehub/health').json
            assert health['connected'] is True
            assert health['bridges']['mqtt'] == {'connected': True, 'last_error': ''}
            assert health['bridges']['stomp']['connected'] is False
            assert 'STOMP connect' in health['bridges']['stomp']['last_error']
        finally:
            get_publisher(app.app.registry).close(1)
    finally:
        router.stop()


def test_health_names_a_bridge_the_router_does_not_run(router, router_raw_settings, make_testapp):
    app = make_testapp(dict(router_raw_settings, **{'livehub.bridges': 'mqtt'}))
    try:
        health = app.get('/livehub/health').json
        assert health['connected'] is True
        assert health['bridges'] == {'mqtt': {
            'connected': False,
            'last_error': 'not running in the router (is it started with this '
                          'livehub.bridges?)'}}
    finally:
        get_publisher(app.app.registry).close(1)


# -- 7. the router extra -------------------------------------------------------------

def test_install_requires_is_the_web_process_and_the_router_extra_adds_the_router():
    from distutils.core import run_setup  # noqa: F401 - setuptools provides it
    root = PROJECT_ROOT
    cwd = os.getcwd()
    os.chdir(root)
    try:
        dist = run_setup('setup.py', stop_after='init')
    finally:
        os.chdir(cwd)
    names = lambda reqs: {r.split(';')[0].split('>')[0].split('<')[0].split('[')[0].strip()  # noqa
                          for r in reqs}
    web = names(dist.install_requires)
    assert web == {'pyramid', 'autobahn', 'txaio', 'chameleon', 'pyramid_chameleon',
                   'transaction', 'prometheus_client'}
    router = names(dist.extras_require['router'])
    assert {'crossbar', 'autobahn', 'pika', 'paho-mqtt', 'pyzmq', 'stomp.py'} <= router
    assert router <= names(dist.extras_require['test'])


def test_livehub_router_without_crossbar_names_the_extra(tmp_path, monkeypatch):
    from pyramid_livehub.router import process
    monkeypatch.setattr(process.sys, 'executable', str(tmp_path / 'bin' / 'python'))
    monkeypatch.setenv('PATH', str(tmp_path))
    node = process.RouterProcess(parse_settings({}), str(tmp_path / 'cb'))
    with pytest.raises(RuntimeError) as info:
        node.start()
    assert 'install pyramid_livehub[router]' in str(info.value)
    assert not os.path.exists(tmp_path / 'cb')  # refused before touching anything
