"""The demo's parts without a router or a browser: the message form (webtest),
the clock's payload and the ZeroMQ sensor."""
import json
import re
import types

import webtest
import zmq

from pyramid_livehub import get_publisher
from pyramid_livehub.router.process import free_port
from pyramid_livehub.settings import parse_settings
from tests.support.demo import demo_sensor, demo_settings, import_demo, make_demo_app
from tests.support.services import router_settings


def test_demo_refuses_an_empty_message_with_a_reason():
    app = make_demo_app(router_settings())
    try:
        testapp = webtest.TestApp(app)
        response = testapp.post('/messages', {'author': 'x', 'text': '  '},
                                headers={'Accept': 'application/json'}, status=400)
        assert response.json == {'error': 'Write something first.'}
        redirect = testapp.post('/messages', {'text': 'x' * 501}, status=303)
        assert 'error=At+most+500' in redirect.location
        assert 'At most 500 characters' in redirect.follow().text
        assert get_publisher(app.registry).stats.queued == 0
    finally:
        get_publisher(app.registry).close(0.1)


def test_demo_form_post_without_js_publishes_and_redirects_home():
    app = make_demo_app(router_settings())
    try:
        testapp = webtest.TestApp(app)
        response = testapp.post('/messages', {'author': '', 'text': 'plain form'}, status=303)
        assert response.location.endswith('/')
        # Sent after pyramid_tm committed (the router is not running here: it waits queued).
        assert get_publisher(app.registry).stats.queued == 1
    finally:
        get_publisher(app.registry).close(0.1)


def test_demo_clock_publishes_a_readable_time_and_the_date_apart():
    import_demo()
    from demo.plugins import ClockProducer
    tick = ClockProducer(types.SimpleNamespace(settings={})).poll()
    assert re.fullmatch(r'\d\d:\d\d:\d\d', tick['time'])
    assert re.fullmatch(r'\d{4}-\d\d-\d\d', tick['date'])
    assert tick['iso'].startswith('%sT%s' % (tick['date'], tick['time']))


def test_demo_ini_bridges_its_own_zmq_sensor_with_no_broker():
    settings = parse_settings(demo_settings())
    assert settings['bridges'] == ['zmq']
    sensor = demo_sensor(settings)
    assert sensor.endpoint == settings['zmq_subscribe_endpoints'][0]
    assert demo_sensor(parse_settings(dict(demo_settings(), **{'livehub.bridges': ''}))) is None


def test_demo_sensor_sends_topic_and_json_reading_frames():
    import_demo()
    from demo.sensor import TOPIC, ZmqSensor
    endpoint = 'tcp://127.0.0.1:%d' % free_port()
    sensor = ZmqSensor(endpoint, interval=0.05).start()
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b'')
    sub.connect(endpoint)
    try:
        assert sub.poll(10000), 'no reading within 10 s'
        topic, body = sub.recv_multipart()
        assert topic.decode() == TOPIC == 'demo.sensors.temperature'
        assert 15 < json.loads(body)['celsius'] < 27
    finally:
        sub.close()
        sensor.stop()
    assert not sensor.thread.is_alive()
