"""Router side of live-topic security: ticket authenticator, topic authorizer, hardening.

With ``livehub.auth = true`` the router worker embeds one component,
:class:`LivehubAuthComponent` (it runs inside the router process, attached
to the realm as ``backend`` without a network hop), which registers two
procedures that Crossbar calls:

* ``livehub.auth.authenticate`` -- the dynamic WAMP-Ticket authenticator of
  the browser transport.  It verifies the ticket the Pyramid app issued with
  the shared ``livehub.ticket_secret`` (no call back to the app, so it works
  on any number of router nodes) and logs every refusal with its reason.
* ``livehub.auth.authorize`` -- the dynamic authorizer of the ``anonymous``
  and ``user`` roles: the topic rules of the settings (per-user patterns
  such as ``app.user.{authid}.*``) and the per-session subscription limit.

Embedded rather than in the container worker because every browser join and
subscribe waits for these answers: over the container's rawsocket (no
TCP_NODELAY in crossbar) Nagle and delayed ACKs added ~40 ms to each; and
auth then does not depend on the container's connection.  Both procedures
are pure and fast (an HMAC, a few comparisons), so the router never waits.

:class:`~pyramid_livehub.router.auth.component.LivehubAuthComponent` (Twisted,
in its own module so that rendering the node config never imports Twisted)
registers them; this ``__init__`` holds the pure parts.

:func:`patch_node` (``auth_components.patch_node``) switches the browser
WebSocket to ``ticket`` + ``anonymous`` auth, hands those roles to the
authorizer, adds the component, and always applies the hardening options
(allowed origins, message size limits, handshake timeout).  The backend
transport and role are left alone: the publisher and the bridges keep their
WAMP-CRA identity.
"""
import collections
import time

from pyramid_livehub.security import parse_grants, parse_rules, rules_allow
from pyramid_livehub.security.settings import AUTH_COMPONENT_KEYS

AUTHENTICATE = 'livehub.auth.authenticate'
AUTHORIZE = 'livehub.auth.authorize'
#: WAMP procedure returning the refusal counters by kind (backend role only).
STATS = 'livehub.auth.stats'

#: Roles a browser can have; a ticket naming any other role is refused.
BROWSER_ROLES = ('anonymous', 'user')

#: Log line that says the component is ready (tests wait for it).
READY_MESSAGE = 'livehub auth: ticket authenticator and topic authorizer ready'

#: What crossbar loads: the Twisted part lives in its own module, imported only
#: inside the router worker.
AUTH_COMPONENT_CLASS = 'pyramid_livehub.router.auth.component.LivehubAuthComponent'

#: Procedures of the history component a browser may call; the component
#: itself refuses topics the caller may not subscribe to.
HISTORY_READ_PROCEDURES = ('livehub.history.fetch', 'livehub.history.position')

#: Seconds an allowed-but-unconfirmed subscription counts against the limit.
PENDING_SECONDS = 5.0


def auth_components(settings):
    """Container components for auth: none (the component is embedded, see :func:`patch_node`)."""
    return []


def router_component(settings):
    """The embedded router component (a crossbar router-worker ``components`` item)."""
    return {
        'type': 'class',
        'id': 'livehub_auth',
        'classname': AUTH_COMPONENT_CLASS,
        'realm': settings['realm'],
        'role': 'backend',
        'extra': {'settings': settings.subset(AUTH_COMPONENT_KEYS)},
    }


def browser_websocket(node):
    """The browser WebSocket path config of a rendered node (``None`` if absent)."""
    for worker in node.get('workers', []):
        if worker.get('type') != 'router':
            continue
        for transport in worker.get('transports', []):
            if transport.get('id') != 'browsers':
                continue
            for path in transport.get('paths', {}).values():
                if path.get('type') == 'websocket':
                    return path
    return None


def origin_patterns(origins):
    """Crossbar ``allowed_origins`` for the settings' origins.

    Autobahn matches ``scheme://host:port`` with the port always written
    out, so ``https://example.com`` becomes ``https://example.com:443``.
    """
    patterns = []
    for origin in origins:
        scheme, sep, rest = origin.partition('://')
        if sep and ':' not in rest.rstrip('/'):
            origin = '%s://%s:%s' % (scheme, rest.rstrip('/'), 443 if scheme == 'https' else 80)
        patterns.append(origin.rstrip('/'))
    return patterns


def patch_node(node, settings):
    """Harden the browser WebSocket; with auth on, switch it to tickets and the authorizer."""
    websocket = browser_websocket(node)
    if websocket is None:
        return
    options = websocket.setdefault('options', {})
    options.update({
        'allowed_origins': origin_patterns(settings['allowed_origins']),
        # a "null" origin (sandboxed iframe, file://) only passes when any origin does
        'allow_null_origin': '*' in settings['allowed_origins'],
        'max_message_size': settings['max_message_size'],
        'max_frame_size': settings['max_message_size'],
        # a client that never finishes its handshake is dropped
        'open_handshake_timeout': 10000,
        'close_handshake_timeout': 3000,
    })
    if not settings.get('auth'):
        return
    websocket['auth'] = {
        # called from the realm's trusted service session (crossbar's default)
        'ticket': {'type': 'dynamic', 'authenticator': AUTHENTICATE},
        'anonymous': {'type': 'static', 'role': 'anonymous'},
    }
    for worker in node['workers']:
        if worker.get('type') != 'router':
            continue
        for realm in worker.get('realms', []):
            roles = [role for role in realm['roles'] if role['name'] not in BROWSER_ROLES]
            realm['roles'] = roles + [{'name': name, 'authorizer': AUTHORIZE}
                                      for name in BROWSER_ROLES]
        worker.setdefault('components', []).append(router_component(settings))


auth_components.patch_node = patch_node


class TopicAuthorizer:
    """Decides one ``(session, uri, action, options)`` from the settings' rules.

    Pure apart from the subscription bookkeeping, which the component feeds
    from the router's meta events.
    """

    def __init__(self, settings, clock=time.monotonic):
        self.rules = {
            (action, role): parse_rules(settings['%s_%s' % (action, role)])
            for action in ('subscribe', 'publish', 'call') for role in BROWSER_ROLES
        }
        self.max_subscriptions = settings['max_subscriptions']
        self.clock = clock
        self.subscriptions = collections.defaultdict(set)   # session id -> subscription ids
        self.pending = collections.defaultdict(collections.deque)  # session id -> times

    def decide(self, session, uri, action, options):
        """``(allowed, reason)`` for a session dict as Crossbar passes it."""
        if action == 'call' and uri in HISTORY_READ_PROCEDURES \
                and session.get('authrole') in BROWSER_ROLES:
            # The history component checks the topic with may_subscribe()
            # (the caller is disclosed to it, see LivehubAuthComponent.authorize).
            return True, None
        allowed, reason = self.rules_decide(session, uri, action, options)
        if allowed and action == 'subscribe':
            session_id = session.get('session')
            held = len(self.subscriptions.get(session_id, ())) + self._pending(session_id)
            if held >= self.max_subscriptions:
                return False, 'session holds %d subscriptions (livehub.max_subscriptions)' % held
            self.pending[session_id].append(self.clock())
        return allowed, reason

    def may_subscribe(self, session, topic):
        """``(allowed, reason)``: may ``session`` subscribe to the exact ``topic``?

        The rule part of :meth:`decide`, without the subscription count: the
        history component asks it before a browser reads a topic's history.
        """
        return self.rules_decide(session, topic, 'subscribe', {'match': 'exact'})

    def rules_decide(self, session, uri, action, options):
        """``(allowed, reason)`` from the topic rules alone (no bookkeeping)."""
        role = session.get('authrole')
        if role not in BROWSER_ROLES:
            return False, 'role %r has no browser rules' % (role,)
        if action == 'register':
            return False, 'browsers may not register procedures'
        rules = self.rules.get((action, role))
        if rules is None:
            return False, 'unknown action %r' % (action,)
        # {authid} rules and grants only count for identities a ticket proved (an
        # anonymous client chooses its own authid and authextra)
        ticketed = session.get('authmethod') == 'ticket' and role == 'user'
        authid = session.get('authid') if ticketed else None
        match = ((options or {}).get('match') or 'exact') if action == 'subscribe' else 'exact'
        if action == 'subscribe' and ticketed:
            extra = session.get('authextra')
            grants = extra.get('grants') if isinstance(extra, dict) else None
            if grants:
                rules = rules + parse_grants(grants)
        if not isinstance(uri, str) or not rules_allow(rules, uri, match, authid):
            return False, 'no rule of livehub.%s_%s allows %s %r (match %s)' % (
                action, role, action, uri, match)
        return True, None

    def _pending(self, session_id):
        times = self.pending.get(session_id)
        if not times:
            return 0
        limit = self.clock() - PENDING_SECONDS
        while times and times[0] < limit:
            times.popleft()
        return len(times)

    def subscribed(self, session_id, subscription_id, *unused):
        """Meta event: the session now holds ``subscription_id``."""
        self.subscriptions[session_id].add(subscription_id)
        times = self.pending.get(session_id)
        if times:
            times.popleft()

    def unsubscribed(self, session_id, subscription_id, *unused):
        """Meta event: the session let go of ``subscription_id``."""
        held = self.subscriptions.get(session_id)
        if held is not None:
            held.discard(subscription_id)
            if not held:
                del self.subscriptions[session_id]

    def left(self, session_id, *unused):
        """Meta event: the session is gone."""
        self.subscriptions.pop(session_id, None)
        self.pending.pop(session_id, None)


def refusal_kind(action, reason):
    """A short, bounded label for an authorizer refusal (metrics), never the URI.

    ``max_subscriptions`` when the session holds too many subscriptions,
    ``<action>_denied`` otherwise (``subscribe_denied``, ``publish_denied``,
    ``register_denied``, ...); a refused ticket counts as ``ticket``.
    """
    if reason and 'livehub.max_subscriptions' in reason:
        return 'max_subscriptions'
    return '%s_denied' % (action if action in ('subscribe', 'publish', 'call', 'register')
                          else 'other')
