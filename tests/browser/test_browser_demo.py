"""The demo, end to end: its own .ini, a real router running the demo plugins, two tabs.

A message posted through the form in one tab shows in both; the message
counter (a consumer inside the router), the clock (a producer, ``HH:MM:SS``)
and the open-tabs count update; the sensor card shows the readings of the
demo's ZeroMQ sensor through the zmq bridge (no broker); with the MQTT
bridge on, a reading published to Mosquitto fills the sensor too.
"""
import os
import threading

import paho.mqtt.publish
import pytest

from demo.viewers import IViewerCounter
from pyramid_livehub import get_publisher
from pyramid_livehub.router.process import RouterProcess
from pyramid_livehub.settings import parse_settings
from tests.support import PROJECT_ROOT
from tests.support.demo import demo_sensor, demo_settings, make_demo_app
from tests.support.services import require_service


@pytest.fixture
def start_demo_site(tmp_path, monkeypatch):
    """Factory: router (the demo's plugins, plus ``overrides``) and the demo app over HTTP."""
    from waitress import create_server
    # The router's container worker imports demo.plugins from the project.
    monkeypatch.setenv('PYTHONPATH', os.pathsep.join(
        [PROJECT_ROOT] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    running = []

    def start(wait_for_log='livehub plugins ready', **overrides):
        settings = demo_settings()
        settings.update(overrides)
        parsed = parse_settings(settings)
        node = RouterProcess(parsed, str(tmp_path / 'router'))
        running.append(node.stop)
        # Posting before the consumer subscribed would leave the count at 0.
        node.start(wait_for_log=wait_for_log)
        sensor = demo_sensor(parsed)  # as demo/run.py does
        if sensor is not None:
            running.append(sensor.start().stop)
        app = make_demo_app(settings)
        running.append(lambda: get_publisher(app.registry).close(2))
        counter = app.registry.queryUtility(IViewerCounter)
        if counter is not None:
            running.append(counter.stop)
        server = create_server(app, host='127.0.0.1', port=0, threads=4)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running.append(server.close)
        return 'http://127.0.0.1:%s' % server.effective_port

    yield start
    for stop in reversed(running):
        stop()


@pytest.fixture
def demo_site(start_demo_site):
    """The demo as ``make demo`` runs it (no broker)."""
    return start_demo_site()


@pytest.mark.browser
@pytest.mark.slow
def test_demo_message_posted_in_one_tab_shows_in_both_and_is_counted(
        browser_context, chromium, demo_site):
    other = chromium.new_context()
    try:
        poster = browser_context.new_page()
        viewer = other.new_page()
        for page in (poster, viewer):
            page.goto(demo_site + '/')
            page.wait_for_function("livehub.state === 'connected' && "
                                   "livehub.session.subscriptions.every(s => s.active)")
        assert viewer.inner_text('#connection') == 'live'

        poster.fill('#author', 'ada')
        poster.fill('#text', 'hello <b>both</b> tabs')
        poster.click('button[type=submit]')

        for page in (poster, viewer):
            page.wait_for_function(
                "document.querySelector('#messages .livehub-text') && "
                "document.querySelector('#messages .livehub-text').textContent === "
                "'ada: hello <b>both</b> tabs'")
            page.wait_for_function("document.querySelector('#message-count').textContent === '1'",
                                   timeout=20000)
        assert poster.input_value('#text') == ''  # the page stayed, the field was cleared
        # The clock reads HH:MM:SS (the date apart) and ticks.
        clock = "document.querySelector('#clock').textContent"
        viewer.wait_for_function("/^\\d\\d:\\d\\d:\\d\\d$/.test(%s)" % clock, timeout=20000)
        first = viewer.inner_text('#clock')
        viewer.wait_for_function("(first) => %s !== first && /^\\d\\d:\\d\\d:\\d\\d$/.test(%s)"
                                 % (clock, clock), arg=first, timeout=20000)
        assert viewer.inner_text('#clock-date').startswith(tuple('0123456789'))
        box = viewer.locator('#clock').bounding_box()
        line = viewer.evaluate("parseFloat(getComputedStyle(document.querySelector('#clock'))"
                               ".lineHeight)")
        assert box['height'] < 1.5 * line, 'the clock wraps'
        assert viewer.locator('#messages b').count() == 0
        # The router counts the lobby's subscribers: these two tabs.
        viewer.wait_for_function("document.querySelector('#viewers').textContent === '2'",
                                 timeout=20000)
    finally:
        other.close()


@pytest.mark.browser
@pytest.mark.slow
def test_demo_sensor_card_updates_from_the_zmq_sensor_with_no_broker(
        browser_context, start_demo_site):
    settings = parse_settings(demo_settings())
    # As `make demo` runs it: the only bridge is zmq, whose SUB socket connects
    # straight to the demo's own PUB socket (no broker host, no broker port).
    assert settings['bridges'] == ['zmq']
    assert settings['zmq_subscribe_endpoints'][0].startswith('tcp://127.0.0.1:')
    site = start_demo_site()
    page = browser_context.new_page()
    page.goto(site + '/')
    reading = "/^\\d+(\\.\\d)? \u00b0C$/.test(document.querySelector('#sensor').textContent)"
    page.wait_for_function(reading, timeout=30000)
    first = page.inner_text('#sensor')
    # It keeps updating: readings drift and carry noise, so another value comes soon.
    page.wait_for_function("(first) => document.querySelector('#sensor').textContent !== first && "
                           + reading, arg=first, timeout=30000)


@pytest.mark.browser
@pytest.mark.slow
def test_demo_sensor_card_shows_an_mqtt_reading_when_the_bridge_is_on(
        browser_context, start_demo_site):
    require_service('127.0.0.1', 1883, 'Mosquitto', 'mosquitto -d')
    # MQTT only: a ZeroMQ reading must not be mistaken for the MQTT one.
    site = start_demo_site(**{'livehub.bridges': 'mqtt',
                              'livehub.mqtt_inbound': 'demo/sensors/#'})
    page = browser_context.new_page()
    page.goto(site + '/')
    page.wait_for_function("livehub.state === 'connected' && "
                           "livehub.session.subscriptions.every(s => s.active)")
    assert page.inner_text('#sensor') == '\u2014'

    shown = "document.querySelector('#sensor').textContent === '21.5 \u00b0C'"
    # The bridge may still be connecting to Mosquitto: publish until a reading arrives.
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    for _ in range(60):
        paho.mqtt.publish.single('demo/sensors/temperature', '{"celsius": 21.5}',
                                 hostname='127.0.0.1', port=1883)
        try:
            page.wait_for_function(shown, timeout=500)
            break
        except PlaywrightTimeout:
            continue
    assert page.inner_text('#sensor') == '21.5 \u00b0C'
