"""livehub.js is the esbuild bundle of pyramid_livehub/static/src/, and its
reconnect policy is the Python one (formula, defaults, settings from config.json).

livehub.js is committed (it ships in the Python package, where there is no
npm), so these tests keep it from drifting from its sources.  They need Node
and the npm packages `make js` installs.
"""
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from pyramid_livehub._retry import RetryPolicy
from pyramid_livehub.settings import parse_settings
from tests.support import PROJECT_ROOT

ROOT = PROJECT_ROOT
STATIC = os.path.join(ROOT, 'pyramid_livehub', 'static')
RECONNECT_KEYS = ('max_retries', 'initial_retry_delay', 'max_retry_delay',
                  'retry_delay_growth', 'retry_delay_jitter')


def node(*args):
    """Run node in the project root; fail with the set-up command when it is missing."""
    if shutil.which('node') is None or not os.path.isdir(os.path.join(ROOT, 'node_modules',
                                                                     'esbuild')):
        pytest.fail('Node.js and the npm packages are needed: run `make js`')
    result = subprocess.run(['node', *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def committed(path, inputs):
    """``path`` as committed at HEAD, or None when that cannot tell (no git, or
    ``inputs`` have uncommitted changes: a build in progress)."""
    def git(*args):
        return subprocess.run(['git', *args], cwd=ROOT, capture_output=True)
    if shutil.which('git') is None or git('rev-parse', '--git-dir').returncode:
        return None
    if git('status', '--porcelain', '--', *inputs).stdout.strip():
        return None
    shown = git('show', 'HEAD:' + path)
    return shown.stdout if shown.returncode == 0 else None


def test_livehub_js_is_the_build_of_its_sources_as_built_and_as_committed(tmp_path):
    fresh = tmp_path / 'livehub.js'
    node(os.path.join(STATIC, 'build.mjs'), str(fresh))
    fresh = fresh.read_bytes()
    with open(os.path.join(STATIC, 'livehub.js'), 'rb') as fh:
        assert fh.read() == fresh, (
            'pyramid_livehub/static/livehub.js differs from a build of static/src/: '
            'edit the sources, run `make js` and commit livehub.js')
    # `make test` rebuilds livehub.js first, so the check above cannot see a
    # stale committed file (CI builds from a fresh clone): compare HEAD's.
    at_head = committed('pyramid_livehub/static/livehub.js',
                        ['pyramid_livehub/static/src', 'pyramid_livehub/static/build.mjs',
                         'package.json', 'package-lock.json'])
    assert at_head in (None, fresh), (
        'the committed pyramid_livehub/static/livehub.js is not the build of the committed '
        'static/src/: run `make js` and commit livehub.js')


def js_reconnect(options, randoms):
    """[RECONNECT_DEFAULTS, [retryDelay(n, options) for n, random in randoms]] from reconnect.mjs."""
    url = 'file://' + os.path.join(STATIC, 'src', 'reconnect.mjs')
    script = (
        'import {RECONNECT_DEFAULTS, retryDelay} from %s;\n'
        'const options = %s, randoms = %s;\n'
        'console.log(JSON.stringify([RECONNECT_DEFAULTS,\n'
        '    randoms.map((r, n) => retryDelay(n, options, () => r))]));\n'
    ) % (json.dumps(url), json.dumps(options), json.dumps(randoms))
    return json.loads(node('--input-type=module', '-e', script))


def test_livehub_js_reconnect_defaults_are_the_settings_defaults():
    defaults, _ = js_reconnect({}, [])
    python = parse_settings({})
    assert defaults == {key: python[key] for key in RECONNECT_KEYS}


@pytest.mark.parametrize('raw', [
    {},
    {'livehub.initial_retry_delay': '0.05', 'livehub.max_retry_delay': '2',
     'livehub.retry_delay_growth': '3', 'livehub.retry_delay_jitter': '1'},
    {'livehub.retry_delay_growth': '1', 'livehub.retry_delay_jitter': '0'},
])
def test_livehub_js_reconnect_delays_follow_the_python_formula(raw):
    settings = parse_settings(raw)
    randoms = [(n * 0.37) % 1 for n in range(15)]   # random() of each attempt
    # Both sides draw random() once per attempt: feed them the same fractions.
    fractions = iter(randoms)
    delays = RetryPolicy(settings['initial_retry_delay'], settings['max_retry_delay'],
                         settings['retry_delay_growth'], settings['retry_delay_jitter'],
                         rand=lambda: next(fractions))
    python = [delays.next() for _ in randoms]
    _, js = js_reconnect({key: settings[key] for key in RECONNECT_KEYS}, randoms)
    assert js == pytest.approx(python, rel=1e-12)
    assert max(js) <= settings['max_retry_delay'] * (1 + settings['retry_delay_jitter'])


def test_sdist_ships_livehub_js_sources_and_lock_but_no_node_modules(tmp_path):
    subprocess.run([sys.executable, 'setup.py', '-q', 'sdist', '-d', str(tmp_path)],
                   cwd=ROOT, check=True, capture_output=True)
    (sdist,) = tmp_path.glob('*.tar.gz')
    with tarfile.open(sdist) as tar:
        names = {name.split('/', 1)[1] for name in tar.getnames() if '/' in name}
    sources = {'pyramid_livehub/static/src/' + name
               for name in os.listdir(os.path.join(STATIC, 'src'))}
    assert sources <= names
    assert {'pyramid_livehub/static/livehub.js', 'pyramid_livehub/static/build.mjs',
            'package.json', 'package-lock.json'} <= names
    assert not any(name.startswith('node_modules/') or '/vendor/' in name for name in names)


@pytest.mark.browser
def test_livehub_js_takes_reconnect_settings_from_config_json_unless_the_page_set_them(
        browser_context, live_app):
    page = browser_context.new_page()

    def serve_config(route):
        response = route.fetch()
        config = response.json()
        config.update(initial_retry_delay=0.07, retry_delay_jitter=0.3, max_retry_delay=9.0)
        route.fulfill(response=response, json=config)

    page.route('**/livehub/config.json', serve_config)
    page.goto(live_app.url + '/blank')   # its loader tag says data-max-retry-delay="0.5"
    page.evaluate('livehub.connect()')
    page.wait_for_function("livehub.state === 'connected'", timeout=20000)
    options = page.evaluate('livehub.hub.options')
    assert options['initial_retry_delay'] == 0.07
    assert options['retry_delay_jitter'] == 0.3
    assert options['max_retry_delay'] == 0.5     # the page's own setting wins
    assert options['retry_delay_growth'] == 1.5  # not served: the default
