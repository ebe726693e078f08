"""The shared base of router components (bridges, plugins, authenticators).

Crossbar runs these Twisted ``ApplicationSession`` subclasses in a container
worker.  The container connects over ``livehub.router_url`` but does not
authenticate on the component's behalf, so every component joins as the
backend identity with WAMP-CRA itself; a bridge is never anonymous.
"""
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
