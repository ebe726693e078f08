"""The history component's logic, run in a process of its own.

The component imports Twisted (autobahn.twisted), and txaio allows one
framework per process: importing it here would switch this test process to
Twisted and break every asyncio publisher in the suite.  So its cases live
in tests/twisted/history_component_cases.py and run in a child pytest.
"""
import os
import subprocess
import sys

from tests.support import PROJECT_ROOT


def test_history_component_cases_pass_in_a_twisted_process():
    cases = os.path.join(PROJECT_ROOT, 'tests', 'twisted', 'history_component_cases.py')
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', cases],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert ' passed' in result.stdout and 'failed' not in result.stdout, result.stdout[-2000:]
