"""The router's auth component (Twisted): :class:`LivehubAuthComponent`.

Crossbar's router worker embeds it when ``livehub.auth`` is on (see
:mod:`pyramid_livehub.router.auth`, which renders its config and holds the
pure topic authorizer).  It imports Twisted, so only the router imports
this module, like :mod:`pyramid_livehub.router.plugins.host`.
"""
import collections

from autobahn.wamp.exception import ApplicationError
from twisted.internet.defer import inlineCallbacks

from pyramid_livehub.router.auth import (AUTHENTICATE, AUTHORIZE, BROWSER_ROLES,
                                         HISTORY_READ_PROCEDURES, READY_MESSAGE, STATS,
                                         TopicAuthorizer, refusal_kind)
from pyramid_livehub.router.component import LivehubComponent
from pyramid_livehub.security import TicketError, verify_ticket


def _peer(details):
    transport = (details or {}).get('transport') or {}
    return transport.get('peer') or '?'


def _cookie_header(details):
    transport = (details or {}).get('transport') or {}
    headers = transport.get('http_headers_received') or {}
    for key, value in headers.items():
        if str(key).lower() == 'cookie':
            return value
    return None


class LivehubAuthComponent(LivehubComponent):
    """Registers the ticket authenticator and the topic authorizer (see module doc)."""

    @inlineCallbacks
    def onJoin(self, details):
        self.authorizer = TopicAuthorizer(self.settings)
        self.refusals = collections.Counter()   # refusal_kind -> count, for the metrics
        yield self.subscribe(self.authorizer.subscribed, 'wamp.subscription.on_subscribe')
        yield self.subscribe(self.authorizer.unsubscribed, 'wamp.subscription.on_unsubscribe')
        yield self.subscribe(self.authorizer.left, 'wamp.session.on_leave')
        yield self.register(self.authenticate, AUTHENTICATE)
        yield self.register(self.authorize, AUTHORIZE)
        yield self.register(self.stats, STATS)
        self.log.info(READY_MESSAGE)

    def authenticate(self, realm, authid, details):
        """WAMP-Ticket: accept a valid ticket as its authid and role, else refuse."""
        details = details if isinstance(details, dict) else {}
        try:
            claims = verify_ticket(
                self.settings['ticket_secret'], details.get('ticket'), realm, authid,
                cookie_header=_cookie_header(details),
                cookie_name=self.settings.get('ticket_cookie') or None)
            if claims.role not in BROWSER_ROLES:
                raise TicketError('ticket names role %r; browsers may only be %s'
                                  % (claims.role, ' or '.join(BROWSER_ROLES)))
        except TicketError as exc:
            self.refusals['ticket'] += 1
            self.log.warn('livehub auth: refused ticket from {peer} (authid {authid!r}): '
                          '{reason}', peer=_peer(details), authid=authid, reason=exc.reason)
            raise ApplicationError('livehub.error.ticket_refused', exc.reason)
        self.log.info('livehub auth: accepted ticket of {authid!r} from {peer}',
                      authid=claims.authid, peer=_peer(details))
        # 'extra' is always set, so the client's own HELLO authextra never counts
        return {'authid': claims.authid, 'role': claims.role,
                'extra': {'principals': claims.principals, 'expires': claims.expires,
                          'grants': claims.grants}}

    def authorize(self, session, uri, action, options=None):
        """Dynamic authorizer: ``{'allow': bool}`` from the topic rules, never cached."""
        session = session if isinstance(session, dict) else {}
        allowed, reason = self.authorizer.decide(session, uri, action, options)
        if not allowed:
            self.refusals[refusal_kind(action, reason)] += 1
            self.log.info('livehub auth: refused {action} {uri!r} for session {session} '
                          '(role {role}, authid {authid!r}): {reason}', action=action,
                          uri=uri, session=session.get('session'),
                          role=session.get('authrole'), authid=session.get('authid'),
                          reason=reason)
        # never cached: the answer depends on the authid and the subscription count;
        # the history component needs the caller to check the topic
        disclose = action == 'call' and uri in HISTORY_READ_PROCEDURES
        return {'allow': allowed, 'disclose': disclose, 'cache': False}

    def stats(self):
        """``livehub.auth.stats``: ``{'refusals': {kind: count}}`` (see :func:`refusal_kind`)."""
        return {'refusals': dict(self.refusals)}
