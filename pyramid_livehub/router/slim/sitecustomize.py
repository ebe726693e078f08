"""Stub out crossbar's unused heavy imports in the router's processes (issue 13).

``import crossbar`` imports every feature crossbar has at module level:
web3, eth-abi, eth-account, py_ecc (XBR, its blockchain features), numpy,
zlmdb, cfxdb, txtorcon (cookie-store database, Tor endpoints), Docker,
HTTP clients, web-framework services, YAML, file watching, SCRAM, HTTP/2.
This module, first on the crossbar processes' ``PYTHONPATH`` (see
:mod:`pyramid_livehub.router.slim`), answers those imports with empty stub
modules (:func:`stubs_for` says which, per process):

* **router workers**: all of :data:`STUBBED` (idle RSS 157 -> 70 MB with
  Pyramid gone too).  The node config livehub renders uses none of them
  (WAMP-CRA, ticket and anonymous auth, TCP endpoints without TLS,
  in-memory cookies, WebSocket and nodeinfo web services).
* **the controller**: :data:`CONTROLLER_STUBBED` (147 -> 80 MB).  It keeps
  XBR and the eth packages: it makes and loads the node's key pair with
  them at start-up (``xbr._secmod``).
* **container workers**: :data:`CONTAINER_STUBBED` (XBR, the databases,
  numpy, Docker: 139 -> 81 MB of imports), until the plugin host, before it
  imports your consumers and producers, calls
  :func:`pyramid_livehub.router.slim.release_stubs`: from then on an import
  of any of them (``import numpy`` in your consumer) loads the real package.

Attribute lookups, calls and ``from x import y`` all answer the same stub
class.  Crossbar names and registers them at import time and uses them only
for features livehub's config leaves off, with one harmless exception: every
worker renders crossbar's release key as a QR code at start (``qrcode``),
which the stub makes empty and nothing reads.  ``LIVEHUB_ROUTER_SLIM=0`` in
the router's environment turns it all off.

It imports nothing from pyramid_livehub (that would import Pyramid into
every crossbar process), and then runs the sitecustomize it shadows, if any.
"""
import importlib.abc
import importlib.machinery
import os
import sys
import types

# Groups of top-level packages crossbar imports whether used or not.
#: XBR, crossbar's blockchain features (the controller needs it for its node key)
_XBR = frozenset([
    'web3', 'ens', 'eth_abi', 'eth_typing', 'eth_account', 'eth_keys', 'eth_utils',
    'eth_keyfile', 'eth_hash', 'eth_rlp', 'py_ecc', 'py_eth_sig_utils', 'rlp', 'hexbytes', 'xbr',
])
#: cookie-store databases, Tor endpoints, NumPy
_DATABASES = frozenset(['numpy', 'zlmdb', 'cfxdb', 'txtorcon', 'bjdata'])
#: crossbar's edge and network features: Docker, multihash, code formatting
_EDGE = frozenset(['docker', 'multihash', 'yapf'])
#: web3's and the edge features' HTTP stack, models and QR codes
_HTTP_CLIENTS = frozenset(['requests', 'urllib3', 'charset_normalizer', 'treq', 'aiohttp',
                           'websockets', 'pydantic'])
#: web services livehub's config does not use (WAP, catalog), YAML config files
#: (livehub writes config.json), file watching, SCRAM passwords, HTTP/2 (only
#: offered over TLS, which the router never speaks), formatting helpers
_UNUSED_SERVICES = frozenset(['werkzeug', 'yaml', 'watchdog', 'argon2', 'passlib', 'h2',
                              'hpack', 'hyperframe', 'priority', 'humanize'])

#: Top-level packages answered with stubs in a router worker.
STUBBED = _XBR | _DATABASES | _EDGE | _HTTP_CLIENTS | _UNUSED_SERVICES | {'PIL', 'qrcode'}

#: Top-level packages answered with stubs in the controller.  It keeps XBR's
#: eth packages (it makes and loads the node key with them) but not web3, and
#: serves no web page (jinja2, markupsafe).
CONTROLLER_STUBBED = (_DATABASES | _EDGE | _HTTP_CLIENTS | _UNUSED_SERVICES
                      | {'web3', 'ens', 'jinja2', 'markupsafe', 'ecdsa'})

#: Top-level packages answered with stubs in a container worker, until the
#: plugin host releases them (:meth:`StubFinder.release`) before it imports
#: your consumers and producers, which then get the real ones.
CONTAINER_STUBBED = _XBR | _DATABASES | _EDGE

_HERE = os.path.dirname(os.path.abspath(__file__))


class _StubType(type):
    def __getattr__(cls, name):
        if name.startswith('__'):
            raise AttributeError(name)
        return cls

    def __call__(cls, *args, **kwargs):
        # crossbar calls some of them at import time (interface registration,
        # decorators in its edge personality), so a call answers the stub itself
        return cls


class StubModule(types.ModuleType):
    """An empty module whose every public attribute is a stub class."""

    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        stub = _StubType(name, (), {'__module__': self.__name__,
                                    '__qualname__': '%s.%s' % (self.__name__, name)})
        setattr(self, name, stub)
        return stub


class StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Meta-path finder answering ``packages`` (and their submodules) with stubs."""

    #: How :func:`pyramid_livehub.router.slim.release_stubs` recognizes it
    #: (this module is imported as ``sitecustomize``, not by its own name).
    livehub_stubs = True

    def __init__(self, packages=STUBBED):
        self.packages = packages

    def release(self):
        """Stop stubbing and forget the stub modules; return their names.

        Modules that imported a stub keep it (crossbar's, which never use
        it); the next ``import`` of one of the packages loads the real one.
        """
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        released = sorted(name for name, module in sys.modules.items()
                          if isinstance(module, StubModule))
        for name in released:
            del sys.modules[name]
        return released

    def find_spec(self, name, path=None, target=None):
        if name.partition('.')[0] in self.packages:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def install(packages=STUBBED):
    """Put a :class:`StubFinder` for ``packages`` first on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, StubFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, StubFinder(packages))


def _run_shadowed():
    # the system's sitecustomize (Debian: apport's hook) would have run without us
    rest = [p for p in sys.path if os.path.abspath(p or '.') != _HERE]
    spec = importlib.machinery.PathFinder.find_spec('sitecustomize', rest)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


def stubs_for(argv, environ):
    """The packages to stub in the crossbar process started with ``argv`` (empty: none).

    A router worker (``-m crossbar.worker.main --klass ...RouterController``)
    gets :data:`STUBBED`, a container worker (``...ContainerController``)
    :data:`CONTAINER_STUBBED`, the controller (``crossbar start``)
    :data:`CONTROLLER_STUBBED`, anything else nothing.
    ``LIVEHUB_ROUTER_SLIM=0`` in the environment says none anywhere.
    """
    if environ.get('LIVEHUB_ROUTER_SLIM', '1') == '0':
        return frozenset()
    if 'crossbar.worker.main' in argv:
        if 'crossbar.worker.router.RouterController' in argv:
            return STUBBED
        if 'crossbar.worker.container.ContainerController' in argv:
            return CONTAINER_STUBBED
        return frozenset()
    if len(argv) > 2 and os.path.basename(argv[1]) == 'crossbar' and argv[2] == 'start':
        return CONTROLLER_STUBBED
    return frozenset()


_STUBS = stubs_for(getattr(sys, 'orig_argv', sys.argv), os.environ)
if _STUBS:
    install(_STUBS)
if __name__ == 'sitecustomize':  # not when a test loads this file by path
    try:
        import importlib.util
        _run_shadowed()
    except Exception:  # pragma: no cover - a broken system hook must not stop the router
        pass
