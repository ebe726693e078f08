"""History from Python (issue 12 items 3 and 4): request.livehub.history/position, tail --since."""
import json
import os
import subprocess
import sys
import time

import pytest

from pyramid_livehub.publisher import HistoryNotEnabled
from pyramid_livehub.router.process import RouterProcess
from pyramid_livehub.settings import parse_settings
from tests.support.app import make_testapp
from tests.support.services import router_settings

LIVEHUB = os.path.join(os.path.dirname(sys.executable), 'livehub')
HISTORY = 'app.hist.** 100'


@pytest.fixture(scope='module')
def history_router(tmp_path_factory):
    """A router whose history component keeps ``app.hist.**`` (memory store)."""
    raw = router_settings(**{'livehub.history': HISTORY})
    node = RouterProcess(parse_settings(raw), str(tmp_path_factory.mktemp('hist')))
    node.start(timeout=40, wait_for_log='livehub history: ready')
    yield raw
    node.stop()


def history_views(config):
    def publish(request):
        for n in range(int(request.params['n'])):
            request.livehub.publish(request.params['topic'], n)
        return {'flushed': request.livehub.flush(10)}

    def history(request):
        params = {k: int(v) for k, v in request.params.items() if k in ('limit', 'since')}
        try:
            return request.livehub.history(request.params['topic'], **params)
        except HistoryNotEnabled as exc:
            request.response.status = 404
            return {'error': str(exc)}

    def position(request):
        return request.livehub.position(request.params['topic'])

    for name, view in (('publish', publish), ('history', history), ('position', position)):
        config.add_route(name, '/' + name)
        config.add_view(view, route_name=name, renderer='json')


def test_request_history_and_position_read_what_the_router_keeps(history_router):
    app = make_testapp(history_router, configure=history_views)
    topic = 'app.hist.orders'
    assert app.get('/position', {'topic': topic}).json['offset'] == 0
    assert app.get('/publish', {'topic': topic, 'n': 5}).json == {'flushed': True}
    position = app.get('/position', {'topic': topic}).json
    assert position['offset'] == 5 and position['epoch']
    late = app.get('/history', {'topic': topic, 'limit': 2}).json
    assert [(e['offset'], e['args']) for e in late['events']] == [(4, [3]), (5, [4])]
    since = app.get('/history', {'topic': topic, 'since': 2}).json
    assert [e['args'] for e in since['events']] == [[2], [3], [4]]
    assert since['complete'] and since['epoch'] == position['epoch']
    everything = app.get('/history', {'topic': topic}).json
    assert [e['offset'] for e in everything['events']] == [1, 2, 3, 4, 5]
    refused = app.get('/history', {'topic': 'app.plain.orders'}, status=404).json
    assert 'keeps no history' in refused['error'] and 'livehub.history' in refused['error']


def test_history_says_so_when_the_router_keeps_none_for_the_topic(router, router_raw_settings):
    # The app's settings name the topic, the shared router runs no history component.
    app = make_testapp(dict(router_raw_settings, **{'livehub.history': HISTORY}),
                       configure=history_views)
    refused = app.get('/history', {'topic': 'app.hist.x'}, status=404).json
    assert 'the router keeps no history' in refused['error']


def test_tail_since_prints_the_kept_events_after_the_offset_then_follows_live(
        history_router, tmp_path):
    from pyramid_livehub.publisher import Publisher
    topic = 'app.hist.tail'
    publisher = Publisher(parse_settings(history_router))
    for n in range(5):
        publisher.publish(topic, n)
    assert publisher.flush(10)
    ini = tmp_path / 'app.ini'
    ini.write_text('[app:main]\n' + ''.join('%s = %s\n' % item for item in history_router.items()))
    tail = subprocess.Popen([LIVEHUB, 'tail', topic, '--since', '2', '--count', '4',
                             '--ini', str(ini)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 20
        line = ''
        while 'subscribed' not in line and time.monotonic() < deadline:
            line = tail.stderr.readline()
        assert 'subscribed' in line, 'livehub tail did not subscribe'
        publisher.publish(topic, 'live')
        assert publisher.flush(10)
        out, _ = tail.communicate(timeout=20)
    finally:
        tail.kill()
        publisher.close(1)
    events = [json.loads(line) for line in out.strip().splitlines()]
    assert [(e['position']['offset'], e['args']) for e in events] == [
        (3, [2]), (4, [3]), (5, [4]), (6, ['live'])]


def test_tail_since_refuses_a_topic_without_history(history_router, tmp_path):
    ini = tmp_path / 'app.ini'
    ini.write_text('[app:main]\n' + ''.join('%s = %s\n' % item for item in history_router.items()))
    done = subprocess.run([LIVEHUB, 'tail', 'app.plain.x', '--since', '2', '--ini', str(ini)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and 'livehub.history' in done.stderr
