"""The public API: what ``pyramid_livehub`` exports, and that it ships its type hints."""
import importlib
import os
import subprocess
import sys

import pytest

import pyramid_livehub

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SUBPACKAGES = ['pyramid_livehub.models', 'pyramid_livehub.plugins', 'pyramid_livehub.router',
               'pyramid_livehub.router.plugins', 'pyramid_livehub.security',
               'pyramid_livehub.widgets']


@pytest.mark.parametrize('name', pyramid_livehub.__all__)
def test_every_exported_name_resolves_and_has_a_docstring(name):
    value = getattr(pyramid_livehub, name)
    doc = getattr(value, '__doc__', None)
    assert doc and doc.strip(), 'pyramid_livehub.%s has no docstring' % name


def test_the_names_the_issue_lists_are_exported():
    for name in ('Consumer', 'PollingProducer', 'Message', 'publish_model_changes',
                 'LiveWidgets', 'Subscriber', 'issue_ticket', 'TicketError'):
        assert name in pyramid_livehub.__all__


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match='no attribute'):
        pyramid_livehub.NoSuchThing


def test_importing_the_package_loads_neither_twisted_nor_chameleon():
    # txaio picks one framework per process: the web process must not pull in Twisted;
    # LiveWidgets (Chameleon) and Subscriber are imported on first use.
    code = ('import sys, pyramid_livehub; '
            'print(sorted(m for m in sys.modules if m.split(".")[0] in '
            '("twisted", "chameleon") or m in ("pyramid_livehub.subscriber", '
            '"pyramid_livehub.widgets")))')
    out = subprocess.run([sys.executable, '-W', 'ignore', '-c', code], cwd=ROOT, check=True,
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.stdout.strip() == '[]'


def test_lazy_names_are_the_submodules_classes():
    from pyramid_livehub.subscriber import Subscriber
    from pyramid_livehub.widgets import LiveWidgets
    assert pyramid_livehub.Subscriber is Subscriber
    assert pyramid_livehub.LiveWidgets is LiveWidgets


@pytest.mark.parametrize('module_name', SUBPACKAGES)
def test_every_subpackage_declares_all_and_its_names_resolve(module_name):
    module = importlib.import_module(module_name)
    assert isinstance(module.__all__, list)
    for name in module.__all__:
        assert hasattr(module, name), '%s.__all__ names missing %r' % (module_name, name)


def test_build_ships_py_typed(tmp_path):
    # build_py is what a wheel is made of: PEP 561 needs py.typed in the package.
    subprocess.run([sys.executable, 'setup.py', '-q', 'build_py', '--build-lib', str(tmp_path)],
                   cwd=ROOT, check=True, capture_output=True)
    assert (tmp_path / 'pyramid_livehub' / 'py.typed').exists()
