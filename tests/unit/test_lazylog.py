"""Lazy debug-log arguments in the router worker (pyramid_livehub.router.lazylog)."""
import importlib
import json
import pprint
import types

import pytest
from twisted.logger import LogLevel, formatEvent

from pyramid_livehub.router.lazylog import PATCHED, LazyText, defer_log_formatting, lazy


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


def test_crossbar_json_log_observer_writes_the_same_text():
    from crossbar._logging import make_JSON_observer

    class Out:
        lines = []

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
    assert record(lazy(pprint.pformat)(authorization))['text'] == eager
    assert "'allow': True" in eager.replace('{{', '{')


def test_defer_log_formatting_rebinds_once(monkeypatch):
    module = types.ModuleType('fake_crossbar_module')
    module.pformat = pprint.pformat
    monkeypatch.setattr(importlib, 'import_module', lambda name: module)
    assert defer_log_formatting({'fake_crossbar_module': ('pformat',)}) == 1
    assert isinstance(module.pformat({'a': 1}), LazyText)
    assert str(module.pformat({'a': 1})) == pprint.pformat({'a': 1})
    assert defer_log_formatting({'fake_crossbar_module': ('pformat',)}) == 0  # idempotent


@pytest.mark.parametrize('module_name', sorted(PATCHED))
def test_patched_names_exist_in_the_installed_versions(module_name):
    # a crossbar/autobahn upgrade that renames them must fail here, not in the router
    module = importlib.import_module(module_name)
    for name in PATCHED[module_name]:
        assert callable(getattr(module, name)), (module_name, name)
