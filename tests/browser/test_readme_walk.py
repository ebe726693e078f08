"""The README walked the way a newcomer walks it (issue 10).

A wheel built from the project, a fresh venv that installs it with the
``router`` extra (a real ``pip install``, not editable, nothing of the test
suite's venv), the SHIPPED router config (``crossbar_config/config.json``,
only its two ports rewritten so that the test runs beside the others) started
with that venv's ``crossbar start``, the README's "Ten lines" app served by
waitress from that venv, AutobahnJS copied from npm's ``node_modules`` into
the installed package as docs/deployment.rst says, and a real Chromium that
must see the order the view publishes.

The install takes minutes (crossbar's tree), so the test prints how long
each step took; pip's own cache is the only speed-up.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import pytest

from pyramid_livehub.router.process import free_port

from tests.support import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(1200)]

#: What must not go into the copy the wheel is built from (local state, not the project).
NOT_SOURCE = shutil.ignore_patterns('.git', '.venv', 'node_modules', 'build', 'dist', '*.egg-info',
                                    '__pycache__', '.mypy_cache', '.pytest_cache', '_build',
                                    'vendor', 'results', '.peer-venv', '.stamp-*')

#: The README's "Ten lines", Python half, verbatim between the markers.
VIEW = '''\
# Pyramid: __init__.py and a view
config.include('pyramid_tm')          # optional: publish after commit
config.include('pyramid_livehub')

@view_config(route_name='orders', request_method='POST', renderer='json')
def create_order(request):
    order = {'id': 42, 'total': '9.90'}
    request.livehub.publish('app.orders.created', order)    # sent when the transaction commits
    return order
'''

#: The README's "Ten lines", HTML half, verbatim.
PAGE = '''\
<script src="/livehub/static/vendor/autobahn.min.js"></script>
<script src="/livehub/static/livehub.js"></script>
<script>
  livehub.connect().then(session => {
    session.subscribe('app.orders.created', ([order]) => console.log('new order', order));
  });
</script>
'''

#: What a newcomer writes around the ten lines: an .ini and a runnable module.
INI = '''\
[app:main]
use = call:app:main
livehub.router_url = rs://127.0.0.1:{backend}
livehub.browser_url = ws://127.0.0.1:{browsers}/ws
'''

APP = '''\
import sys

from pyramid.config import Configurator
from pyramid.paster import get_appsettings
from pyramid.response import Response
from pyramid.view import view_config
from waitress import serve

PAGE = {page!r}

{view_defs}

def page(request):
    return Response('<!doctype html><title>orders</title>' + PAGE)


def main(global_config=None, **settings):
    config = Configurator(settings=settings)
{view_includes}
    config.add_route('page', '/')
    config.add_view(page, route_name='page')
    config.add_route('orders', '/orders')
    config.scan(sys.modules[__name__])
    return config.make_wsgi_app()


if __name__ == '__main__':
    serve(main(**get_appsettings(sys.argv[1])), host='127.0.0.1', port=int(sys.argv[2]))
'''


def readme_ten_lines():
    """The README's two "Ten lines" code blocks; the test fails when they drift from VIEW/PAGE."""
    with open(os.path.join(PROJECT_ROOT, 'README.md'), encoding='utf-8') as fh:
        readme = fh.read()
    section = readme.split('## Ten lines', 1)[1].split('\n## ', 1)[0]
    python = section.split('```python\n', 1)[1].split('```', 1)[0]
    html = section.split('```html\n', 1)[1].split('```', 1)[0]
    return python, html


def app_source():
    """The newcomer's app.py: the README's view at module level, its includes in main()."""
    lines = VIEW.splitlines()
    includes = [line for line in lines if line.startswith('config.')]
    view_defs = '\n'.join(line for line in lines if not line.startswith('config.'))
    return APP.format(page=PAGE, view_defs=view_defs,
                      view_includes='\n'.join('    ' + line for line in includes))


def newcomer_env():
    """A shell's environment: nothing that points Python at the worktree or the suite's venv."""
    env = {key: value for key, value in os.environ.items()
           if key not in ('PYTHONPATH', 'PYTHONWARNINGS', 'VIRTUAL_ENV', 'PYTHONHOME')}
    return env


def step(timings, name, argv, **kwargs):
    """Run one set-up command to the end; its duration goes into ``timings``."""
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, env=newcomer_env(), **kwargs)
    timings[name] = time.monotonic() - started
    assert done.returncode == 0, '%s failed (%s):\n%s\n%s' % (name, argv, done.stdout[-4000:],
                                                             done.stderr[-4000:])
    return done


@pytest.fixture(scope='module')
def fresh_venv(tmp_path_factory):
    """A new venv with the built wheel installed from it, ``[router]`` extra; its bin dir."""
    tmp = tmp_path_factory.mktemp('walk')
    timings = {}
    source = tmp / 'source'
    shutil.copytree(PROJECT_ROOT, source, ignore=NOT_SOURCE)
    wheelhouse = tmp / 'wheelhouse'
    step(timings, 'build wheel', [sys.executable, '-m', 'pip', 'wheel', '--no-deps',
                                  '--no-build-isolation', '-q', '-w', str(wheelhouse), str(source)])
    [wheel] = wheelhouse.glob('pyramid_livehub-*.whl')
    venv = tmp / 'venv'
    step(timings, 'create venv', [sys.executable, '-m', 'venv', str(venv)])
    bin_dir = venv / 'bin'
    step(timings, 'pip install', [str(bin_dir / 'pip'), 'install', '-q', '--no-compile',
                                  '--disable-pip-version-check', '%s[router]' % wheel,
                                  'waitress', 'pyramid_tm'], cwd=str(tmp))
    print('\nREADME walk set-up times: %s' % ', '.join(
        '%s %.0f s' % item for item in timings.items()))
    return bin_dir


def venv_python(bin_dir, code):
    return subprocess.run([str(bin_dir / 'python'), '-c', code], capture_output=True, text=True,
                          env=newcomer_env(), cwd='/', check=True).stdout.strip()


def wait_http(url, process, what, timeout=90):
    """Poll ``url`` until it answers 200; fails naming ``what`` and its output otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail('%s exited (%s):\n%s' % (what, process.returncode, read_log(process)))
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    pytest.fail('%s did not answer %s within %ss:\n%s' % (what, url, timeout, read_log(process)))


def read_log(process):
    process.log.flush()
    with open(process.log.name, encoding='utf-8', errors='replace') as fh:
        return fh.read()[-6000:]


def start(argv, log_path, cwd):
    log = open(log_path, 'w')
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=str(cwd),
                               env=newcomer_env(), start_new_session=True)
    process.log = log
    return process


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)   # its own session: crossbar's workers too
            process.wait(10)
    process.log.close()


def test_the_readme_walked_from_a_fresh_venv(fresh_venv, browser_context, tmp_path):
    python, html = readme_ten_lines()
    assert python == VIEW, 'README "Ten lines" (Python) changed: update VIEW in this test'
    assert html == PAGE, 'README "Ten lines" (HTML) changed: update PAGE in this test'

    # The installed package, not the worktree, and no AutobahnJS in it yet.
    package = venv_python(fresh_venv, 'import os, pyramid_livehub; '
                                      'print(os.path.dirname(pyramid_livehub.__file__))')
    assert package.startswith(str(fresh_venv.parent)), package
    vendor = os.path.join(package, 'static', 'vendor')
    assert not os.path.exists(os.path.join(vendor, 'autobahn.min.js')), 'the wheel ships AutobahnJS'
    # docs/deployment.rst: AutobahnJS from npm, copied into the package's static/vendor/.
    os.makedirs(vendor, exist_ok=True)
    shutil.copy(os.path.join(PROJECT_ROOT, 'node_modules', 'autobahn-browser', 'autobahn.min.js'),
                vendor)

    # The shipped router config, only its ports moved off 8080/8081.
    browsers, backend = free_port(), free_port()
    with open(os.path.join(PROJECT_ROOT, 'crossbar_config', 'config.json'), encoding='utf-8') as fh:
        node_config = json.load(fh)
    ports = {8080: browsers, 8081: backend}
    for transport in node_config['workers'][0]['transports']:
        endpoint = transport['endpoint']
        endpoint['port'] = ports.pop(endpoint['port'])
    assert not ports, 'the shipped config no longer listens on 8080 and 8081'
    cbdir = tmp_path / 'crossbar_config'
    cbdir.mkdir()
    (cbdir / 'config.json').write_text(json.dumps(node_config, indent=2))

    app_dir = tmp_path / 'app'
    app_dir.mkdir()
    (app_dir / 'app.py').write_text(app_source())
    (app_dir / 'development.ini').write_text(INI.format(backend=backend, browsers=browsers))
    web_port = free_port()

    router = start([str(fresh_venv / 'crossbar'), 'start', '--cbdir', str(cbdir)],
                   tmp_path / 'router.log', tmp_path)
    web = None
    try:
        wait_http('http://127.0.0.1:%d/info' % browsers, router, 'crossbar start')
        web = start([str(fresh_venv / 'python'), 'app.py', 'development.ini', str(web_port)],
                    tmp_path / 'web.log', app_dir)
        base = 'http://127.0.0.1:%d' % web_port
        wait_http(base + '/livehub/static/vendor/autobahn.min.js', web, 'the app (waitress)')

        page = browser_context.new_page()
        seen = []   # console messages (Playwright objects: their args hold the order)
        page.on('console', lambda message: seen.append(message))
        errors = []
        page.on('pageerror', lambda error: errors.append(str(error)))
        page.goto(base + '/')
        try:
            page.wait_for_function('window.livehub && livehub.state === "connected"',
                                   timeout=30000)
        except Exception as exc:   # Playwright's TimeoutError: say what the page saw
            pytest.fail('the page never connected (%s); console: %s; errors: %s' % (
                exc, [message.text for message in seen], errors))

        # The subscription has no signal of its own: POST until the page logs the order.
        deadline = time.monotonic() + 30
        posted = 0
        while not [message for message in seen if message.text.startswith('new order')]:
            assert time.monotonic() < deadline, (
                'no event in the page after %d POSTs; console: %s; errors: %s\nweb log:\n%s\n'
                'router log:\n%s' % (posted, [message.text for message in seen], errors,
                                      read_log(web), read_log(router)))
            request = urllib.request.Request(base + '/orders', data=b'', method='POST')
            with urllib.request.urlopen(request, timeout=10) as response:
                assert json.loads(response.read()) == {'id': 42, 'total': '9.90'}
            posted += 1
            page.wait_for_timeout(300)   # lets Playwright deliver console events
        assert not errors, errors
        logged = [message for message in seen if message.text.startswith('new order')][0]
        assert logged.args[1].json_value() == {'id': 42, 'total': '9.90'}
    finally:
        if web is not None:
            stop(web)
        stop(router)
