"""A router with topic history, a page whose WebSocket can be cut, and a backend that
publishes through the history component (tests/browser/test_recovery.py).

:class:`RecoveryRig` starts a private crossbar node with ``livehub.history``
(memory or Redis store), a :class:`~tests.support.tcpproxy.TcpProxy` in front
of its browser WebSocket, and a :class:`~tests.support.browser.LiveApp` whose
``config.json`` sends pages through the proxy, so ``rig.proxy.block()`` cuts
the pages and nothing else.  Events are published the way the Publisher will
(``livehub.history.publish_batch``), from a backend session of their own.
"""
import os
import uuid

from chameleon import PageTemplate

from pyramid_livehub._session import run_with_session
from pyramid_livehub.router.process import RouterProcess
from pyramid_livehub.settings import parse_settings
from pyramid_livehub.widgets import format_position
from tests.support.browser import LiveApp
from tests.support.services import router_settings
from tests.support.tcpproxy import TcpProxy

#: The log line the history component writes once its procedures are registered.
HISTORY_READY = 'livehub history: ready'

#: A hand-written page: the position the view read is rendered into it, and its
#: JS subscribes from there (the pattern of docs/browser.rst).  ``start()``
#: connects, so a test can publish between render and connect.
RECORDING_PAGE = PageTemplate('''<!doctype html>
<html><head><meta charset="utf-8"><title>livehub recovery page</title>
${w.loader(max_retry_delay=0.5, autostart=False)}
<script>
window.got = [];
window.gaps = [];
window.recoveries = [];
document.addEventListener('livehub:gap', function (e) {
  var d = e.detail;
  window.gaps.push({topic: d.topic, epoch: d.epoch, from: d.from, to: d.to, newEpoch: d.newEpoch});
});
document.addEventListener('livehub:recovered', function (e) {
  window.recoveries.push({topic: e.detail.topic, count: e.detail.count, ms: e.detail.ms});
});
function record(args, kwargs, details) {
  window.got.push({n: args[0].n, kwargs: kwargs, position: details.position || null,
                   recovered: details.recovered, history: !!details.history,
                   at: performance.now()});
}
window.start = function (options) {
  return livehub.connect().then(function (session) {
    return session.subscribe(document.body.dataset.topic, record, options || {});
  }).then(function () { window.subscribed = true; });
};
window.startFromRenderedPosition = function () {
  return window.start({since: document.body.dataset.since});
};
window.startWidgets = function () { livehub.bindWidgets(); };
</script></head>
<body data-topic="${topic}" data-since="${since}">
${w.feed(topic, field='n', id='feed', limit=100, since=since)}
${w.value(topic, field='n', id='value', initial='none yet')}
</body></html>''')


def publish_events(settings, topic, numbers):
    """Publish ``{"n": n}`` for each of ``numbers`` through ``livehub.history.publish_batch``.

    Returns the positions the component assigned.
    """
    events = [[topic, [{'n': n}], {}, uuid.uuid4().hex] for n in numbers]
    return run_with_session(settings, lambda session: session.call(
        'livehub.history.publish_batch', events), timeout=30)


def topic_position(settings, topic):
    """``{"epoch", "offset"}`` of ``topic`` now (what the page view renders)."""
    return run_with_session(settings, lambda session: session.call(
        'livehub.history.position', topic))


class RecoveryRig:
    """Router (with history) + TCP proxy for pages + the live test app."""

    def __init__(self, cbdir, history='app.** 1000', store=None):
        self.raw = router_settings(**{'livehub.history': history})
        if store:
            self.raw['livehub.history_store'] = store
        self.settings = parse_settings(self.raw)
        self.cbdir = cbdir
        self.starts = 0
        self.node = RouterProcess(self.settings, cbdir)
        self.start_router()
        host_port = self.node.endpoints()[0]
        self.proxy = TcpProxy(host_port)
        page_raw = dict(self.raw)
        page_raw['livehub.browser_url'] = 'ws://127.0.0.1:%d/ws' % self.proxy.port
        self.app = LiveApp(page_raw, configure=self._add_views)

    def start_router(self):
        """(Re)start the node; returns once its history component is ready."""
        self.starts += 1
        # a log per start, so that "ready" is this start's
        self.node.log_path = os.path.join(self.cbdir, 'node%d.log' % self.starts)
        self.node.start(timeout=40, wait_for_log=HISTORY_READY)

    def restart_router(self):
        """Stop the node and start it again on the same ports and directory."""
        self.node.stop()
        self.start_router()

    def publish(self, topic, numbers):
        """Publish ``{"n": n}`` events on ``topic`` (see :func:`publish_events`)."""
        return publish_events(self.raw, topic, numbers)

    def position(self, topic):
        """The topic's current position."""
        return topic_position(self.raw, topic)

    def _add_views(self, config):
        def recording_page(request):
            topic = request.params['topic']
            since = format_position(topic_position(self.raw, topic))  # "epoch:offset"
            request.response.text = RECORDING_PAGE(w=request.livehub_widgets, topic=topic,
                                                   since=since)
            return request.response
        config.add_route('recording', '/recording')
        config.add_view(recording_page, route_name='recording')

    def open_page(self, context, topic):
        """Open the recording page for ``topic`` (not connected yet: call ``start()``)."""
        page = context.new_page()
        page.goto(self.app.url + '/recording?topic=' + topic)
        page.wait_for_function('typeof window.start === "function" && window.livehub')
        return page

    def close(self):
        """Stop the app, the proxy and the node."""
        self.app.close()
        self.proxy.close()
        self.node.stop()
