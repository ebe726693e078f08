"""``livehub.*`` settings of live-topic security (tickets, topic rules, hardening).

:func:`check_security_settings` holds the checks that span several keys
(the ticket secret is required once auth is on); both the ticket view and
the router's auth components call it at start-up.
"""
from typing import Any, Mapping


from pyramid_livehub.security.rules import parse_rules
from pyramid_livehub.security.tickets import MIN_SECRET_LENGTH
from pyramid_livehub._parse import (Setting, as_bool, as_int, as_list, as_text,
                                    configuration_error)


def as_rules(value: Any) -> list[str]:
    """Topic rule list (validated), kept as a list of pattern strings."""
    words = as_list(value)
    parse_rules(words)
    return words


def as_permission_grants(value: Any) -> list[list[str]]:
    """``pattern=permission`` pairs, e.g. ``app.staff.**=view_staff``."""
    pairs = []
    for word in as_list(value):
        pattern, sep, permission = word.rpartition('=')
        if not sep or not pattern or not permission:
            raise ValueError('%r is not pattern=permission (e.g. app.staff.**=view_staff)' % word)
        rule = parse_rules([pattern])[0]
        if not rule.allow:
            raise ValueError('%r: a granted pattern cannot start with "!"' % word)
        pairs.append([pattern, permission])
    return pairs


def as_origins(value: Any) -> list[str]:
    """Allowed WebSocket origins: ``*`` or URL patterns such as ``https://*.example.com``."""
    origins = as_list(value)
    for origin in origins:
        if origin != '*' and '://' not in origin:
            raise ValueError('origin %r needs a scheme, e.g. https://example.com' % origin)
    return origins


#: Rows of the settings table (docs: security.rst, settings.rst).
SETTINGS: list[Setting] = [
    Setting('auth', False, as_bool,
            'Ticket auth for browsers: logged-in users get a ticket from `/livehub/ticket` '
            'and connect as role `user`; others connect as `anonymous`. Topic rules below '
            'are enforced by a dynamic authorizer in the router.'),
    Setting('ticket_secret', '', as_text(),
            'Shared HMAC secret of the app and the router for tickets; required (at least '
            '32 characters) when `livehub.auth` is on.'),
    Setting('ticket_ttl', 120, as_int(minimum=5, maximum=86400),
            'Seconds a ticket stays valid (livehub.js fetches a new one before every connect).'),
    Setting('ticket_cookie', '', as_text(),
            'Name of the session cookie (e.g. `auth_tkt`) a ticket is bound to; the router then '
            'only accepts the ticket on a WebSocket that carries the same cookie. Empty: no binding.'),
    Setting('subscribe_anonymous', 'demo.** app.** !app.user.**', as_rules,
            'Topic rules: what anonymous browsers may subscribe to (last matching pattern wins, '
            '`!` refuses; `*` one component, `**` one or more at the end).'),
    Setting('subscribe_user', 'demo.** app.** !app.user.** app.user.{authid}.**', as_rules,
            'Topic rules: what logged-in browsers may subscribe to; `{authid}` is their own id.'),
    Setting('subscribe_permissions', '', as_permission_grants,
            'Let the app decide with Pyramid permissions: `pattern=permission` pairs, e.g. '
            '`app.staff.**=view_staff`; a user whose ticket request passes '
            '`request.has_permission(permission)` may also subscribe to `pattern` (put into the '
            'signed ticket; it overrides `!` rules).'),
    Setting('publish_anonymous', '', as_rules,
            'Topic rules: what anonymous browsers may publish (default: nothing).'),
    Setting('publish_user', '', as_rules,
            'Topic rules: what logged-in browsers may publish (default: nothing), e.g. '
            '`client.chat.**`.'),
    Setting('call_anonymous', '', as_rules,
            'Procedure rules: what anonymous browsers may call (default: nothing).'),
    Setting('call_user', '', as_rules,
            'Procedure rules: what logged-in browsers may call (default: nothing).'),
    Setting('allowed_origins', '*', as_origins,
            'Origins allowed to open the browser WebSocket (`*` or e.g. `https://example.com '
            'https://*.example.com`).'),
    Setting('max_message_size', 65536, as_int(minimum=512, maximum=16 * 1024 * 1024),
            'Largest WebSocket message (bytes) the router accepts from a browser; bigger '
            'ones close that connection.'),
    Setting('max_subscriptions', 100, as_int(minimum=1),
            'Most subscriptions one browser session may hold (enforced when `livehub.auth` is on).'),
]


def check_security_settings(settings: Mapping[str, Any]) -> None:
    """Raise ``ConfigurationError`` if parsed ``settings`` cannot run with auth on."""
    if not settings.get('auth'):
        return
    secret = settings.get('ticket_secret', '')
    if not secret:
        raise configuration_error(
            'livehub.ticket_secret is required when livehub.auth is on; set it to a random '
            'value of at least %d characters (the same for the app and the router), e.g. from '
            '`python -c "import secrets; print(secrets.token_urlsafe(32))"`' % MIN_SECRET_LENGTH)
    if len(secret) < MIN_SECRET_LENGTH or len(set(secret)) < 8:
        raise configuration_error(
            'livehub.ticket_secret is too weak (%d characters, %d distinct); use at least %d '
            'random characters, e.g. from `python -c "import secrets; '
            'print(secrets.token_urlsafe(32))"`' % (len(secret), len(set(secret)), MIN_SECRET_LENGTH))
    if secret == settings.get('backend_secret'):
        raise configuration_error(
            'livehub.ticket_secret must differ from livehub.backend_secret: anyone who can '
            'sign tickets must not also be able to log in as the backend')


#: What the router's auth component gets: its rows and the keys it joins with
#: (it is embedded in the router, so no backend secret and no broker keys).
AUTH_COMPONENT_KEYS = [s.name for s in SETTINGS] + ['realm', 'backend_authid']
