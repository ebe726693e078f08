"""The ticket view: ``GET <livehub.route_prefix>/ticket``.

A logged-in user (Pyramid 2 security policy: ``request.authenticated_userid``)
gets ``{"authid": ..., "ticket": ..., "realm": ..., "expires_in": seconds}``; an
anonymous one gets ``403 {"anonymous": true}`` and livehub.js then connects
as ``anonymous``.  ``config.json`` tells livehub.js where the view is::

    "auth": {"method": "ticket", "ticket_url": "/livehub/ticket"}

CSRF: the view only answers same-origin GETs (``Sec-Fetch-Site`` / ``Origin``
checks), the answer is not cacheable, tickets are short-lived and can be
bound to the session cookie (``livehub.ticket_cookie``).
"""
from typing import Any
from urllib.parse import urlsplit

from pyramid.config import PHASE1_CONFIG

from pyramid_livehub._views import add_client_config
from pyramid_livehub.interfaces import ILivehubSettings
from pyramid_livehub.security.tickets import issue_ticket

#: Most principals copied into a ticket (keeps tickets small).
MAX_PRINCIPALS = 32

#: Longest user id turned into a WAMP authid.
MAX_AUTHID_LENGTH = 255


def includeme(config: Any) -> None:
    """Register the ticket view and the ``auth`` key of ``config.json`` (when auth is on).

    Included by ``pyramid_livehub``; its action runs after pyramid_livehub's
    own (same order, registered later), when the parsed settings are there.
    The discriminator makes a second include a no-op.
    """
    config.action(('pyramid_livehub', 'ticket-view'), lambda: setup_ticket_view(config),
                  order=PHASE1_CONFIG)


def setup_ticket_view(config: Any) -> None:
    """Add the view and its ``config.json`` key (only with ``livehub.auth`` on).

    The settings were checked by ``parse_settings`` (ticket secret and all).
    """
    settings = config.registry.getUtility(ILivehubSettings)
    if not settings['auth']:
        return
    config.add_route('livehub.ticket', settings['route_prefix'] + '/ticket')
    config.add_view(ticket_view, route_name='livehub.ticket', renderer='json')
    add_client_config(config, auth_client_config)


def auth_client_config(request: Any, settings: Any) -> dict[str, Any]:
    """``config.json`` contribution: how livehub.js gets a ticket."""
    return {'auth': {'method': 'ticket',
                     'ticket_url': request.route_path('livehub.ticket')}}


def _refuse(request: Any, status: int, **body: Any) -> dict[str, Any]:
    request.response.status = status
    return body


def _same_origin(request: Any) -> bool:
    """False when the browser says the request comes from another site."""
    fetch_site = request.headers.get('Sec-Fetch-Site')
    if fetch_site not in (None, 'same-origin', 'none'):
        return False
    origin = request.headers.get('Origin')
    if origin is not None:
        parts = urlsplit(origin)
        here = urlsplit(request.host_url)
        if (parts.scheme, parts.netloc) != (here.scheme, here.netloc):
            return False
    return True


def principals_of(request: Any) -> list[str]:
    """The identity's principals if the security policy can tell them, else ``[]``."""
    policy = request.registry.queryUtility(_security_policy_interface())
    effective = getattr(policy, 'effective_principals', None)
    if effective is None:
        return []
    try:
        principals = effective(request)
    except Exception:  # noqa: BLE001 - a policy without principals must not break tickets
        return []
    return [p for p in principals if isinstance(p, str) and len(p) <= 128][:MAX_PRINCIPALS]


def granted_patterns(request: Any, settings: Any) -> list[str]:
    """The ``livehub.subscribe_permissions`` patterns the user's permissions allow."""
    return [pattern for pattern, permission in settings['subscribe_permissions']
            if request.has_permission(permission, request.context)]


def _security_policy_interface() -> Any:
    from pyramid.interfaces import ISecurityPolicy
    return ISecurityPolicy


def ticket_view(request: Any) -> dict[str, Any]:
    """Issue a ticket for the logged-in user (see module docstring)."""
    settings = request.registry.getUtility(ILivehubSettings)
    response = request.response
    response.headers['Cache-Control'] = 'no-store'
    response.headers['X-Content-Type-Options'] = 'nosniff'
    if request.method != 'GET':
        response.headers['Allow'] = 'GET'
        return _refuse(request, 405, error='use GET')
    if not _same_origin(request):
        return _refuse(request, 403, error='cross-site ticket requests are refused')
    userid = request.authenticated_userid
    if userid is None:
        return _refuse(request, 403, anonymous=True)
    authid = str(userid)
    if not authid.strip():
        return _refuse(request, 403, anonymous=True)
    if len(authid) > MAX_AUTHID_LENGTH or not authid.isprintable():
        return _refuse(request, 403, error='the user id cannot be a WAMP authid (empty, too '
                       'long or with control characters)')
    cookie_value = None
    cookie_name = settings['ticket_cookie']
    if cookie_name:
        cookie_value = request.cookies.get(cookie_name)
        if cookie_value is None:
            # e.g. a bearer-token login without the session cookie: the router
            # could never match the binding, so say so here
            return _refuse(request, 403, error='livehub.ticket_cookie is %r but the request '
                           'has no such cookie' % cookie_name)
    ticket = issue_ticket(settings['ticket_secret'], settings['realm'], authid,
                          role='user', principals=principals_of(request),
                          ttl=settings['ticket_ttl'], cookie_value=cookie_value,
                          grants=granted_patterns(request, settings))
    return {'authid': authid, 'ticket': ticket, 'realm': settings['realm'],
            'expires_in': settings['ticket_ttl']}
