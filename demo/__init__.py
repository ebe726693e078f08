"""The pyramid_livehub demo: a live dashboard.

Every open tab shows, with no reload:

* messages posted through the form (POST -> ``request.livehub.publish`` ->
  sent when the transaction commits -> every tab's feed);
* the number of messages, counted inside the router by the
  ``demo.plugins:MessageCounter`` consumer;
* the server clock, published every second by ``demo.plugins:ClockProducer``;
* a sensor reading: demo/sensor.py publishes it on a ZeroMQ socket and the
  router's zmq bridge (no broker) turns it into WAMP events (see
  development.ini; MQTT can feed it too);
* how many tabs are open (the router's subscriber count, see demo/viewers.py);
* the connection state.

Run it with ``make demo`` (router and app together), or from the project
root ``PYTHONPATH=. pserve demo/development.ini`` next to
``PYTHONPATH=. livehub router --ini demo/development.ini`` (``demo`` is not an
installed package; the router imports ``demo.plugins``).
"""
import datetime

import pyramid_livehub  # noqa: F401 - first: it filters Pyramid's pkg_resources warning
from pyramid.config import Configurator  # noqa: I100
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.settings import asbool
from pyramid.view import view_config

from pyramid_livehub.settings import parse_settings

from .viewers import IViewerCounter, ViewerCounter

#: Chat messages go to ``demo.messages.<room>``; the MessageCounter counts ``demo.messages.*``.
ROOM_TOPIC = 'demo.messages.lobby'
MAX_TEXT = 500
MAX_AUTHOR = 40


@view_config(route_name='home', renderer='demo:templates/dashboard.pt')
def dashboard(request):
    """The dashboard page: only live widgets and a form."""
    return {'room_topic': ROOM_TOPIC, 'max_text': MAX_TEXT, 'max_author': MAX_AUTHOR,
            'error': request.params.get('error')}


@view_config(route_name='messages', request_method='POST')
def post_message(request):
    """Publish a chat message; it goes out when the request's transaction commits.

    Answers JSON to the page's script, or redirects back for a plain form post.
    """
    author = request.POST.get('author', '').strip()[:MAX_AUTHOR] or 'anonymous'
    text = request.POST.get('text', '').strip()
    offers = request.accept.acceptable_offers(['text/html', 'application/json'])
    wants_json = bool(offers) and offers[0][0] == 'application/json'
    error = None
    if not text:
        error = 'Write something first.'
    elif len(text) > MAX_TEXT:
        error = 'At most %d characters, please.' % MAX_TEXT
    if error:
        if wants_json:
            request.response.status = 400
            return _json(request, {'error': error})
        return HTTPSeeOther(request.route_path('home', _query={'error': error}))
    now = datetime.datetime.now(datetime.timezone.utc)
    request.livehub.publish(ROOM_TOPIC, {'author': author, 'text': text,
                                         'time': now.isoformat(timespec='seconds')})
    if wants_json:
        return _json(request, {'published': ROOM_TOPIC})
    return HTTPSeeOther(request.route_path('home'))


def _json(request, body):
    request.response.content_type = 'application/json'
    request.response.json_body = body
    return request.response


def main(global_config, **settings):
    """The demo's WSGI app (``use = call:demo:main`` in development.ini)."""
    config = Configurator(settings=settings)
    if asbool(settings.get('demo.viewer_count', False)):
        counter = ViewerCounter(parse_settings(settings), ROOM_TOPIC).start()
        config.registry.registerUtility(counter, IViewerCounter)
    config.include('pyramid_tm')
    config.include('pyramid_chameleon')
    config.include('pyramid_livehub.widgets')
    config.add_static_view('static', 'demo:static/')
    config.add_route('home', '/')
    config.add_route('messages', '/messages')
    config.scan('demo', ignore=['demo.run', 'demo.plugins', 'demo.viewers', 'demo.screenshot',
                                'demo.sensor'])
    return config.make_wsgi_app()
