"""Run a module of tests/twisted/ in a child pytest (txaio allows one framework per process)."""
import os
import subprocess
import sys

from tests.support import PROJECT_ROOT


def assert_twisted_cases_pass(filename):
    """Run ``tests/twisted/<filename>`` in its own process; fail with its output if any case fails."""
    cases = os.path.join(PROJECT_ROOT, 'tests', 'twisted', filename)
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', cases],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert ' passed' in result.stdout and 'failed' not in result.stdout, result.stdout[-2000:]
