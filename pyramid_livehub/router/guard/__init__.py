"""Slow-client protection in the router worker, and memory given back.

A browser that subscribes and stops reading makes the router queue every
event for it in the Twisted transport's write buffer, without bound;
crossbar has no option for it.  The embedded :class:`LivehubGuardComponent`
(always in the router worker, see :func:`patch_node`) installs two small
wrappers on crossbar's WebSocket server protocol, so they hold for every
WebSocket connection of the worker (browsers; the backend's too when
``livehub.router_url`` is ``ws://``, not the default rawsocket):

* ``send`` (every WAMP message to a client): before sending, if the bytes
  already queued toward that client exceed ``livehub.max_queued_bytes``, the
  message is dropped and the connection closed with code
  :data:`CLOSE_CODE` and a reason saying "too slow", then aborted
  :data:`CLOSE_GRACE` seconds later (a stuck client never reads its close
  frame; a merely slow one does).  Whatever the client sends meanwhile.
* ``connectionLost``: a connection that leaves a big buffer behind frees it
  at once and has glibc give the pages back (``malloc_trim``).  Without
  that, each stuck-client episode left the worker ~29 MB larger for good,
  for two reasons found in a live worker (issue 11): the dead transport sits
  in a reference cycle (HTTPChannel, Request, protocol) that only a full
  ``gc`` pass frees, with its whole write buffer, and once freed, the
  buffer's ~1 KB chunks stay in glibc's heap until ``malloc_trim``.
  ``benchmarks/stuck_clients.py`` measures it.

:func:`patch_node` also makes the browser transport's ping timeout count
only answers to pings (``auto_ping_restart_on_any_traffic: false``), so a
client that sends keepalives but never reads is dropped after
``livehub.ping_interval + livehub.ping_timeout`` even below the bound.

The counters are served by the WAMP procedure :data:`STATS` (``backend``
role only): ``{'slow_client_closes': n, 'memory_trims': n, 'events_out': n, ...}``
(``events_out``: WAMP messages sent to WebSocket clients, events and
replies alike, one increment in the ``send`` wrapper).

This ``__init__`` holds the pure parts (the config it renders,
:class:`Guard`); :mod:`pyramid_livehub.router.guard.component` is the Twisted
component crossbar loads, :mod:`pyramid_livehub.router.guard.settings` the
guard's rows of the settings table.
"""
import ctypes
import ctypes.util


#: WAMP procedure returning the guard's counters.
STATS = 'livehub.router.stats'

#: WebSocket close code for a client that does not keep up (private-use range;
#: 1008 is not allowed in a close frame sent through Autobahn).
CLOSE_CODE = 4008

#: Close reason sent with :data:`CLOSE_CODE`.
CLOSE_REASON = 'livehub: client too slow (more than {limit} bytes queued); reconnect to resume'

#: Seconds a closed slow client has to read its close frame before the abort.
CLOSE_GRACE = 3.0

#: A connection that goes away with more than this queued triggers a malloc_trim.
TRIM_AFTER_BYTES = 1024 * 1024

#: Log line that says the guard is installed (tests wait for it).
READY_MESSAGE = 'livehub guard: slow-client bound installed'



def guard_components(settings):
    """Container components of the guard: none (it is embedded, see :func:`patch_node`)."""
    return []


def router_component(settings):
    """The embedded guard component (a crossbar router-worker ``components`` item)."""
    return {
        'type': 'class',
        'id': 'livehub_guard',
        'classname': 'pyramid_livehub.router.guard.component.LivehubGuardComponent',
        'realm': settings['realm'],
        'role': 'backend',
        'extra': {'max_queued_bytes': settings['max_queued_bytes']},
    }


def ping_options(settings):
    """Browser WebSocket ``options`` for the ping timeout (milliseconds, as crossbar wants)."""
    return {
        'auto_ping_interval': int(settings['ping_interval'] * 1000),
        'auto_ping_timeout': int(settings['ping_timeout'] * 1000),
        # any other frame (a keepalive of a client that never reads) must not count as alive
        'auto_ping_restart_on_any_traffic': False,
    }


def patch_node(node, settings):
    """Set the browser ping options and embed the guard in the router worker."""
    from pyramid_livehub.router.auth import browser_websocket
    websocket = browser_websocket(node)
    if websocket is not None:
        websocket.setdefault('options', {}).update(ping_options(settings))
    for worker in node['workers']:
        if worker.get('type') == 'router':
            worker.setdefault('components', []).append(router_component(settings))


guard_components.patch_node = patch_node


def queued_bytes(transport):
    """Bytes a Twisted TCP transport holds unsent (TLS: its underlying TCP transport's)."""
    while not hasattr(transport, '_tempDataLen'):
        transport = getattr(transport, 'transport', None)
        if transport is None:
            return 0
    return transport._tempDataLen + len(transport.dataBuffer) - transport.offset


def _free_buffers(transport):
    # the transport object may live on in a reference cycle until the next
    # GC pass; its buffers need not
    while not hasattr(transport, '_tempDataLen'):
        transport = getattr(transport, 'transport', None)
        if transport is None:
            return
    transport.dataBuffer = b''
    transport.offset = 0
    transport._tempDataBuffer = []
    transport._tempDataLen = 0


def load_malloc_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc: nothing to trim


class Guard:
    """The checks and counters; :meth:`install` wraps a WebSocket server protocol class."""

    def __init__(self, max_queued_bytes, call_later, malloc_trim=None, log=None):
        self.max_queued_bytes = max_queued_bytes
        self.call_later = call_later
        self.malloc_trim = malloc_trim
        self.log = log
        self.slow_client_closes = 0
        self.memory_trims = 0
        self.events_out = 0
        self._trim_pending = False

    def stats(self):
        """The counters, JSON-ready."""
        return {
            'slow_client_closes': self.slow_client_closes,
            'memory_trims': self.memory_trims,
            'events_out': self.events_out,
            'max_queued_bytes': self.max_queued_bytes,
        }

    def install(self, protocol_class):
        """Wrap ``send`` and ``connectionLost`` of ``protocol_class`` (once; later calls rebind)."""
        original_send = getattr(protocol_class, '_livehub_original_send', protocol_class.send)
        original_lost = getattr(protocol_class, '_livehub_original_connectionLost',
                                protocol_class.connectionLost)
        guard = self
        limit = self.max_queued_bytes

        def send(protocol, msg):
            # hot path (every event to every client): two attribute reads and a sum
            if protocol._livehub_too_slow:
                return  # closing: drop what is still routed to it
            try:
                tcp = protocol.transport
                queued = tcp._tempDataLen + len(tcp.dataBuffer) - tcp.offset
            except AttributeError:
                queued = queued_bytes(protocol.transport)
            if queued > limit:
                guard.close_slow(protocol, queued)
                return
            guard.events_out += 1  # WAMP messages sent to WebSocket clients (metrics)
            original_send(protocol, msg)

        def connectionLost(protocol, reason=None):
            left = queued_bytes(protocol.transport)
            if reason is None:
                original_lost(protocol)
            else:
                original_lost(protocol, reason)
            if left > TRIM_AFTER_BYTES:
                _free_buffers(protocol.transport)
                guard.schedule_trim()

        protocol_class._livehub_original_send = original_send
        protocol_class._livehub_original_connectionLost = original_lost
        protocol_class._livehub_too_slow = False
        protocol_class.send = send
        protocol_class.connectionLost = connectionLost

    def close_slow(self, protocol, queued):
        """Close ``protocol`` as too slow: close frame now, abort after :data:`CLOSE_GRACE`."""
        protocol._livehub_too_slow = True
        self.slow_client_closes += 1
        reason = CLOSE_REASON.format(limit=self.max_queued_bytes)
        if self.log is not None:
            self.log.warn('livehub guard: closing {peer}: too slow, {queued} bytes queued '
                          '(livehub.max_queued_bytes = {limit})', peer=protocol.peer,
                          queued=queued, limit=self.max_queued_bytes)
        try:
            protocol.sendClose(CLOSE_CODE, reason)
        except Exception:  # not open (closing already): the abort below still comes
            pass
        self.call_later(CLOSE_GRACE, self._abort, protocol)

    @staticmethod
    def _abort(protocol):
        if protocol.state != protocol.STATE_CLOSED:
            protocol.wasClean = False
            protocol.wasNotCleanReason = 'livehub guard: client too slow'
            protocol.dropConnection(abort=True)

    def schedule_trim(self):
        """Give freed heap pages back to the OS soon (once per burst of closes)."""
        if self.malloc_trim is None or self._trim_pending:
            return
        self._trim_pending = True
        # later, not now: the aborted transport's buffers go with this reactor turn
        self.call_later(0.5, self._trim)

    def _trim(self):
        self._trim_pending = False
        self.malloc_trim(0)
        self.memory_trims += 1
