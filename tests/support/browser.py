"""The live test app that Chromium loads (fixtures: tests/browser/conftest.py).

:class:`LiveApp` serves a Pyramid app with pyramid_livehub and its widgets
over real HTTP (waitress, in a thread), pointed at a real crossbar node, with:

* ``GET /page?topic=..&field=..`` a page made only of live widgets;
* ``GET /blank`` a page with the loader and nothing else (for page JS);
* ``POST /publish/{topic}`` a view that publishes its JSON body as the event.
"""
import json
import threading
import urllib.request

from chameleon import PageTemplate

from tests.support.app import make_testapp


WIDGET_PAGE = PageTemplate('''<!doctype html>
<html><head><meta charset="utf-8"><title>livehub test page</title>
${w.loader(max_retry_delay=0.5)}</head>
<body>
<p>${w.status(id='status')}</p>
<p>${w.value(topic, field=field, id='value', initial='none yet')}</p>
${w.feed(topic, field=field, id='feed', limit=limit)}
</body></html>''')

BLANK_PAGE = PageTemplate('''<!doctype html>
<html><head><meta charset="utf-8"><title>livehub blank page</title>
${w.loader(max_retry_delay=0.5)}</head><body></body></html>''')

#: JS condition: connected and every subscription confirmed on the current session.
SUBSCRIBED = ("window.livehub && livehub.state === 'connected' && "
              "livehub.session.subscriptions.length >= %d && "
              "livehub.session.subscriptions.every(function (s) { return s.active; })")


def widget_page_view(request):
    """A page of live widgets for ``?topic=`` (and ``field``, ``limit``)."""
    body = WIDGET_PAGE(w=request.livehub_widgets,
                       topic=request.params.get('topic', 'demo.test'),
                       field=request.params.get('field') or None,
                       limit=int(request.params.get('limit', '20')))
    request.response.text = body
    return request.response


def blank_page_view(request):
    """Just the loader: tests drive livehub.js from page JS."""
    request.response.text = BLANK_PAGE(w=request.livehub_widgets)
    return request.response


def module_page_view(request):
    """A page that uses the ES module (no plain script tag at all)."""
    request.response.text = '''<!doctype html><html><head><meta charset="utf-8">
<script type="module">
import livehub from '%s';
window.received = [];
const session = await livehub.connect();
await session.subscribe('demo.module', (args, kwargs, details) => {
  window.received.push({args, kwargs, topic: details.topic});
});
window.moduleReady = true;
</script></head><body></body></html>''' % request.static_path('pyramid_livehub:static/livehub.mjs')
    return request.response


def publish_view(request):
    """Publish the JSON body on ``{topic}``; answers once it reached the router."""
    topic = request.matchdict['topic']
    request.livehub.publish(topic, request.json_body)
    request.livehub.flush(5)
    return {'published': topic}


def add_live_app_views(config):
    """The pages and the publishing view of :class:`LiveApp`."""
    config.add_route('page', '/page')
    config.add_view(widget_page_view, route_name='page')
    config.add_route('blank', '/blank')
    config.add_view(blank_page_view, route_name='blank')
    config.add_route('module', '/module')
    config.add_view(module_page_view, route_name='module')
    config.add_route('publish', '/publish/{topic}')
    config.add_view(publish_view, route_name='publish', request_method='POST', renderer='json')


class LiveApp:
    """A Pyramid app served over HTTP from a thread, for the browser to load."""

    def __init__(self, raw_settings, configure=None):
        from waitress import create_server

        def add_views(config):
            add_live_app_views(config)
            if configure is not None:
                configure(config)
        self.app = make_testapp(raw_settings, include='pyramid_livehub.widgets',
                                configure=add_views).app
        self.server = create_server(self.app, host='127.0.0.1', port=0, threads=4)
        self.url = 'http://127.0.0.1:%s' % self.server.effective_port
        self.thread = threading.Thread(target=self.server.run, name='livehub-test-http',
                                       daemon=True)
        self.thread.start()

    @property
    def publisher(self):
        """The app's pyramid_livehub publisher."""
        from pyramid_livehub import get_publisher
        return get_publisher(self.app.registry)

    def publish(self, topic, payload):
        """POST ``payload`` to the publishing view (a real HTTP request)."""
        request = urllib.request.Request(
            self.url + '/publish/' + topic, data=json.dumps(payload).encode('utf-8'),
            headers={'Content-Type': 'application/json'}, method='POST')
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def close(self):
        """Stop serving and close the publisher."""
        self.server.close()
        # Keep-alive connections of the browser keep waitress's loop alive;
        # the thread is a daemon, so do not wait for it long.
        self.thread.join(0.5)
        self.publisher.close(2)


def open_widget_page(context, app, topic, field=None, limit=20):
    """Open ``/page`` for ``topic`` and wait until its widgets are subscribed."""
    page = context.new_page()
    query = 'topic=%s&limit=%d' % (topic, limit) + ('&field=%s' % field if field else '')
    page.goto(app.url + '/page?' + query)
    page.wait_for_function(SUBSCRIBED % 2)
    return page
