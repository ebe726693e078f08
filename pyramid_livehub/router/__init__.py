"""The bundled Crossbar.io router and the components that run inside it.

What runs where:

* **The ``livehub router`` process** (:mod:`.process`, :mod:`.node_config`):
  renders the crossbar node config from the app's settings and supervises
  ``crossbar start``; once crossbar runs it replaces itself with
  :mod:`.watch` (a stdlib-only watcher).  Also imported by the web app
  (``livehub config``, tests); nothing here imports Twisted.
* **The router worker** (crossbar's ``router`` process): the realm, its roles,
  the WebSocket transport for browsers and the rawsocket transport for the
  backend, and two embedded components: the slow-client guard in
  :mod:`.guard` (the package renders its config and holds the pure
  :class:`~.guard.Guard`, :mod:`.guard.component` runs it,
  :mod:`.guard.settings` holds its rows of the settings table) and, when
  ``livehub.auth`` is on, the ticket authenticator and topic-rule authorizer
  in :mod:`.auth` (the package renders its config and holds the pure
  authorizer, :mod:`.auth.component` runs it).  :mod:`.slim` (first on the
  workers' ``PYTHONPATH``) and :mod:`.lazylog` trim crossbar's imports and
  debug-log cost there.
* **The container worker** (crossbar's ``container`` process, started only
  when bridges, plugins or topic history are configured): the broker bridges
  in :mod:`.bridges` (AMQP, MQTT, ZeroMQ, STOMP), the consumer/producer host
  in :mod:`.plugins` and the history component
  (:mod:`pyramid_livehub.history.component`).  These are Twisted WAMP
  components (:class:`.component.LivehubComponent`) that log in with the
  backend identity over rawsocket; bridges and the plugin host send events on
  history topics through :mod:`.history_forward`.

Modules that import Twisted (:mod:`.component`, :mod:`.auth.component`,
:mod:`.guard.component`, :mod:`.bridges.base`, each broker module,
:mod:`.plugins.host`, :mod:`.history_forward`) are imported only inside
crossbar's workers, never in the web process: txaio picks one framework per
process.
"""

# Nothing is re-exported: import the submodule you need (most import Twisted).
__all__: list[str] = []
