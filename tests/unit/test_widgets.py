"""The live widgets' server side: markup, escaping, argument checks, template globals.

(What the markup does in a browser is in test_browser.py.)
"""
import html.parser

import pytest
from pyramid import testing

from pyramid_livehub.widgets import LiveWidgets, Markup


class ElementCollector(html.parser.HTMLParser):
    """Every start tag with its attributes, and the text, of an HTML snippet."""

    def __init__(self, markup):
        super().__init__()
        self.elements = []
        self.text = []
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture
def widgets():
    config = testing.setUp(settings={}, autocommit=False)
    config.include('pyramid_livehub.widgets')
    config.commit()
    request = testing.DummyRequest()
    request.registry = config.registry
    yield LiveWidgets(request)
    testing.tearDown()


def test_loader_includes_autobahn_then_livehub_with_the_config_url(widgets):
    elements = ElementCollector(widgets.loader(max_retry_delay=2)).elements
    assert [tag for tag, _ in elements] == ['script', 'script']
    assert elements[0][1]['src'].endswith('/livehub/static/vendor/autobahn.min.js')
    assert elements[1][1]['src'].endswith('/livehub/static/livehub.js')
    assert elements[1][1]['data-config-url'] == '/livehub/config.json'
    assert elements[1][1]['data-max-retry-delay'] == '2.0'
    assert 'data-autostart' not in elements[1][1]


def test_loader_can_leave_binding_to_the_page(widgets):
    elements = ElementCollector(widgets.loader(autostart=False)).elements
    assert elements[1][1]['data-autostart'] == 'false'


def test_feed_markup_carries_topic_field_and_limit(widgets):
    markup = widgets.feed('demo.messages.posted', field='text', limit=5, id='messages')
    (tag, attrs), (item_tag, item_attrs) = ElementCollector(markup).elements
    assert tag == 'ul'
    assert attrs == {'class': 'livehub-feed', 'id': 'messages',
                     'data-livehub-feed': 'demo.messages.posted',
                     'data-livehub-field': 'text', 'data-livehub-limit': '5'}
    assert (item_tag, item_attrs) == ('li', {'class': 'livehub-empty'})


def test_value_markup_shows_initial_text_and_asks_for_the_latest_event(widgets):
    markup = widgets.value('demo.stats.messages', field='count', initial='0', css_class='big')
    parsed = ElementCollector(markup)
    assert parsed.elements == [('span', {'class': 'livehub-value big',
                                         'data-livehub-value': 'demo.stats.messages',
                                         'data-livehub-field': 'count',
                                         'data-livehub-history': '1'})]
    assert ''.join(parsed.text) == '0'


@pytest.mark.parametrize('since', [{'epoch': 'e1f2', 'offset': 42}, ('e1f2', 42), 'e1f2:42'])
def test_widgets_render_the_position_they_subscribe_from(widgets, since):
    for markup in (widgets.feed('app.orders', since=since), widgets.value('app.orders', since=since)):
        attrs = ElementCollector(markup).elements[0][1]
        assert attrs['data-livehub-since'] == 'e1f2:42'


def test_feed_late_join_renders_its_history_count(widgets):
    attrs = ElementCollector(widgets.feed('app.orders', history=5)).elements[0][1]
    assert attrs['data-livehub-history'] == '5'
    attrs = ElementCollector(widgets.value('app.orders', history=0)).elements[0][1]
    assert 'data-livehub-history' not in attrs


@pytest.mark.parametrize('since', ['42', 'e:-1', {'epoch': 'e'}, ('e', 'x'), 5, ':3'])
def test_widget_refuses_what_is_not_a_position(widgets, since):
    with pytest.raises(ValueError, match='stream position'):
        widgets.feed('app.orders', since=since)


def test_status_badge_has_state_and_labels(widgets):
    markup = widgets.status(labels={'connected': 'live', 'reconnecting': 'reconnecting\u2026'})
    (tag, attrs), = ElementCollector(markup).elements
    assert tag == 'span'
    assert attrs['data-state'] == 'offline'
    assert 'data-livehub-status' in attrs
    assert attrs['data-livehub-label-connected'] == 'live'
    assert attrs['data-livehub-label-reconnecting'] == 'reconnecting\u2026'


def test_widget_arguments_with_html_are_escaped(widgets):
    hostile = '"><script>alert(1)</script>'
    markup = widgets.feed('demo.x', format=hostile, empty=hostile) + widgets.value(
        'demo.x', initial=hostile) + widgets.status(labels={'connected': hostile})
    assert '<script>' not in markup
    parsed = ElementCollector(markup)
    assert [tag for tag, _ in parsed.elements] == ['ul', 'li', 'span', 'span']
    assert parsed.elements[0][1]['data-livehub-format'] == hostile
    assert parsed.text.count(hostile) == 2


@pytest.mark.parametrize('topic, match, message', [
    ('demo..x', None, 'empty component'),
    ('wamp.session.on_join', None, 'reserved'),
    ('demo x', None, 'whitespace'),
    ('demo.x', 'regex', 'match must be one of exact, prefix, wildcard'),
    (None, None, 'must be a str'),
])
def test_bad_widget_topic_raises_naming_the_fault(widgets, topic, match, message):
    with pytest.raises(ValueError, match=message):
        widgets.feed(topic, match=match)


def test_wildcard_widget_topic_may_have_empty_components(widgets):
    markup = widgets.value('demo..temperature', match='wildcard')
    assert 'data-livehub-match="wildcard"' in markup


def test_feed_limit_must_be_positive(widgets):
    with pytest.raises(ValueError, match='limit must be at least 1'):
        widgets.feed('demo.x', limit=0)


def test_unknown_status_label_state_is_refused(widgets):
    with pytest.raises(ValueError, match='unknown connection state'):
        widgets.status(labels={'online': 'yes'})


def test_status_takes_a_label_for_the_error_text(widgets):
    markup = widgets.status(labels={'connected': 'live', 'error': 'Live updates are broken'})
    assert 'data-livehub-label-error="Live updates are broken"' in markup


def test_widgets_are_markup_that_chameleon_inserts_as_is():
    assert Markup('<b>').__html__() == '<b>'


def test_include_makes_livehub_widgets_a_chameleon_template_global(tmp_path, make_testapp):
    template = tmp_path / 'page.pt'
    template.write_text('<html><head>${livehub_widgets.loader()}</head><body>'
                        '${livehub_widgets.value("demo.clock.tick", field="time")}'
                        '<p>${title}</p></body></html>')

    def configure(config):
        config.add_route('home', '/')
        config.add_view(lambda request: {'title': '<i>escaped</i>'}, route_name='home',
                        renderer=str(template))
    app = make_testapp({}, include=['pyramid_chameleon', 'pyramid_livehub.widgets'],
                       configure=configure)

    body = app.get('/').text

    assert '<script src="http://localhost/livehub/static/livehub.js"' not in body  # paths, not URLs
    assert '<script src="/livehub/static/livehub.js"' in body
    assert 'data-livehub-value="demo.clock.tick"' in body
    assert '&lt;i&gt;escaped&lt;/i&gt;' in body
