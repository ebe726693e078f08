"""Tickets and topic rules: the pure logic behind live-topic security.

**Tickets.**  The Pyramid app issues a short-lived ticket for the logged-in
user (:func:`issue_ticket`); the browser hands it to the router in WAMP-Ticket
auth; the router's authenticator checks it (:func:`verify_ticket`) with the
same secret, without calling back to the app, so any number of router nodes
can verify.  A ticket is::

    lh1.<base64url JSON claims>.<base64url HMAC-SHA256>

The claims carry the authid, the role, the principals, the realm, the expiry
and optionally a hash of the session cookie it was issued to.  Every refusal
raises :class:`TicketError` with a ``reason`` a person can act on.

**Topic rules.**  Who may subscribe, publish or call on what is a list of
patterns, evaluated in order, the last matching one wins (like .gitignore)::

    demo.* app.* !app.user.* app.user.{authid}.*

``*`` as the last component matches one or more components, elsewhere it
matches exactly one; ``!`` refuses; ``{authid}`` is the session's own authid
and only ever matches for a ticket-authenticated session.  Prefix and
wildcard subscriptions are allowed only when *every* topic they could
receive is allowed (:func:`rules_allow`).
"""
import base64
import binascii
import collections
import hashlib
import hmac
import json
import re
import time

TICKET_VERSION = 'lh1'

#: Shortest ``livehub.ticket_secret`` accepted when auth is on.
MIN_SECRET_LENGTH = 32

#: Upper bound of a ticket we even try to parse (a typical one is ~300 bytes;
#: 32 principals of 128 characters stay well below).
MAX_TICKET_LENGTH = 16384

_KEY_CONTEXT = b'pyramid_livehub ticket v1\x00'


class TicketError(ValueError):
    """A ticket was refused; ``reason`` says why (safe to log, never the secret)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


#: What a valid ticket says about its holder.
TicketClaims = collections.namedtuple('TicketClaims',
                                      'authid role principals realm expires grants')


def _b64encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def _b64decode(text):
    padded = text + '=' * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode('ascii'))


def _signature(secret, signed_part):
    # Domain separation: the same secret could be used for something else.
    key = hmac.new(secret.encode('utf8'), _KEY_CONTEXT, hashlib.sha256).digest()
    return hmac.new(key, signed_part.encode('ascii'), hashlib.sha256).digest()


def cookie_binding(cookie_value):
    """Short hash of a session cookie value that a ticket is bound to."""
    return _b64encode(hashlib.sha256(('livehub-cookie\x00' + cookie_value).encode('utf8'))
                      .digest()[:18])


def cookie_from_header(header, name):
    """Value of cookie ``name`` in a ``Cookie:`` header, or ``None``."""
    if not header or not name:
        return None
    for part in str(header).split(';'):
        key, sep, value = part.strip().partition('=')
        if sep and key == name:
            return value.strip().strip('"')
    return None


def issue_ticket(secret, realm, authid, role='user', principals=(), ttl=120,
                 cookie_value=None, grants=(), now=None):
    """A signed ticket for ``authid`` valid for ``ttl`` seconds on ``realm``.

    ``cookie_value`` binds the ticket to that session cookie: the router then
    only accepts it on a WebSocket whose handshake carries the same cookie.
    ``grants`` are extra subscribe patterns the app allowed this user (its
    Pyramid permission checks, ``livehub.subscribe_permissions``).
    """
    if not secret:
        raise ValueError('no ticket secret: set livehub.ticket_secret')
    if not isinstance(authid, str) or not authid:
        raise ValueError('a ticket needs a non-empty str authid, got %r' % (authid,))
    now = time.time() if now is None else now
    claims = {
        'sub': authid,
        'role': role,
        'prn': [str(p) for p in principals],
        'realm': realm,
        'exp': int(now + ttl),
    }
    if cookie_value is not None:
        claims['ck'] = cookie_binding(cookie_value)
    if grants:
        claims['grt'] = [str(g) for g in grants]
    body = _b64encode(json.dumps(claims, separators=(',', ':'), sort_keys=True).encode('utf8'))
    signed_part = '%s.%s' % (TICKET_VERSION, body)
    return '%s.%s' % (signed_part, _b64encode(_signature(secret, signed_part)))


def verify_ticket(secret, ticket, realm, authid=None, cookie_header=None, cookie_name=None,
                  now=None):
    """Check ``ticket``; return its :class:`TicketClaims` or raise :class:`TicketError`.

    ``authid`` is what the client claimed in its HELLO (``None``: take the
    ticket's).  With ``cookie_name``, a ticket bound to a cookie is only
    valid when ``cookie_header`` carries that cookie with the same value.
    """
    if not secret:
        raise TicketError('the router has no ticket secret (livehub.ticket_secret)')
    if not isinstance(ticket, str) or not ticket.strip():
        raise TicketError('empty ticket')
    if len(ticket) > MAX_TICKET_LENGTH:
        raise TicketError('ticket too long (%d characters)' % len(ticket))
    parts = ticket.split('.')
    if len(parts) != 3:
        raise TicketError('malformed ticket: expected 3 dot-separated parts, got %d' % len(parts))
    version, body, signature = parts
    if version != TICKET_VERSION:
        raise TicketError('unknown ticket version %r' % version[:16])
    try:
        signed_part = ('%s.%s' % (version, body)).encode('ascii').decode('ascii')
        given = signature.encode('ascii')
    except UnicodeError:
        raise TicketError('malformed ticket: not ASCII') from None
    # compare the canonical text: base64 would ignore changes in padding bits
    expected = _b64encode(_signature(secret, signed_part)).encode('ascii')
    if not hmac.compare_digest(given, expected):
        raise TicketError('bad signature: the ticket was forged, altered or signed with '
                          'another livehub.ticket_secret')
    try:
        claims = json.loads(_b64decode(body).decode('utf8'))
    except (binascii.Error, ValueError, UnicodeError):
        raise TicketError('malformed ticket: claims are not base64url JSON') from None
    if not isinstance(claims, dict):
        raise TicketError('malformed ticket: claims are not an object')
    subject, role, expires = claims.get('sub'), claims.get('role'), claims.get('exp')
    ticket_realm, principals = claims.get('realm'), claims.get('prn', [])
    grants = claims.get('grt', [])
    if not isinstance(subject, str) or not subject or not isinstance(role, str) \
            or not isinstance(expires, int) or not isinstance(principals, list) \
            or not isinstance(grants, list):
        raise TicketError('malformed ticket: missing or mistyped claims')
    if ticket_realm != realm:
        raise TicketError('ticket is for realm %r, not %r' % (ticket_realm, realm))
    now = time.time() if now is None else now
    if now >= expires:
        raise TicketError('ticket expired %d s ago (fetch a fresh one before connecting)'
                          % (now - expires + 1))
    if authid not in (None, '') and authid != subject:
        raise TicketError('ticket is for authid %r, but the client claimed %r' % (subject, authid))
    bound = claims.get('ck')
    if cookie_name and bound is not None:
        value = cookie_from_header(cookie_header, cookie_name)
        if value is None:
            raise TicketError('ticket is bound to the %r cookie, which the WebSocket '
                              'handshake did not carry' % cookie_name)
        if not hmac.compare_digest(cookie_binding(value), str(bound)):
            raise TicketError('ticket is bound to another %r cookie (another session)'
                              % cookie_name)
    return TicketClaims(subject, role, [str(p) for p in principals], ticket_realm, expires,
                        [str(g) for g in grants])


# -- topic rules ---------------------------------------------------------------

ONE = object()          # a pattern component: exactly one URI component

_RULE_COMPONENT = re.compile(r'^(\*|\{authid\}|[^\s.#*{}!]+)$')


class TopicRule:
    """One parsed pattern such as ``!app.user.*`` or ``app.user.{authid}.*``."""

    def __init__(self, text):
        self.text = text
        pattern = text[1:] if text.startswith('!') else text
        self.allow = not text.startswith('!')
        if not pattern:
            raise ValueError('empty pattern %r' % text)
        components = pattern.split('.')
        for component in components:
            if not _RULE_COMPONENT.match(component):
                raise ValueError('bad pattern %r: component %r (use words, "*" or "{authid}", '
                                 'e.g. app.user.{authid}.*)' % (text, component))
        self.tail = components[-1] == '*'      # matches one or more components
        if self.tail:
            components = components[:-1]
        self.components = components
        self.per_user = '{authid}' in components

    def resolve(self, authid):
        """Components with ``{authid}`` substituted; ``None`` if it cannot apply."""
        resolved = []
        for component in self.components:
            if component == '{authid}':
                if authid is None:
                    return None
                resolved.append(authid)
            elif component == '*':
                resolved.append(ONE)
            else:
                resolved.append(component)
        return resolved

    def __repr__(self):
        return '<TopicRule %s>' % self.text


def parse_rules(value):
    """Parse a space/newline separated rule list into :class:`TopicRule` objects."""
    words = value.split() if isinstance(value, str) else list(value)
    return [TopicRule(word) for word in words]


def parse_grants(value):
    """Rules for a ticket's grants: allowing patterns only; anything else is dropped."""
    rules = []
    for word in value if isinstance(value, list) else []:
        try:
            rule = TopicRule(str(word))
        except ValueError:
            continue
        if rule.allow:
            rules.append(rule)
    return rules


class _Prefix:
    """A subscription component known only by its start (``app.us`` prefix)."""

    def __init__(self, start):
        self.start = start


def topic_set(uri, match='exact'):
    """The set of topics a subscription receives: ``(components, min_len, max_len)``.

    A component is a string, :data:`ONE` or a :class:`_Prefix`; positions
    beyond ``components`` are unconstrained; ``max_len`` is ``None`` for
    unbounded.
    """
    if match == 'prefix':
        if uri == '':
            return [], 1, None
        parts = uri.split('.')
        if parts[-1] == '':
            return parts[:-1], len(parts), None
        return parts[:-1] + [_Prefix(parts[-1])], len(parts), None
    parts = uri.split('.')
    if match == 'wildcard':
        return [ONE if part == '' else part for part in parts], len(parts), len(parts)
    return parts, len(parts), len(parts)


def _component_overlaps(rule_component, set_component):
    if rule_component is ONE or set_component is ONE:
        return True
    if isinstance(set_component, _Prefix):
        return rule_component.startswith(set_component.start)
    return rule_component == set_component


def _component_covers(rule_component, set_component):
    if rule_component is ONE:
        return True
    return isinstance(set_component, str) and rule_component == set_component


def _lengths(rule_components, tail):
    count = len(rule_components)
    return (count + 1, None) if tail else (count, count)


def _covers(resolved, tail, topics):
    components, low, high = topics
    rule_low, rule_high = _lengths(resolved, tail)
    if low < rule_low or (rule_high is not None and (high is None or high > rule_high)):
        return False
    for position, rule_component in enumerate(resolved):
        set_component = components[position] if position < len(components) else ONE
        if not _component_covers(rule_component, set_component):
            return False
    return True


def _overlaps(resolved, tail, topics):
    components, low, high = topics
    rule_low, rule_high = _lengths(resolved, tail)
    if (rule_high is not None and rule_high < low) or (high is not None and high < rule_low):
        return False
    return all(_component_overlaps(r, s) for r, s in zip(resolved, components))


def rules_allow(rules, uri, match='exact', authid=None):
    """True if ``rules`` allow every topic of the subscription ``uri``/``match``.

    For publish and call, pass the URI with ``match='exact'``.  ``authid``
    is the session's authid when it was authenticated with a ticket, else
    ``None`` (then ``{authid}`` rules never match).  Conservative: when a
    refusing rule overlaps part of the set, the whole request is refused.
    """
    if authid is not None and not re.match(r'^[^\s.#*{}!]+$', authid):
        authid = None   # an authid that is not one URI component never matches
    topics = topic_set(uri, match)
    allowed = False
    for rule in rules:
        resolved = rule.resolve(authid)
        if resolved is None:
            continue
        if _covers(resolved, rule.tail, topics):
            allowed = rule.allow
        elif not rule.allow and _overlaps(resolved, rule.tail, topics):
            allowed = False
    return allowed
