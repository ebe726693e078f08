"""Live widgets: server-rendered HTML that livehub.js keeps up to date.

Moksha's LiveWidgets, for Chameleon: a template calls a function and gets
markup; the page needs no JavaScript of its own.  Include them with::

    config.include('pyramid_livehub.widgets')

and every template rendered by Pyramid has ``livehub_widgets``::

    <head>${livehub_widgets.loader()}</head>
    ...
    <span>${livehub_widgets.status()}</span>
    ${livehub_widgets.value('demo.stats.messages', field='count', initial='0')}
    ${livehub_widgets.feed('demo.messages.posted', format='{author}: {text}', limit=10)}

Each widget is an element with ``data-livehub-*`` attributes (rendered from
``pyramid_livehub/widgets/templates/*.pt``); livehub.js finds them when the page is
parsed, subscribes, and writes event payloads into them as text.  Nothing
from an event is ever parsed as HTML, and every argument given here is
escaped by Chameleon, so a payload or a title with ``<script>`` shows as
text.

On history-enabled topics (``livehub.history``) the widgets miss nothing:
``value`` shows the latest event at once (``history=1``), ``feed`` the
newest ``history`` events, and a widget given ``since``, the position the
view read when it rendered the page, gets every event after it, also those
committed before the page's WebSocket connected::

    ${livehub_widgets.feed('app.orders.created', since=position)}

(``position`` as ``livehub.history.position`` answers: ``{"epoch", "offset"}``,
or ``"epoch:offset"``.)

Outside a template (or without the include), use
``LiveWidgets(request)`` directly.
"""
import os
from typing import Any, Mapping

from chameleon import PageTemplateFile
from pyramid.events import BeforeRender

from pyramid_livehub._uri import topic_error

__all__ = ['MATCH_POLICIES', 'LiveWidgets', 'Markup', 'add_widgets_to_renderer_globals',
           'check_widget_topic', 'format_position', 'includeme', 'render_widget']

_TEMPLATES = os.path.join(os.path.dirname(__file__), 'templates')

#: Subscription match policies WAMP knows.
MATCH_POLICIES = ('exact', 'prefix', 'wildcard')


class Markup(str):
    """Rendered HTML that Chameleon inserts as is (it has ``__html__``)."""

    def __html__(self) -> str:
        return str(self)


def _template(name: str) -> Any:
    return PageTemplateFile(os.path.join(_TEMPLATES, name + '.pt'))


_TEMPLATE_CACHE: dict[str, Any] = {}


def _classes(own: str, extra: str | None) -> str:
    return own + ' ' + extra if extra else own


def render_widget(name: str, **values: Any) -> Markup:
    """Render ``templates/<name>.pt`` with ``values``; ``None`` attributes are left out."""
    template = _TEMPLATE_CACHE.get(name)
    if template is None:
        template = _TEMPLATE_CACHE[name] = _template(name)
    return Markup(template(**values).strip())


def check_widget_topic(topic: Any, match: str | None = None) -> str:
    """Return ``topic`` if a browser can subscribe to it with ``match``, else raise ValueError."""
    if match is not None and match not in MATCH_POLICIES:
        raise ValueError('match must be one of %s, got %r' % (', '.join(MATCH_POLICIES), match))
    if not isinstance(topic, str):
        raise ValueError('a widget topic must be a str, got %s' % type(topic).__name__)
    reason = topic_error(topic, allow_empty_components=(match == 'wildcard'))
    if reason:
        raise ValueError('%r is not a valid WAMP topic for a live widget: %s' % (topic, reason))
    return topic


def format_position(since: Any) -> str | None:
    """``"epoch:offset"`` (``data-livehub-since``) of a stream position, or None.

    ``since`` is ``{"epoch", "offset"}`` (what ``livehub.history.position``
    answers), an ``(epoch, offset)`` pair, an ``"epoch:offset"`` string, or None.
    """
    if since is None:
        return None
    parts: Any = None
    if isinstance(since, str) and ':' in since:
        parts = since.rsplit(':', 1)
    elif isinstance(since, Mapping):
        parts = (since.get('epoch'), since.get('offset'))
    elif isinstance(since, (tuple, list)) and len(since) == 2:
        parts = since
    epoch, offset = parts if parts is not None else (None, -1)
    try:
        offset = int(offset) if not isinstance(offset, bool) else -1
    except (TypeError, ValueError):
        offset = -1
    if not epoch or not isinstance(epoch, str) or offset < 0:
        raise ValueError('since must be a stream position: {"epoch": ..., "offset": n} as '
                         'livehub.history.position answers, or "epoch:offset"; got %r' % (since,))
    return '%s:%d' % (epoch, offset)


def _history_count(history: Any) -> str | None:
    count = int(history)
    if count < 0:
        raise ValueError('history must be a count of events >= 0, got %d' % count)
    return str(count) if count else None


class LiveWidgets:
    """The widget functions for one request (``livehub_widgets`` in templates)."""

    def __init__(self, request: Any) -> None:
        self.request = request

    def loader(self, autostart: bool = True, max_retry_delay: float | None = None) -> Markup:
        """The ``<script>`` tags for AutobahnJS and livehub.js; put it in ``<head>``.

        ``autostart=False`` stops livehub.js from binding widgets by itself
        (call ``livehub.bindWidgets()`` when you are ready).
        ``max_retry_delay`` (seconds) caps the wait between reconnect attempts.
        """
        request = self.request
        return render_widget(
            'loader',
            autobahn_url=request.static_path('pyramid_livehub:static/vendor/autobahn.min.js'),
            livehub_url=request.static_path('pyramid_livehub:static/livehub.js'),
            config_url=request.route_path('livehub.config'),
            max_retry_delay=None if max_retry_delay is None else str(float(max_retry_delay)),
            autostart=None if autostart else 'false',
        )

    def feed(self, topic: str, field: str | None = None, format: str | None = None,
             limit: int = 20, match: str | None = None, empty: str = 'No events yet',
             id: str | None = None, css_class: str | None = None, history: int = 0,
             since: Any = None) -> Markup:
        """A list that prepends each event on ``topic``, keeping the newest ``limit``.

        Each item shows ``field`` of the event's payload (a dotted path), or
        ``format`` with ``{field}`` placeholders, or else the payload as JSON.
        ``match`` is a WAMP match policy (``prefix``, ``wildcard``).
        On a history-enabled topic, ``history`` newest events are shown at
        once (late join), or, given ``since`` (a position, see
        :func:`format_position`), every event after it.
        """
        check_widget_topic(topic, match)
        limit = int(limit)
        if limit < 1:
            raise ValueError('limit must be at least 1, got %d' % limit)
        return render_widget('feed', topic=topic, field=field, format=format, limit=str(limit),
                             match=match, empty=empty, element_id=id,
                             history=_history_count(history), since=format_position(since),
                             css_class=_classes('livehub-feed', css_class))

    def value(self, topic: str, field: str | None = None, format: str | None = None,
              initial: str = '\u2014', match: str | None = None, id: str | None = None,
              css_class: str | None = None, history: int = 1, since: Any = None) -> Markup:
        """Text bound to ``field`` (or ``format``) of the latest event on ``topic``.

        On a history-enabled topic it shows the latest event at once
        (``history=1``; 0 waits for the next event), or, given ``since``, the
        latest after that position (``initial`` being the value as of it).
        """
        check_widget_topic(topic, match)
        return render_widget('value', topic=topic, field=field, format=format,
                             initial=initial, match=match, element_id=id,
                             history=_history_count(history), since=format_position(since),
                             css_class=_classes('livehub-value', css_class))

    def status(self, labels: Mapping[str, str] | None = None, id: str | None = None,
               css_class: str | None = None) -> Markup:
        """A badge showing the connection state: connecting, connected, reconnecting, offline.

        ``labels`` maps a state to the text shown for it, e.g.
        ``{'connected': 'live'}``; its ``data-state`` attribute is the state,
        for CSS.  When livehub.js stopped trying (AutobahnJS missing, retries
        used up) the badge says why, with ``data-error`` set; ``labels['error']``
        replaces that text.
        """
        attributes: dict[str, str] = {}
        for state, label in (labels or {}).items():
            if state not in ('connecting', 'connected', 'reconnecting', 'offline', 'error'):
                raise ValueError('unknown connection state %r in labels; the keys are '
                                 'connecting, connected, reconnecting, offline and error'
                                 % (state,))
            attributes['data-livehub-label-' + state] = label
        return render_widget('status', labels=attributes, element_id=id,
                             css_class=_classes('livehub-status', css_class))


def add_widgets_to_renderer_globals(event: Any) -> None:
    """``BeforeRender`` subscriber: ``livehub_widgets`` in every template."""
    request = event.get('request')
    if request is not None and 'livehub_widgets' not in event:
        event['livehub_widgets'] = request.livehub_widgets


def includeme(config: Any) -> None:
    """Include pyramid_livehub and make the widgets available to templates."""
    config.include('pyramid_livehub')
    config.add_request_method(LiveWidgets, 'livehub_widgets', reify=True)
    config.add_subscriber(add_widgets_to_renderer_globals, BeforeRender)
