"""The router worker's import stubs (pyramid_livehub/router/slim/sitecustomize.py)."""
import importlib.util
import os
import sys

from pyramid_livehub.router.process import node_environment
from pyramid_livehub.router.slim import SITE_DIR
from tests.support import run_python

ROUTER_WORKER = ['/venv/bin/python', '-u', '-m', 'crossbar.worker.main', '--cbdir', '/x',
                 '--klass', 'crossbar.worker.router.RouterController']


def load_sitecustomize():
    spec = importlib.util.spec_from_file_location(
        'livehub_slim_site', os.path.join(SITE_DIR, 'sitecustomize.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not a router worker: installs nothing
    return module


def test_router_workers_get_all_stubs_the_controller_some_containers_none():
    site = load_sitecustomize()
    assert site.stubs_for(ROUTER_WORKER, {}) == site.STUBBED
    assert site.stubs_for(ROUTER_WORKER, {'LIVEHUB_ROUTER_SLIM': '0'}) == frozenset()
    container = ROUTER_WORKER[:-1] + ['crossbar.worker.container.ContainerController']
    assert site.stubs_for(container, {}) == site.CONTAINER_STUBBED
    # packages your consumers may well import stay real in a container (numpy and the
    # rest are released before the plugin host imports them)
    assert not {'requests', 'yaml', 'pydantic', 'PIL', 'werkzeug'} & site.CONTAINER_STUBBED
    controller = ['/venv/bin/python', '/venv/bin/crossbar', 'start', '--cbdir', '/x']
    assert site.stubs_for(controller, {}) == site.CONTROLLER_STUBBED
    assert site.stubs_for(controller, {'LIVEHUB_ROUTER_SLIM': '0'}) == frozenset()
    # the controller loads the node key with XBR's security module and eth_account
    assert not {'xbr', 'eth_account', 'eth_keys', 'eth_utils', 'py_ecc'} & site.CONTROLLER_STUBBED
    # the router worker renders its web pages (404, the WebSocket status page) with jinja2
    # and formats log lines with click
    assert not {'jinja2', 'click', 'twisted', 'autobahn'} & site.STUBBED
    assert site.stubs_for(['/venv/bin/python', '-m', 'pytest'], {}) == frozenset()
    assert not any(isinstance(f, site.StubFinder) for f in sys.meta_path)


def test_node_environment_puts_the_slim_dir_first():
    env = node_environment({'PYTHONPATH': '/work/app', 'HOME': '/h'})
    assert env['PYTHONPATH'] == SITE_DIR + os.pathsep + '/work/app'
    assert env['PYTHONUNBUFFERED'] == '1' and env['HOME'] == '/h'
    assert node_environment({})['PYTHONPATH'] == SITE_DIR


def with_stubs(stubs, code):
    """``code`` preceded by installing the stub set named ``stubs`` (e.g. ``'STUBBED'``)."""
    return ('import importlib.util, sys\n'
            'spec = importlib.util.spec_from_file_location("s", %r)\n'
            'site = importlib.util.module_from_spec(spec); spec.loader.exec_module(site)\n'
            'site.install(site.%s)\n' % (os.path.join(SITE_DIR, 'sitecustomize.py'), stubs)
            + code)


def import_with_and_without_stubs(stubs, imports, shown):
    """Import ``imports`` in a fresh interpreter, with ``stubs`` installed and without.

    Returns {'slim'|'full': (module types of ``shown``, RSS in MB)}.
    """
    code = ('import sys\n'
            'import %s\n'
            'print(" ".join(type(sys.modules[m]).__name__ for m in %r))\n'
            'print(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])\n'
            % (', '.join(imports), shown))
    results = {}
    for mode, script in (('slim', with_stubs(stubs, code)), ('full', code)):
        kinds, rss = run_python(script).strip().splitlines()[-2:]
        results[mode] = (kinds, int(rss) / 1024)
    return results


def test_crossbar_router_worker_imports_with_stubs_and_far_less_memory():
    results = import_with_and_without_stubs(
        'STUBBED', ['crossbar.worker.router', 'crossbar.router.broker',
                    'crossbar.router.cookiestore'], ['web3', 'numpy'])
    assert results['slim'][0] == 'StubModule StubModule'
    assert results['full'][0] == 'module module'
    assert results['slim'][1] < results['full'][1] - 40, results  # MB


def test_crossbar_controller_imports_with_its_stubs_and_less_memory():
    results = import_with_and_without_stubs(
        'CONTROLLER_STUBBED', ['crossbar.node.main', 'crossbar.node.node',
                               'crossbar.node.controller', 'crossbar.personality',
                               'xbr._secmod'], ['numpy', 'xbr'])
    assert results['slim'][0] == 'StubModule module'
    assert results['full'][0] == 'module module'
    assert results['slim'][1] < results['full'][1] - 15, results  # MB


def test_the_controller_with_its_stubs_makes_and_loads_the_node_key(tmp_path):
    # crossbar's controller loads key.priv with XBR's security module, which
    # checks the Ethereum key's type: a stubbed eth package fails here.
    out = run_python(with_stubs('CONTROLLER_STUBBED', (
        'from crossbar.common.key import _maybe_generate_node_key\n'
        'from xbr._secmod import SecurityModuleMemory\n'
        '_maybe_generate_node_key(%r)\n'
        'secmod = SecurityModuleMemory.from_keyfile(%r)\n'
        'print(*sorted(type(k).__name__ for k in secmod._keys.values()),\n'
        '      type(sys.modules["web3"]).__name__)\n'
        % (str(tmp_path), str(tmp_path / 'key.priv')))))
    assert out.split() == ['CryptosignKey', 'EthereumKey', 'StubModule']


def test_router_components_import_neither_pyramid_nor_webob():
    # The router worker imports these; Pyramid and WebOb would cost it ~9 MB
    # (pyramid.settings, for asbool, imports nothing more).
    out = run_python('import sys\n'
                     'import pyramid_livehub.router.guard.component\n'
                     'import pyramid_livehub.router.auth.component\n'
                     'import pyramid_livehub.router.lazylog\n'
                     'print(sorted(m for m in sys.modules\n'
                     '             if m.split(".")[0] in ("pyramid", "webob")))\n')
    assert out.strip() == "['pyramid', 'pyramid.settings']"


def test_a_container_releases_its_stubs_before_plugins_import_the_real_packages():
    # What the plugin host does in the container worker: crossbar's imports
    # got stubs; after release_stubs(), a consumer's ``import numpy`` is numpy.
    out = run_python(with_stubs('CONTAINER_STUBBED', (
        'import crossbar.worker.container, crossbar.personality\n'
        'before = type(sys.modules["numpy"]).__name__\n'
        'from pyramid_livehub.router.slim import release_stubs\n'
        'released = release_stubs()\n'
        'import numpy\n'
        'print(before, "numpy" in released, int(numpy.arange(5).sum()), release_stubs())\n')))
    assert out.split() == ['StubModule', 'True', '10', '[]']
