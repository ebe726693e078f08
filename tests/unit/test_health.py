"""``GET /livehub/health``: the publisher's counters, visible to a monitor (no router runs)."""
from pyramid_livehub import get_publisher
from tests.support.services import router_settings


def test_health_is_503_and_shows_drops_when_the_router_cannot_be_reached(make_testapp):
    # A router URL where nothing listens, a queue of two, three events (the third
    # does not wait for room: a monitor sees the drop at once).
    app = make_testapp(router_settings(**{'livehub.queue_size': '2',
                                          'livehub.publish_block_timeout': '0'}))
    publisher = get_publisher(app.app.registry)
    try:
        for n in range(3):
            publisher.publish('app.health.lost', n)
        response = app.get('/livehub/health', status=503)
        assert response.json['connected'] is False
        assert response.json['pending'] == 2
        assert response.json['stats']['queued'] == 3
        assert response.json['stats']['dropped'] == 1
        assert response.json['stats']['sent'] == 0
    finally:
        publisher.close(0)


def test_health_view_can_be_turned_off(make_testapp, router_raw_settings):
    app = make_testapp(dict(router_raw_settings, **{'livehub.health': 'false'}))
    app.get('/livehub/health', status=404)


def test_health_under_the_testing_include_reports_the_recorded_events(make_testapp,
                                                                       router_raw_settings):
    app = make_testapp(router_raw_settings, include='pyramid_livehub.testing')
    get_publisher(app.app.registry).publish('app.health.recorded', 1)
    assert app.get('/livehub/health').json == {
        'connected': True, 'pending': 0,
        'stats': {'queued': 1, 'sent': 1, 'acked': 1, 'resent': 0, 'dropped': 0, 'failed': 0,
                  'reconnects': 0, 'joins': 0}}


def test_metrics_registry_is_an_interface_utility_served_without_a_router(make_testapp):
    # The router URL has nothing listening: the router counts as down, the
    # publisher's own counters are still served.
    from pyramid_livehub.interfaces import IMetricsRegistry
    app = make_testapp(router_settings())
    registry = app.app.registry
    publisher = get_publisher(registry)
    try:
        assert registry.queryUtility(IMetricsRegistry) is not None
        assert not hasattr(registry, 'livehub_metrics')
        text = app.get('/livehub/metrics').text
        assert 'livehub_router_up 0.0' in text
        assert 'livehub_publisher_connected 0.0' in text
    finally:
        publisher.close(0)


def test_metrics_off_registers_no_registry_and_no_view(make_testapp, router_raw_settings):
    from pyramid_livehub.interfaces import IMetricsRegistry
    app = make_testapp(dict(router_raw_settings, **{'livehub.metrics': 'false'}))
    assert app.app.registry.queryUtility(IMetricsRegistry) is None
    app.get('/livehub/metrics', status=404)
