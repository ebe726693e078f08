"""A real Pyramid login for the browser auth tests: a signed auth_tkt cookie and ``/login``.

``configure_login(config)`` sets :class:`CookieSecurityPolicy`, includes the
real ticket view (``pyramid_livehub.security.views``) and adds
``/login?user=<id>`` and ``/logout``.
"""
from pyramid.authentication import AuthTktCookieHelper
from pyramid.authorization import Authenticated, Everyone


class CookieSecurityPolicy:
    """Pyramid 2 security policy: the user id is in a signed auth_tkt cookie."""

    def __init__(self):
        self.helper = AuthTktCookieHelper('cookie-secret-for-tests-only-0123456789')

    def identity(self, request):
        identity = self.helper.identify(request)
        return identity['userid'] if identity else None

    def authenticated_userid(self, request):
        return self.identity(request)

    def effective_principals(self, request):
        userid = self.identity(request)
        return [Everyone] + ([Authenticated, 'user:' + userid] if userid else [])

    def permits(self, request, context, permission):
        return True

    def remember(self, request, userid, **kw):
        return self.helper.remember(request, userid, **kw)

    def forget(self, request, **kw):
        return self.helper.forget(request, **kw)


def login_view(request):
    """``/login?user=alice``: sets the signed auth_tkt cookie (a real Pyramid login)."""
    from pyramid.security import remember
    request.response.headerlist.extend(remember(request, request.params['user']))
    request.response.text = 'logged in as %s' % request.params['user']
    return request.response


def logout_view(request):
    """``/logout``: drops the auth_tkt cookie."""
    from pyramid.security import forget
    request.response.headerlist.extend(forget(request))
    request.response.text = 'logged out'
    return request.response


def configure_login(config):
    """The security policy, the real ticket view, ``/login`` and ``/logout``."""
    config.set_security_policy(CookieSecurityPolicy())
    config.include('pyramid_livehub.security.views')
    config.add_route('login', '/login')
    config.add_view(login_view, route_name='login')
    config.add_route('logout', '/logout')
    config.add_view(logout_view, route_name='logout')
