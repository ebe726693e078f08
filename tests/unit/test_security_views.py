"""The ticket view and the ``auth`` key of config.json, through a real Pyramid app (WebTest)."""
import random
import time

import pytest
from pyramid.authorization import Authenticated, Everyone
from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError

from pyramid_livehub.security import TicketError, verify_ticket
from tests.support.app import make_testapp

SECRET = 'pY4-tR8wQ2zX6cV1bN5mL9kJ3hG7fD0sA_eU'


class HeaderSecurityPolicy:
    """Pyramid 2 security policy for tests: the user is the ``X-User`` header."""

    def identity(self, request):
        return request.headers.get('X-User')

    def authenticated_userid(self, request):
        return self.identity(request)

    def effective_principals(self, request):
        userid = self.identity(request)
        principals = [Everyone]
        if userid:
            principals += [Authenticated, userid, 'group:staff']
        return principals

    def permits(self, request, context, permission):
        # only alice is staff
        return permission != 'view_staff' or self.identity(request) == 'alice'

    def remember(self, request, userid, **kw):
        return []

    def forget(self, request, **kw):
        return []


def make_app(**settings):
    raw = {'livehub.auth': 'true', 'livehub.ticket_secret': SECRET}
    raw.update(settings)
    return make_testapp(raw, include=['pyramid_livehub', 'pyramid_livehub.security.views'],
                        configure=lambda config: config.set_security_policy(HeaderSecurityPolicy()))


@pytest.fixture(scope='module')
def app():
    return make_app()


def test_logged_in_user_gets_a_ticket_for_their_identity_and_principals(app):
    response = app.get('/livehub/ticket', headers={'X-User': 'alice'})
    assert response.json['authid'] == 'alice'
    assert response.headers['Cache-Control'] == 'no-store'
    claims = verify_ticket(SECRET, response.json['ticket'], 'livehub', 'alice')
    assert claims.role == 'user'
    assert 'group:staff' in claims.principals
    assert claims.expires <= time.time() + 120 + 1


def test_pyramid_permissions_decide_the_granted_patterns():
    app = make_app(**{'livehub.subscribe_permissions': 'app.staff.**=view_staff demo.x.**=view'})
    alice = app.get('/livehub/ticket', headers={'X-User': 'alice'}).json['ticket']
    bob = app.get('/livehub/ticket', headers={'X-User': 'bob'}).json['ticket']
    assert verify_ticket(SECRET, alice, 'livehub').grants == ['app.staff.**', 'demo.x.**']
    assert verify_ticket(SECRET, bob, 'livehub').grants == ['demo.x.**']


def test_anonymous_user_gets_403_anonymous(app):
    response = app.get('/livehub/ticket', status=403)
    assert response.json == {'anonymous': True}


def test_cross_site_ticket_request_is_refused(app):
    app.get('/livehub/ticket', headers={'X-User': 'alice', 'Sec-Fetch-Site': 'cross-site'},
            status=403)
    app.get('/livehub/ticket', headers={'X-User': 'alice', 'Origin': 'http://evil.example'},
            status=403)
    ok = app.get('/livehub/ticket', headers={'X-User': 'alice', 'Sec-Fetch-Site': 'same-origin',
                                             'Origin': 'http://localhost'})
    assert ok.json['authid'] == 'alice'


def test_ticket_view_answers_get_only(app):
    app.post('/livehub/ticket', headers={'X-User': 'alice'}, status=405)


def test_config_json_tells_livehub_js_where_the_ticket_is(app):
    assert app.get('/livehub/config.json').json['auth'] == {
        'method': 'ticket', 'ticket_url': '/livehub/ticket'}


def test_including_the_views_twice_is_harmless():
    app = make_testapp({'livehub.auth': 'true', 'livehub.ticket_secret': SECRET},
                       include=['pyramid_livehub', 'pyramid_livehub.security.views',
                                'pyramid_livehub.security.views'],
                       configure=lambda config: config.set_security_policy(HeaderSecurityPolicy()))
    assert app.get('/livehub/ticket', headers={'X-User': 'zoe'}).json['authid'] == 'zoe'


def test_route_prefix_moves_the_ticket_view():
    app = make_app(**{'livehub.route_prefix': '/rt'})
    assert app.get('/rt/config.json').json['auth']['ticket_url'] == '/rt/ticket'
    assert app.get('/rt/ticket', headers={'X-User': 'bob'}).json['authid'] == 'bob'


def test_auth_off_has_no_ticket_view_and_no_auth_key():
    app = make_testapp({}, include=['pyramid_livehub', 'pyramid_livehub.security.views'])
    assert app.get('/livehub/config.json').json['auth'] is None
    app.get('/livehub/ticket', status=404)


@pytest.mark.parametrize('secret', [None, 'too-short'])
def test_auth_on_with_missing_or_weak_secret_fails_at_startup(secret):
    raw = {'livehub.auth': 'true'}
    if secret:
        raw['livehub.ticket_secret'] = secret
    config = Configurator(settings=raw)
    config.include('pyramid_livehub')
    config.include('pyramid_livehub.security.views')
    with pytest.raises(ConfigurationError, match='livehub.ticket_secret'):
        config.commit()


def test_cookie_bound_ticket_needs_the_session_cookie():
    app = make_app(**{'livehub.ticket_cookie': 'auth_tkt'})
    refused = app.get('/livehub/ticket', headers={'X-User': 'alice'}, status=403)
    assert 'auth_tkt' in refused.json['error']
    app.set_cookie('auth_tkt', 'session-1')
    ticket = app.get('/livehub/ticket', headers={'X-User': 'alice'}).json['ticket']
    assert verify_ticket(SECRET, ticket, 'livehub', cookie_header='auth_tkt=session-1',
                         cookie_name='auth_tkt').authid == 'alice'
    with pytest.raises(TicketError, match='another'):
        verify_ticket(SECRET, ticket, 'livehub', cookie_header='auth_tkt=session-2',
                      cookie_name='auth_tkt')


def test_fuzzed_ticket_requests_never_give_a_500(app):
    rng = random.Random(7)
    junk = ['', 'alice', '\u00e9\u00e8', 'a' * 3000, '../..', '%00', ' ', 'x\ty', '{authid}',
            'null', 'http://evil.example', 'same-origin', 'cross-site', 'none']
    headers_pool = ['X-User', 'Origin', 'Sec-Fetch-Site', 'Cookie', 'Accept', 'Host']
    deadline = time.monotonic() + 2.0
    count = 0
    while time.monotonic() < deadline:
        headers = {}
        for _ in range(rng.randint(0, 4)):
            value = rng.choice(junk)
            name = rng.choice(headers_pool)
            if name == 'Host' and not value.isalnum():
                continue
            try:
                value.encode('latin-1')
            except UnicodeEncodeError:
                continue
            headers[name] = value
        method = rng.choice(['GET', 'GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS'])
        query = '?' + rng.choice(junk).replace(' ', '+') if rng.random() < 0.3 else ''
        response = app.request('/livehub/ticket' + query, method=method, headers=headers,
                               expect_errors=True)
        assert response.status_int < 500, (method, headers, response.status)
        if response.status_int == 200 and method == 'GET':
            assert verify_ticket(SECRET, response.json['ticket'], 'livehub').authid == \
                headers['X-User']
        count += 1
    assert count > 100
