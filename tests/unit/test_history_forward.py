"""The history forwarder's logic (bridges' and plugins' way into the history component),
run in a process of its own.

It imports Twisted, and txaio allows one framework per process (see
test_history_component.py), so its cases live in
tests/twisted/history_forward_cases.py and run in a child pytest.
"""
import os
import subprocess
import sys

from tests.support import PROJECT_ROOT


def test_history_forward_cases_pass_in_a_twisted_process():
    cases = os.path.join(PROJECT_ROOT, 'tests', 'twisted', 'history_forward_cases.py')
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', cases],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert ' passed' in result.stdout and 'failed' not in result.stdout, result.stdout[-2000:]
