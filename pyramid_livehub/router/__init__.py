"""The bundled Crossbar.io router and the components that run inside it.

What runs where:

* **The ``livehub router`` process** (:mod:`.process`, :mod:`.node_config`):
  renders the crossbar node config from the app's settings and supervises
  ``crossbar start``.  Also imported by the web app (``livehub config``,
  tests); nothing here imports Twisted.
* **The router worker** (crossbar's ``router`` process): the realm, its roles,
  the WebSocket transport for browsers and the rawsocket transport for the
  backend, and, when ``livehub.auth`` is on, :mod:`.auth_component` (the
  ticket authenticator and the topic-rule authorizer, an embedded component;
  :mod:`.auth` renders its config and holds the pure authorizer).
* **The container worker** (crossbar's ``container`` process, started only
  when bridges or plugins are configured): the broker bridges in
  :mod:`.bridges` (AMQP, MQTT, ZeroMQ, STOMP) and the consumer/producer host
  in :mod:`.plugins`.  These are Twisted WAMP components
  (:class:`.component.LivehubComponent`) that log in with the backend
  identity over rawsocket.

Modules that import Twisted (:mod:`.component`, :mod:`.auth_component`,
:mod:`.bridges.base`, each broker module, :mod:`.plugins.host`) are imported only inside crossbar's
workers, never in the web process: txaio picks one framework per process.
"""

# Nothing is re-exported: import the submodule you need (most import Twisted).
__all__: list[str] = []
