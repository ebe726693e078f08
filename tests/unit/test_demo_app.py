"""The demo app's message form, through webtest (no router, no browser)."""
import webtest

from pyramid_livehub import get_publisher
from tests.support.demo import make_demo_app
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
