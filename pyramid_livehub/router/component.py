"""The shared base of router components (bridges, plugins, authenticators).

Crossbar runs these Twisted ``ApplicationSession`` subclasses in a container
worker.  The container connects over ``livehub.router_url`` but does not
authenticate on the component's behalf, so every component joins as the
backend identity with WAMP-CRA itself; a bridge is never anonymous.
"""
import threading

from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp.auth import compute_wcs

from pyramid_livehub.settings import LivehubSettings


class LivehubComponent(ApplicationSession):
    """A router component that joins as the backend identity (WAMP-CRA).

    ``self.settings`` is the parsed :class:`LivehubSettings` that
    :func:`~pyramid_livehub.router.node_config.render_node_config` put into
    the component's ``extra``; ``self.extra`` is the rest of ``extra``.
    Subclasses implement ``onJoin`` as usual.
    """

    def __init__(self, config=None):
        super().__init__(config)
        extra = dict((config.extra if config is not None else None) or {})
        self.settings = LivehubSettings(extra.pop('settings', {}))
        self.extra = extra

    def onConnect(self):
        # Crossbar's rawsocket leaves Nagle on: small WAMP messages (events,
        # call results) would wait up to ~40 ms for the peer's delayed ACK.
        tcp = getattr(self._transport, 'transport', None)
        if hasattr(tcp, 'setTcpNoDelay'):
            tcp.setTcpNoDelay(True)
        self.join(self.config.realm, authmethods=['wampcra'],
                  authid=self.settings['backend_authid'])

    def onChallenge(self, challenge):
        if challenge.method != 'wampcra':
            raise RuntimeError('the router asked a livehub component for %r; only wampcra '
                               'is configured for the backend' % challenge.method)
        signature = compute_wcs(self.settings['backend_secret'].encode('utf8'),
                                challenge.extra['challenge'].encode('utf8'))
        return signature.decode('ascii')


class DrainScheduler:
    """Runs ``drain`` in the reactor thread once for however many requests came before it ran.

    Broker and plugin threads put into a bounded queue and call
    :meth:`from_thread`; a drain that left work behind calls :meth:`again`
    (from the reactor thread).  Either way one run is scheduled at a time:
    a burst of puts costs one reactor wake-up, not one each.
    """

    def __init__(self, drain, reactor):
        self._drain = drain
        self._reactor = reactor
        self._lock = threading.Lock()
        self._scheduled = False

    def from_thread(self):
        """From any thread: run the drain in the reactor thread soon."""
        if self._claim():
            self._reactor.callFromThread(self._run)

    def again(self):
        """From the reactor thread: run the drain once more, after other pending work."""
        if self._claim():
            self._reactor.callLater(0, self._run)

    def _claim(self):
        with self._lock:
            if self._scheduled:
                return False
            self._scheduled = True
            return True

    def _run(self):
        with self._lock:
            self._scheduled = False  # a put from now on schedules another run
        self._drain()
