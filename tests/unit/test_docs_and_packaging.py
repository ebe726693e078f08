"""What the README and the shipped files promise is what the code does."""
import json
import os
import re
import subprocess
import sys
import tarfile

from pyramid_livehub.router.node_config import render_node_config
from pyramid_livehub.settings import all_settings, parse_settings
from tests.support import PROJECT_ROOT

ROOT = PROJECT_ROOT
ROW = re.compile(r'^\| `(livehub\.[a-z0-9_]+)` \| `([^`]*)` \|', re.M)


def readme():
    with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as fh:
        return fh.read()


def test_readme_settings_tables_match_the_defaults_table():
    documented = dict(ROW.findall(readme()))
    actual = {s.key: str(s.default) for s in all_settings()}
    missing = sorted(set(actual) - set(documented))
    stale = sorted(set(documented) - set(actual))
    assert not missing, 'settings missing from the README: %s' % missing
    assert not stale, 'README documents settings that do not exist: %s' % stale
    wrong = {k: (documented[k], actual[k]) for k in actual if documented[k] != actual[k]}
    assert not wrong, 'README defaults differ from settings.py (README, code): %s' % wrong


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
