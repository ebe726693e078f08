"""A page survives its router going away: reconnect, resubscribe, no reload.

The router is a private crossbar node on fixed ports (the page keeps the
URL it read from config.json), stopped and started again with the same
ports and the same node directory.
"""
import pytest

from tests.support.browser import SUBSCRIBED, LiveApp, open_widget_page
from tests.support.services import router_settings
from pyramid_livehub.router.process import RouterProcess
from pyramid_livehub.settings import parse_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def restartable_router(tmp_path):
    """A private router (raw settings, node) that the test may stop and start again."""
    raw = router_settings()
    node = RouterProcess(parse_settings(raw), str(tmp_path / 'router'))
    node.start()
    yield raw, node
    node.stop()


def test_page_reconnects_resubscribes_and_shows_next_event_after_router_restart(
        browser_context, restartable_router):
    raw, node = restartable_router
    app = LiveApp(raw)
    try:
        page = open_widget_page(browser_context, app, 'demo.restart.tick', field='n')
        page.evaluate('window.notReloaded = true')
        app.publish('demo.restart.tick', {'n': 1})
        page.wait_for_function("document.querySelector('#value').textContent === '1'")
        sessions_before = page.evaluate('livehub.hub.sessionCount')

        node.stop()
        page.wait_for_function("document.querySelector('#status').dataset.state === 'reconnecting'")
        assert page.evaluate('livehub.session.subscriptions.some(s => s.active)') is False

        node.start()
        page.wait_for_function(SUBSCRIBED % 2, timeout=20000)
        assert page.get_attribute('#status', 'data-state') == 'connected'
        assert page.evaluate('livehub.hub.sessionCount') == sessions_before + 1

        app.publish('demo.restart.tick', {'n': 2})
        page.wait_for_function("document.querySelector('#value').textContent === '2'")
        assert page.locator('#feed .livehub-text').all_inner_texts() == ['2', '1']
        assert page.evaluate('window.notReloaded') is True
    finally:
        app.close()


def test_page_that_starts_while_router_is_down_connects_when_it_comes_up(
        browser_context, restartable_router):
    raw, node = restartable_router
    node.stop()
    app = LiveApp(raw)
    try:
        page = browser_context.new_page()
        page.goto(app.url + '/page?topic=demo.restart.late&field=n')
        page.wait_for_function("document.querySelector('#status').dataset.state === 'connecting'")
        page.wait_for_function('livehub.hub._retryCount >= 3')  # a few failed attempts
        assert page.get_attribute('#status', 'data-state') == 'connecting'

        node.start()
        page.wait_for_function(SUBSCRIBED % 2, timeout=20000)
        app.publish('demo.restart.late', {'n': 7})
        page.wait_for_function("document.querySelector('#value').textContent === '7'")
    finally:
        app.close()
