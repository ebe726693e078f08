"""Tickets: short-lived, signed proofs of a logged-in user, checked by the router.

The Pyramid app issues a short-lived ticket for the logged-in user
(:func:`issue_ticket`); the browser hands it to the router in WAMP-Ticket
auth; the router's authenticator checks it (:func:`verify_ticket`) with the
same secret, without calling back to the app, so any number of router nodes
can verify.  A ticket is::

    lh1.<base64url JSON claims>.<base64url HMAC-SHA256>

The claims carry the authid, the role, the principals, the realm, the expiry
and optionally a hash of the session cookie it was issued to.  Every refusal
raises :class:`TicketError` with a ``reason`` a person can act on.
"""
import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, Iterable, NamedTuple

TICKET_VERSION = 'lh1'

#: Shortest ``livehub.ticket_secret`` accepted when auth is on.
MIN_SECRET_LENGTH = 32

#: Upper bound of a ticket we even try to parse (a typical one is ~300 bytes;
#: 32 principals of 128 characters stay well below).
MAX_TICKET_LENGTH = 16384

_KEY_CONTEXT = b'pyramid_livehub ticket v1\x00'


class TicketError(ValueError):
    """A ticket was refused; ``reason`` says why (safe to log, never the secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TicketClaims(NamedTuple):
    """What a valid ticket says about its holder."""

    authid: str
    role: str
    principals: list[str]
    realm: str
    expires: int
    grants: list[str]


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def _b64decode(text: str) -> bytes:
    padded = text + '=' * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode('ascii'))


def _signature(secret: str, signed_part: str) -> bytes:
    # Domain separation: the same secret could be used for something else.
    key = hmac.new(secret.encode('utf8'), _KEY_CONTEXT, hashlib.sha256).digest()
    return hmac.new(key, signed_part.encode('ascii'), hashlib.sha256).digest()


def cookie_binding(cookie_value: str) -> str:
    """Short hash of a session cookie value that a ticket is bound to."""
    return _b64encode(hashlib.sha256(('livehub-cookie\x00' + cookie_value).encode('utf8'))
                      .digest()[:18])


def cookie_from_header(header: str | None, name: str | None) -> str | None:
    """Value of cookie ``name`` in a ``Cookie:`` header, or ``None``."""
    if not header or not name:
        return None
    for part in str(header).split(';'):
        key, sep, value = part.strip().partition('=')
        if sep and key == name:
            return value.strip().strip('"')
    return None


def issue_ticket(secret: str, realm: str, authid: str, role: str = 'user',
                 principals: Iterable[Any] = (), ttl: float = 120,
                 cookie_value: str | None = None, grants: Iterable[Any] = (),
                 now: float | None = None) -> str:
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
    claims: dict[str, Any] = {
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


def verify_ticket(secret: str, ticket: str, realm: str, authid: str | None = None,
                  cookie_header: str | None = None, cookie_name: str | None = None,
                  now: float | None = None) -> TicketClaims:
    """Check ``ticket``; return its :class:`TicketClaims` or raise :class:`TicketError`.

    ``authid`` is what the client claimed in its HELLO (``None``: take the
    ticket's).  With ``cookie_name``, a ticket bound to a cookie is only
    valid when ``cookie_header`` carries that cookie with the same value.
    """
    if not secret:
        raise TicketError('the router has no ticket secret (livehub.ticket_secret)')
    body = _signed_body(secret, ticket)
    claims = _decode_claims(body)
    now = time.time() if now is None else now
    if claims.realm != realm:
        raise TicketError('ticket is for realm %r, not %r' % (claims.realm, realm))
    if now >= claims.expires:
        raise TicketError('ticket expired %d s ago (fetch a fresh one before connecting)'
                          % (now - claims.expires + 1))
    if authid not in (None, '') and authid != claims.authid:
        raise TicketError('ticket is for authid %r, but the client claimed %r'
                          % (claims.authid, authid))
    if cookie_name and claims.cookie is not None:
        _check_cookie(claims.cookie, cookie_header, cookie_name)
    return TicketClaims(claims.authid, claims.role, claims.principals, claims.realm,
                        claims.expires, claims.grants)


def _signed_body(secret: str, ticket: Any) -> str:
    """The claims part of a well-formed ticket whose signature is right."""
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
    return body


class _Decoded(NamedTuple):
    """Claims as decoded, with the cookie binding (not part of :class:`TicketClaims`)."""

    authid: Any
    role: Any
    principals: Any
    realm: Any
    expires: Any
    grants: Any
    cookie: Any


def _decode_claims(body: str) -> _Decoded:
    """The typed claims of a signed body; :class:`TicketError` when they are not what we sign."""
    try:
        claims = json.loads(_b64decode(body).decode('utf8'))
    except (binascii.Error, ValueError, UnicodeError):
        raise TicketError('malformed ticket: claims are not base64url JSON') from None
    if not isinstance(claims, dict):
        raise TicketError('malformed ticket: claims are not an object')
    decoded = _Decoded(claims.get('sub'), claims.get('role'), claims.get('prn', []),
                       claims.get('realm'), claims.get('exp'), claims.get('grt', []),
                       claims.get('ck'))
    if not isinstance(decoded.authid, str) or not decoded.authid \
            or not isinstance(decoded.role, str) or not isinstance(decoded.expires, int) \
            or not isinstance(decoded.principals, list) or not isinstance(decoded.grants, list):
        raise TicketError('malformed ticket: missing or mistyped claims')
    return decoded._replace(principals=[str(p) for p in decoded.principals],
                            grants=[str(g) for g in decoded.grants])


def _check_cookie(bound: Any, cookie_header: str | None, cookie_name: str) -> None:
    """A ticket bound to a cookie is only valid with that cookie's value."""
    value = cookie_from_header(cookie_header, cookie_name)
    if value is None:
        raise TicketError('ticket is bound to the %r cookie, which the WebSocket '
                          'handshake did not carry' % cookie_name)
    if not hmac.compare_digest(cookie_binding(value), str(bound)):
        raise TicketError('ticket is bound to another %r cookie (another session)' % cookie_name)
