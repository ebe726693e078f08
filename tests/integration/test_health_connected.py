"""``GET /livehub/health`` while the publisher is connected to a real router."""
from pyramid_livehub import get_publisher
from tests.support import wait_for


def test_health_is_200_with_the_counters_while_connected(testapp):
    app = testapp  # its publisher is closed by the fixture
    publisher = get_publisher(app.app.registry)
    # Nobody has published yet: the view starts the publisher itself.  The
    # view waits only briefly for the first join; ask again until it is in.
    wait_for(lambda: app.get('/livehub/health', expect_errors=True).json['connected'],
             'the publisher to connect', 30, 0.1)
    for n in range(3):
        publisher.publish('app.health.ping', n)
    assert publisher.flush(30)
    response = app.get('/livehub/health')
    assert response.status_int == 200
    assert response.headers['Cache-Control'] == 'no-store'
    assert response.json['stats']['sent'] == 3
    assert response.json['stats']['dropped'] == 0
    assert response.json['pending'] == 0
