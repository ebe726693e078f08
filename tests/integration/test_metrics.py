"""``GET /livehub/metrics``: Prometheus text from the publisher and a real router."""
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.stuck_clients import RawWampClient

from pyramid_livehub import get_publisher
from pyramid_livehub.router.auth import READY_MESSAGE as AUTH_READY
from pyramid_livehub.router.guard import READY_MESSAGE
from pyramid_livehub.router.process import free_port
from pyramid_livehub.subscriber import Subscriber
from tests.support.bridges import wait_for_log
from tests.support.services import router_settings

DEADLINE = 30


def scrape(testapp):
    """``{(name, labels...): value}`` of one scrape, and the response."""
    response = testapp.get('/livehub/metrics')
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name,) + tuple(sorted(sample.labels.items()))] = sample.value
    return samples, response


def poll_scrape(testapp, condition):
    """Scrape until ``condition(samples)`` holds (or fail with the last scrape)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        samples, response = scrape(testapp)
        if condition(samples):
            return samples, response
        if time.monotonic() > deadline:
            raise AssertionError('condition never held; last scrape:\n%s' % response.text)
        time.sleep(0.2)


def publisher_counter(samples, name):
    return samples.get(('livehub_publisher_total', ('counter', name)))


def test_metrics_show_publisher_router_guard_and_bridge_counters(private_router, make_testapp):
    raw = router_settings(**{
        'livehub.bridges': 'zmq',
        'livehub.zmq_inbound': 'metrics.#',
        'livehub.zmq_subscribe_endpoints': 'tcp://127.0.0.1:%d' % free_port(),
    })
    node = private_router(**raw)
    wait_for_log(node, [READY_MESSAGE, 'livehub bridge zmq: connected'], DEADLINE)
    testapp = make_testapp(raw)
    publisher = get_publisher(testapp.app.registry)
    subscriber = Subscriber(node.settings, 'app.metrics.tick').start()
    try:
        for i in range(25):
            publisher.publish('app.metrics.tick', i)
        assert publisher.flush(DEADLINE)
        samples, response = poll_scrape(testapp, lambda s: s.get(('livehub_router_up',)) == 1
                                        and publisher_counter(s, 'sent') == 25)
        assert response.headers['Content-Type'].startswith('text/plain; version=')
        for name, value in publisher.stats.as_dict().items():
            assert publisher_counter(samples, name) == value, name
        assert publisher_counter(samples, 'queued') == 25
        assert samples[('livehub_publisher_pending',)] == 0
        assert samples[('livehub_router_sessions',)] > 0
        assert samples[('livehub_router_subscriptions', ('match', 'exact'))] >= 1
        assert samples[('livehub_router_slow_client_closes_total',)] == 0
        assert ('livehub_router_events_out_total',) in samples
        assert samples[('livehub_bridge_connected', ('bridge', 'zmq'))] == 1
        assert samples[('livehub_bridge_total', ('bridge', 'zmq'), ('counter', 'connects'))] >= 1
    finally:
        subscriber.stop()
        publisher.close(2)


def test_auth_refusals_are_counted_by_reason(private_router, make_testapp):
    raw = router_settings(**{'livehub.auth': 'true',
                             'livehub.ticket_secret': 'Hq7-rW2zK9xL4vB8nM1cT6yP3sD5fG0jA_uE'})
    node = private_router(**raw)
    wait_for_log(node, [AUTH_READY], DEADLINE)
    testapp = make_testapp(raw)
    refused = ('livehub_auth_refusals_total', ('reason', 'subscribe_denied'))
    samples, _ = poll_scrape(testapp, lambda s: s.get(('livehub_router_up',)) == 1)
    assert refused not in samples
    client = RawWampClient(node.settings.browser_url, node.settings.realm)
    try:
        client.join()
        with pytest.raises(ConnectionError, match='subscribe refused'):
            client.subscribe('app.user.alice.notice')  # private: anonymous may not
        poll_scrape(testapp, lambda s: s.get(refused) == 1)
    finally:
        client.close()
        get_publisher(testapp.app.registry).close(2)


def test_router_absent_shows_router_down_quickly_and_publisher_counters(make_testapp):
    raw = router_settings()  # free ports: nothing listens there
    testapp = make_testapp(raw)
    publisher = get_publisher(testapp.app.registry)
    try:
        for i in range(7):
            publisher.publish('app.metrics.tick', i)
        started = time.monotonic()
        samples, response = scrape(testapp)
        assert time.monotonic() - started < 2.0, 'a scrape must not wait for a router that is away'
        assert samples[('livehub_router_up',)] == 0
        assert publisher_counter(samples, 'queued') == 7
        assert publisher_counter(samples, 'sent') == 0
        assert samples[('livehub_publisher_pending',)] == 7
        assert samples[('livehub_publisher_connected',)] == 0
        assert ('livehub_router_sessions',) not in samples
    finally:
        publisher.close(0)


def test_metrics_setting_off_serves_no_page(make_testapp):
    testapp = make_testapp(router_settings(**{'livehub.metrics': 'false'}))
    testapp.get('/livehub/metrics', status=404)
