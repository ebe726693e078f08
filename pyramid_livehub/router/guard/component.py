"""The guard's WAMP component, embedded in the router worker (imports Twisted and crossbar).

Only crossbar's router worker imports this module; the node config names it
(see :func:`pyramid_livehub.router.guard.router_component`).
"""
from autobahn.twisted.wamp import ApplicationSession
from crossbar.router.protocol import WampWebSocketServerProtocol
from twisted.internet import reactor

from pyramid_livehub.router.guard import READY_MESSAGE, STATS, Guard, load_malloc_trim
from pyramid_livehub.router.lazylog import defer_log_formatting


class LivehubGuardComponent(ApplicationSession):
    """Installs the slow-client bound and serves :data:`STATS` (see module doc).

    Also makes crossbar's per-event debug-log arguments lazy in this worker
    (:func:`~pyramid_livehub.router.lazylog.defer_log_formatting`).

    Embedded in the router worker, it joins as ``backend`` without
    authenticating; ``extra`` is ``{'max_queued_bytes': n}``.
    """

    def onJoin(self, details):
        defer_log_formatting()
        self.guard = Guard(self.config.extra['max_queued_bytes'], reactor.callLater,
                           malloc_trim=load_malloc_trim(), log=self.log)
        self.guard.install(WampWebSocketServerProtocol)
        self.log.info(READY_MESSAGE + ' ({limit} bytes per connection)',
                      limit=self.guard.max_queued_bytes)
        return self.register(self.guard.stats, STATS)
