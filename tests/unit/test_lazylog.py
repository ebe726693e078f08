"""Lazy debug-log arguments in the router worker (pyramid_livehub.router.lazylog)."""
import importlib
import os
import pprint
import subprocess
import sys
import textwrap
import types

from twisted.logger import formatEvent

from pyramid_livehub.router.lazylog import LazyText, defer_log_formatting, lazy


def test_lazy_text_formats_like_the_helper_only_when_asked():
    calls = []

    def helper(value, color=None):
        calls.append(value)
        return '<%s %s>' % (value, color)

    text = lazy(helper)({'a': 1}, color='red')
    assert calls == []  # building the log call's arguments computes nothing
    assert formatEvent({'log_format': 'x={x}', 'x': text}) == "x=<{'a': 1} red>"
    assert str(text) == repr(text) == "<{'a': 1} red>"
    assert '{:>20}'.format(text) == '{:>20}'.format("<{'a': 1} red>")
    assert len(calls) == 4


# crossbar's modules pick Twisted for txaio on import: other unit tests use
# asyncio in this process, so the crossbar checks run in their own interpreter.
CROSSBAR_CHECKS = textwrap.dedent('''
    import importlib, json, pprint
    from twisted.logger import LogLevel
    from crossbar._logging import make_JSON_observer
    from pyramid_livehub.router.lazylog import PATCHED, lazy

    # a crossbar/autobahn upgrade that renames a patched name must fail here
    for module_name, names in PATCHED.items():
        module = importlib.import_module(module_name)
        for name in names:
            assert callable(getattr(module, name)), (module_name, name)

    class Out:
        def __init__(self):
            self.lines = []

        def write(self, data):
            self.lines.append(data)

        def flush(self):
            pass

    def record(value):
        out = Out()
        make_JSON_observer(out)({'log_level': LogLevel.info, 'log_namespace': 'test',
                                 'log_format': 'auth {authorization}', 'authorization': value})
        return json.loads(''.join(out.lines).strip().splitlines()[-1])

    # the controller logs the worker's "text" (the other fields are only passed along)
    authorization = {'allow': True, 'disclose': False}
    eager = record(pprint.pformat(authorization))['text']
    assert record(lazy(pprint.pformat)(authorization))['text'] == eager, eager
    assert "'allow': True" in eager.replace('{{', '{'), eager
    print('OK')
''')


def test_patched_names_exist_and_crossbar_logs_the_same_text():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, '-c', CROSSBAR_CHECKS], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.stdout.strip().endswith('OK'), done.stderr[-3000:]


def test_defer_log_formatting_rebinds_once(monkeypatch):
    module = types.ModuleType('fake_crossbar_module')
    module.pformat = pprint.pformat
    monkeypatch.setattr(importlib, 'import_module', lambda name: module)
    assert defer_log_formatting({'fake_crossbar_module': ('pformat',)}) == 1
    assert isinstance(module.pformat({'a': 1}), LazyText)
    assert str(module.pformat({'a': 1})) == pprint.pformat({'a': 1})
    assert defer_log_formatting({'fake_crossbar_module': ('pformat',)}) == 0  # idempotent
