"""The history forwarder's logic (bridges' and plugins' way into the history component),
run in a process of its own.

It imports Twisted, and txaio allows one framework per process (see
test_history_component.py), so its cases live in
tests/twisted/history_forward_cases.py and run in a child pytest.
"""
from tests.support.twisted_cases import assert_twisted_cases_pass


def test_history_forward_cases_pass_in_a_twisted_process():
    assert_twisted_cases_pass('history_forward_cases.py')
