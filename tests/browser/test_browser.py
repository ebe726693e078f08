"""livehub.js and the live widgets in a real Chromium, through a real crossbar node.

Every event here is published by a Pyramid view (a real HTTP POST), goes
through the router, and is checked in the DOM of a headless Chromium.
"""
import pytest

from tests.support.browser import SUBSCRIBED, LiveApp, open_widget_page
from tests.support.services import router_settings

pytestmark = pytest.mark.browser


def test_page_shows_event_published_by_a_view(browser_context, live_app):
    page = open_widget_page(browser_context, live_app, 'demo.browser.first', field='text')
    assert page.inner_text('#value') == 'none yet'
    assert page.inner_text('#feed') == 'No events yet'

    live_app.publish('demo.browser.first', {'text': 'hello from a view'})

    page.wait_for_function("document.querySelector('#value').textContent === 'hello from a view'")
    assert page.locator('#feed .livehub-item .livehub-text').all_inner_texts() == [
        'hello from a view']
    assert page.locator('#feed .livehub-empty').count() == 0


def test_two_pages_both_update(browser_context, chromium, live_app):
    other_context = chromium.new_context()
    try:
        first = open_widget_page(browser_context, live_app, 'demo.browser.both', field='n')
        second = open_widget_page(other_context, live_app, 'demo.browser.both', field='n')

        live_app.publish('demo.browser.both', {'n': 1})
        live_app.publish('demo.browser.both', {'n': 2})

        for page in (first, second):
            page.wait_for_function("document.querySelectorAll('#feed .livehub-item').length === 2")
            assert page.locator('#feed .livehub-text').all_inner_texts() == ['2', '1']
            assert page.inner_text('#value') == '2'
    finally:
        other_context.close()


def test_html_payload_is_shown_as_text_and_never_run(browser_context, live_app):
    page = open_widget_page(browser_context, live_app, 'demo.browser.html', field='text')
    hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>'

    live_app.publish('demo.browser.html', {'text': hostile})

    page.wait_for_function("document.querySelector('#value').textContent.length > 0 && "
                           "document.querySelector('#value').textContent !== 'none yet'")
    assert page.inner_text('#value') == hostile
    assert page.locator('#feed .livehub-text').all_inner_texts() == [hostile]
    assert page.locator('#feed img, #feed script, #feed b, #value *').count() == 0
    # Marker: a broken image of our own reports its error; one injected earlier
    # would have fired its onerror by then.
    page.evaluate("() => new Promise(done => { const probe = new Image(); "
                  "probe.onerror = done; probe.src = 'x?probe=' + Date.now(); })")
    assert page.evaluate('window.pwned') is None


def test_feed_keeps_only_the_newest_events_up_to_its_limit(browser_context, live_app):
    page = open_widget_page(browser_context, live_app, 'demo.browser.limit', field='n', limit=3)

    for n in range(5):
        live_app.publish('demo.browser.limit', {'n': n})

    page.wait_for_function("document.querySelector('#value').textContent === '4'")
    assert page.locator('#feed .livehub-text').all_inner_texts() == ['4', '3', '2']


def test_value_without_field_shows_the_payload_as_json(browser_context, live_app):
    page = open_widget_page(browser_context, live_app, 'demo.browser.json')

    live_app.publish('demo.browser.json', {'a': [1, 2], 'b': 'x'})

    page.wait_for_function("document.querySelector('#value').textContent !== 'none yet'")
    assert page.evaluate("JSON.parse(document.querySelector('#value').textContent)") == {
        'a': [1, 2], 'b': 'x'}


def test_status_badge_shows_connected_state(browser_context, live_app):
    page = open_widget_page(browser_context, live_app, 'demo.browser.status')
    assert page.get_attribute('#status', 'data-state') == 'connected'
    assert page.inner_text('#status') == 'connected'


def test_session_subscribe_works_as_autobahn_documents(browser_context, live_app):
    page = browser_context.new_page()
    page.goto(live_app.url + '/blank')
    page.evaluate('''() => livehub.connect().then(session => {
        window.received = [];
        window.sessionId = session.id;
        window.isOpen = session.isOpen;
        return session.subscribe('demo.browser.js', (args, kwargs, details) => {
            window.received.push({args: args, kwargs: kwargs, topic: details.topic});
        }).then(sub => { window.sub = sub; return sub.topic; });
    })''')
    assert page.evaluate('window.isOpen') is True
    assert isinstance(page.evaluate('window.sessionId'), int)
    assert page.evaluate('window.sub.active') is True

    live_app.publish('demo.browser.js', {'k': 'v'})
    page.wait_for_function('window.received.length === 1')
    assert page.evaluate('window.received') == [
        {'args': [{'k': 'v'}], 'kwargs': {}, 'topic': 'demo.browser.js'}]

    page.evaluate('() => window.sub.unsubscribe()')
    assert page.evaluate('livehub.session.subscriptions.length') == 0
    # A marker topic published after: the unsubscribed event would come before it.
    page.evaluate('''() => livehub.session.subscribe('demo.browser.js_marker', (args) => {
        window.received.push({marker: args[0]});
    })''')
    live_app.publish('demo.browser.js', {'k': 'after unsubscribe'})
    live_app.publish('demo.browser.js_marker', {'m': 1})
    page.wait_for_function('window.received.length >= 2')
    assert page.evaluate('window.received.map(r => r.marker || r.args[0].k)') == [
        'v', {'m': 1}]


def test_prefix_subscription_receives_the_subtopics(browser_context, live_app):
    page = browser_context.new_page()
    page.goto(live_app.url + '/blank')
    page.evaluate('''() => livehub.connect().then(session => {
        window.topics = [];
        return session.subscribe('demo.browser.prefix', (args, kwargs, details) => {
            window.topics.push(details.topic);
        }, {match: 'prefix'});
    })''')
    live_app.publish('demo.browser.prefix.a', {})
    live_app.publish('demo.browser.prefix.b.c', {})
    page.wait_for_function('window.topics.length === 2')
    assert page.evaluate('window.topics') == ['demo.browser.prefix.a', 'demo.browser.prefix.b.c']


def test_subscribe_before_connect_is_queued_until_the_session_opens(browser_context, live_app):
    page = browser_context.new_page()
    page.goto(live_app.url + '/blank')
    page.evaluate('''() => {
        window.received = [];
        window.stateBefore = livehub.state;
        livehub.session.subscribe('demo.browser.early', (args) => window.received.push(args[0]));
        livehub.connect();
    }''')
    assert page.evaluate('window.stateBefore') == 'offline'
    page.wait_for_function(SUBSCRIBED % 1)
    live_app.publish('demo.browser.early', {'early': True})
    page.wait_for_function('window.received.length === 1')
    assert page.evaluate('window.received') == [{'early': True}]


def test_publish_by_anonymous_browser_is_refused(browser_context, live_app):
    page = browser_context.new_page()
    page.goto(live_app.url + '/blank')
    error = page.evaluate('''() => livehub.connect().then(session =>
        session.publish('demo.browser.nope', [1], {}, {acknowledge: true})
            .then(() => 'published', err => err.error))''')
    assert error == 'wamp.error.not_authorized'


def test_es_module_connects_and_subscribes(browser_context, live_app):
    page = browser_context.new_page()
    page.goto(live_app.url + '/module')
    page.wait_for_function('window.moduleReady === true')
    live_app.publish('demo.module', {'via': 'module'})
    page.wait_for_function('window.received.length === 1')
    assert page.evaluate('window.received[0].args') == [{'via': 'module'}]
    assert page.evaluate("typeof window.autobahn") == 'object'


def test_payload_is_the_first_argument_else_the_keyword_arguments(browser_context, live_app):
    page = browser_context.new_page()
    page.goto(live_app.url + '/blank')
    assert page.evaluate('''() => [
        livehub.payload([{a: 1}], {}),
        livehub.payload([{a: 1}], {livehub_broker: {bridge: 'mqtt'}}),
        livehub.payload([], {a: 2}),
        livehub.payload([], {}),
        livehub.pick({user: {name: 'x'}, items: [5, 6]}, 'items.1'),
        livehub.format('{user.name} <{missing}>', {user: {name: '<b>'}}),
        livehub.format('{constructor}{__proto__}{length.x}', {length: 3}),
        livehub.pick('text', 'length'),
    ]''') == [{'a': 1}, {'a': 1}, {'a': 2}, None, 6, '<b> <>', '', None]


def test_keyword_only_event_reaches_a_field_widget(browser_context, live_app):
    page = open_widget_page(browser_context, live_app, 'demo.browser.kw', field='count')
    live_app.publisher.publish('demo.browser.kw', count=41)
    page.wait_for_function("document.querySelector('#value').textContent === '41'")


def test_closing_the_connection_shows_offline_and_stops_events(browser_context, live_app):
    page = open_widget_page(browser_context, live_app, 'demo.browser.close', field='n')
    page.evaluate('livehub.close()')
    assert page.get_attribute('#status', 'data-state') == 'offline'
    assert page.evaluate('livehub.session.isOpen') is False
    # Marker: another page on the topic shows the event; by then it would have
    # reached the closed page too.
    observer = open_widget_page(browser_context, live_app, 'demo.browser.close', field='n')
    live_app.publish('demo.browser.close', {'n': 1})
    observer.wait_for_function("document.querySelector('#value').textContent === '1'")
    assert page.inner_text('#value') == 'none yet'
    error = page.evaluate("livehub.session.publish('demo.x', []).then(() => 'ok', e => e.message)")
    assert 'not connected' in error


def test_page_gives_up_and_shows_offline_after_max_retries(browser_context, router_raw_settings):
    app = LiveApp(router_settings())  # nothing listens on its router ports
    try:
        page = browser_context.new_page()
        page.goto(app.url + '/blank')
        page.evaluate('''() => {
            window.states = [];
            livehub.onstate(state => window.states.push(state));
            livehub.connect({max_retries: 2, initial_retry_delay: 0.05, max_retry_delay: 0.1});
        }''')
        page.wait_for_function("livehub.state === 'offline'", timeout=10000)
        assert page.evaluate('window.states') == ['connecting', 'offline']
        assert page.evaluate('livehub.hub.sessionCount') == 0
    finally:
        app.close()


def test_widgets_added_later_are_bound_and_removed_ones_unsubscribe(browser_context, live_app):
    # A page with no widgets at first, like one that fetches its fragments (htmx).
    page = browser_context.new_page()
    page.goto(live_app.url + '/blank')
    page.evaluate('''() => {
        const box = document.createElement('div');
        box.id = 'fragment';
        box.innerHTML = '<span id="late" data-livehub-value="demo.browser.late" ' +
            'data-livehub-field="n">none</span>' +
            '<ul id="late-feed" data-livehub-feed="demo.browser.late" data-livehub-field="n"></ul>';
        document.body.appendChild(box);
    }''')
    page.wait_for_function(SUBSCRIBED % 2)

    live_app.publish('demo.browser.late', {'n': 'first'})
    page.wait_for_function("document.querySelector('#late').textContent === 'first'")
    assert page.locator('#late-feed .livehub-text').all_inner_texts() == ['first']

    # Moving the fragment keeps it bound (no double subscription); removing the
    # value widget ends its subscription while the feed keeps receiving.
    page.evaluate('''() => {
        const wrapper = document.createElement('section');
        document.body.appendChild(wrapper);
        wrapper.appendChild(document.querySelector('#fragment'));
    }''')
    # Marker: a widget added after the moves; the observer handles the moves first.
    page.evaluate('''() => {
        const marker = document.createElement('span');
        marker.id = 'marker';
        marker.dataset.livehubValue = 'demo.browser.late_marker';
        document.body.appendChild(marker);
    }''')
    page.wait_for_function('livehub.session.subscriptions.length >= 3')
    assert page.evaluate('livehub.session.subscriptions.length') == 3
    page.evaluate("() => document.querySelector('#marker').remove()")
    page.wait_for_function('livehub.session.subscriptions.length === 2')
    page.evaluate("() => { window.removed = document.querySelector('#late'); "
                  "window.removed.remove(); }")
    page.wait_for_function('livehub.session.subscriptions.length === 1')
    live_app.publish('demo.browser.late', {'n': 'second'})
    page.wait_for_function("document.querySelectorAll('#late-feed .livehub-text').length === 2")
    assert page.evaluate('window.removed.textContent') == 'first'
