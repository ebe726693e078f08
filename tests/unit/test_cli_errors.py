"""The livehub command's error messages (no router runs)."""
import os
import subprocess
import sys

LIVEHUB = os.path.join(os.path.dirname(sys.executable), 'livehub')


def test_publish_refuses_a_bad_topic_with_a_clear_message():
    done = subprocess.run([LIVEHUB, 'publish', 'app..x', '1'], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode != 0
    assert "'app..x' is not a valid WAMP topic URI" in done.stderr


def test_publish_reports_an_unreachable_router(tmp_path):
    from pyramid_livehub.router.process import free_port
    ini = tmp_path / 'app.ini'
    ini.write_text('[app:main]\nlivehub.router_url = rs://127.0.0.1:%d\n' % free_port())
    done = subprocess.run([LIVEHUB, 'publish', 'app.x', '1', '--timeout', '1', '--ini', str(ini)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert 'did not answer within 1.0s' in done.stderr


def test_bad_setting_in_ini_is_reported_by_the_cli(tmp_path):
    ini = tmp_path / 'app.ini'
    ini.write_text('[app:main]\nlivehub.queue_size = lots\n')
    done = subprocess.run([LIVEHUB, 'config', '--ini', str(ini)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode != 0
    assert 'livehub.queue_size' in done.stderr and 'whole number' in done.stderr
