"""The history component's logic, run in a process of its own.

The component imports Twisted (autobahn.twisted), and txaio allows one
framework per process: importing it here would switch this test process to
Twisted and break every asyncio publisher in the suite.  So its cases live
in tests/twisted/history_component_cases.py and run in a child pytest.
"""
from tests.support.twisted_cases import assert_twisted_cases_pass


def test_history_component_cases_pass_in_a_twisted_process():
    assert_twisted_cases_pass('history_component_cases.py')
