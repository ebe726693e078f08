"""What the README, the docs and the shipped files promise is what the code does."""
import html
import json
import os
import re
import subprocess
import sys
import tarfile

import pytest

from pyramid_livehub.router.node_config import render_node_config
from pyramid_livehub.settings import all_settings, parse_settings
from tests.support import PROJECT_ROOT

ROOT = PROJECT_ROOT
MARKDOWN_LINK = re.compile(r'\]\(([^)#\s]+)\)')


def readme():
    with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as fh:
        return fh.read()


@pytest.fixture(scope='module')
def docs_html(tmp_path_factory):
    """Build the docs as `make docs` does (warnings are errors) into a temp dir."""
    out = tmp_path_factory.mktemp('docs_html')
    result = subprocess.run(
        [sys.executable, '-m', 'sphinx', '-W', '--keep-going', '-q', '-b', 'html',
         os.path.join(ROOT, 'docs'), str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, 'the docs do not build cleanly (`make docs`):\n%s%s' % (
        result.stdout, result.stderr)
    return out


def test_docs_build_without_warnings(docs_html):
    for page in ('index', 'publishing', 'router', 'bridges', 'security', 'models', 'plugins',
                 'browser', 'widgets', 'testing', 'deployment', 'settings', 'api', 'changes'):
        assert (docs_html / (page + '.html')).exists(), page


def _row(page, key):
    """The text of the settings-reference row of ``key`` (or None)."""
    ident = 'setting-' + key.replace('.', '-').replace('_', '-')
    match = re.search(r'<tr[^>]*id="%s"[^>]*>(.*?)</tr>' % re.escape(ident), page, re.S)
    return html.unescape(re.sub(r'<[^>]+>', '', match.group(1))) if match else None


def test_settings_reference_lists_every_key_with_its_default(docs_html):
    page = (docs_html / 'settings.html').read_text(encoding='utf-8')
    missing, wrong = [], {}
    for setting in all_settings():
        row = _row(page, setting.key)
        if row is None:
            missing.append(setting.key)
            continue
        default = '' if setting.default is None else str(setting.default)
        shown = default or 'empty'
        if shown not in row:
            wrong[setting.key] = default
    assert not missing, 'settings missing from docs/settings.html: %s' % missing
    assert not wrong, 'defaults not shown in docs/settings.html: %s' % wrong


def test_settings_reference_groups_keys_by_concern(docs_html):
    page = (docs_html / 'settings.html').read_text(encoding='utf-8')
    sections = {name: page.index('id="settings-%s"' % name)
                for name in ('core', 'bridges', 'security', 'models', 'plugins')}

    def section_of(key):
        position = page.index('id="setting-%s"' % key.replace('.', '-').replace('_', '-'))
        return max((start, name) for name, start in sections.items() if start < position)[1]

    assert section_of('livehub.router_url') == 'core'
    assert section_of('livehub.amqp_broker') == 'bridges'
    assert section_of('livehub.ticket_secret') == 'security'
    assert section_of('livehub.model_topic_prefix') == 'models'
    assert section_of('livehub.consumers') == 'plugins'


def test_readme_is_short_and_its_links_resolve():
    text = readme()
    assert len(text.splitlines()) < 200, 'the README is the short version; the rest goes in docs/'
    links = [link for link in MARKDOWN_LINK.findall(text) if '://' not in link]
    assert 'docs/settings.rst' in links and 'docs/deployment.rst' in links
    broken = [link for link in links if not os.path.exists(os.path.join(ROOT, link))]
    assert not broken, 'README links to missing files: %s' % broken


def test_readme_gives_the_two_commands():
    text = readme()
    assert 'make demo' in text and 'make test' in text


def test_ci_runs_the_readme_test_command():
    with open(os.path.join(ROOT, '.ci', 'run')) as fh:
        assert 'make test' in fh.read()


def test_shipped_crossbar_config_is_the_rendering_of_the_defaults():
    with open(os.path.join(ROOT, 'crossbar_config', 'config.json')) as fh:
        shipped = json.load(fh)
    assert shipped == render_node_config(parse_settings({})), (
        'crossbar_config/config.json is stale: regenerate it with '
        '`livehub config > crossbar_config/config.json`')


def test_sdist_contains_crossbar_config_and_static_files(tmp_path):
    subprocess.run([sys.executable, 'setup.py', '-q', 'sdist', '-d', str(tmp_path)],
                   cwd=ROOT, check=True, capture_output=True)
    (sdist,) = tmp_path.glob('*.tar.gz')
    with tarfile.open(sdist) as tar:
        names = {name.split('/', 1)[1] for name in tar.getnames() if '/' in name}
    assert 'crossbar_config/config.json' in names
    assert 'pyramid_livehub/static/livehub.js' in names
    assert 'pyramid_livehub/static/livehub.mjs' in names
    assert 'docs/demo.png' in names   # the README's screenshot
    assert not any('/vendor/' in name for name in names), 'third-party JS must not ship'


def test_plugins_page_shows_the_code_the_demo_runs(docs_html):
    """docs/plugins.rst includes demo/plugins.py, so its example cannot drift from the demo."""
    page = html.unescape(re.sub(r'<[^>]+>', '', (docs_html / 'plugins.html').read_text(
        encoding='utf-8')))
    with open(os.path.join(ROOT, 'demo', 'plugins.py'), encoding='utf-8') as fh:
        source = fh.read()
    for line in ("now.strftime('%H:%M:%S')", 'class ClockProducer(PollingProducer):',
                 'class MessageCounter(Consumer):'):
        assert line in source, 'demo/plugins.py changed: update this test (%r)' % line
        assert line in page, 'docs/plugins.html does not show demo/plugins.py (%r)' % line
