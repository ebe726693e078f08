"""Unit tests of the pure security logic: tickets, topic rules, settings, authorizer."""
import base64
import json
import random
import subprocess
import sys
import time

import pytest
from pyramid.exceptions import ConfigurationError

from pyramid_livehub.router.auth import TopicAuthorizer, auth_components, browser_websocket
from pyramid_livehub.router.node_config import render_node_config
from pyramid_livehub.security import TicketError, issue_ticket, parse_rules, rules_allow, verify_ticket
from pyramid_livehub.security.tickets import cookie_from_header
from pyramid_livehub.security.settings import check_security_settings
from pyramid_livehub.settings import parse_settings

SECRET = 'k3Jx9-vQ2mZ8rT5wYb1nC7hL4pF6sD0gA_eU'
OTHER_SECRET = 'Zq8W2eR4tY6uI0oP1aS3dF5gH7jK9lXcVbNm'


def refusal(**kwargs):
    with pytest.raises(TicketError) as info:
        verify_ticket(**kwargs)
    return info.value.reason


# -- tickets -------------------------------------------------------------------

def test_ticket_round_trip_carries_authid_role_and_principals():
    ticket = issue_ticket(SECRET, 'livehub', 'alice', principals=['group:editors'], ttl=60)
    claims = verify_ticket(SECRET, ticket, 'livehub', 'alice')
    assert claims.authid == 'alice'
    assert claims.role == 'user'
    assert claims.principals == ['group:editors']
    assert claims.expires > time.time()


def test_ticket_without_claimed_authid_takes_the_tickets_authid():
    ticket = issue_ticket(SECRET, 'livehub', 'alice')
    assert verify_ticket(SECRET, ticket, 'livehub', None).authid == 'alice'


def test_ticket_carries_the_grants_of_the_app():
    ticket = issue_ticket(SECRET, 'livehub', 'alice', grants=['admin.**'])
    assert verify_ticket(SECRET, ticket, 'livehub').grants == ['admin.**']
    assert verify_ticket(SECRET, issue_ticket(SECRET, 'livehub', 'bob'), 'livehub').grants == []


def test_ticket_with_the_most_principals_the_view_copies_still_verifies():
    from pyramid_livehub.security.views import MAX_PRINCIPALS
    principals = ['p%03d' % n + 'x' * 124 for n in range(MAX_PRINCIPALS)]
    ticket = issue_ticket(SECRET, 'livehub', 'a' * 255, principals=principals)
    assert verify_ticket(SECRET, ticket, 'livehub').principals == principals


def test_oversize_ticket_is_refused_before_any_work():
    assert 'too long' in refusal(secret=SECRET, ticket='lh1.' + 'a' * 20000 + '.x',
                                 realm='livehub')


def test_forged_ticket_is_refused_as_bad_signature():
    ticket = issue_ticket(OTHER_SECRET, 'livehub', 'alice')
    assert 'bad signature' in refusal(secret=SECRET, ticket=ticket, realm='livehub')


def test_altered_claims_are_refused_as_bad_signature():
    version, body, signature = issue_ticket(SECRET, 'livehub', 'alice').split('.')
    claims = json.loads(base64.urlsafe_b64decode(body + '=' * (-len(body) % 4)))
    claims['sub'] = 'admin'
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b'=').decode()
    ticket = '.'.join([version, forged_body, signature])
    assert 'bad signature' in refusal(secret=SECRET, ticket=ticket, realm='livehub')


def test_expired_ticket_is_refused_with_its_age():
    ticket = issue_ticket(SECRET, 'livehub', 'alice', ttl=10, now=time.time() - 100)
    assert 'expired' in refusal(secret=SECRET, ticket=ticket, realm='livehub')


def test_ticket_for_another_realm_is_refused():
    ticket = issue_ticket(SECRET, 'other', 'alice')
    reason = refusal(secret=SECRET, ticket=ticket, realm='livehub')
    assert "realm 'other'" in reason


def test_empty_ticket_is_refused():
    assert refusal(secret=SECRET, ticket='', realm='livehub') == 'empty ticket'
    assert refusal(secret=SECRET, ticket=None, realm='livehub') == 'empty ticket'


def test_ticket_used_under_another_authid_is_refused():
    ticket = issue_ticket(SECRET, 'livehub', 'alice')
    assert 'claimed' in refusal(secret=SECRET, ticket=ticket, realm='livehub', authid='bob')


def test_cookie_bound_ticket_needs_the_same_cookie():
    ticket = issue_ticket(SECRET, 'livehub', 'alice', cookie_value='sess-1')
    ok = verify_ticket(SECRET, ticket, 'livehub', cookie_header='a=b; auth_tkt=sess-1',
                       cookie_name='auth_tkt')
    assert ok.authid == 'alice'
    assert 'another' in refusal(secret=SECRET, ticket=ticket, realm='livehub',
                                cookie_header='auth_tkt=sess-2', cookie_name='auth_tkt')
    assert 'did not carry' in refusal(secret=SECRET, ticket=ticket, realm='livehub',
                                      cookie_header=None, cookie_name='auth_tkt')


def test_cookie_from_header_finds_the_named_cookie_only():
    assert cookie_from_header('x=1; auth_tkt="v 2"; y=3', 'auth_tkt') == 'v 2'
    assert cookie_from_header('auth_tktx=1', 'auth_tkt') is None
    assert cookie_from_header(None, 'auth_tkt') is None


def test_issue_ticket_refuses_an_empty_authid_or_secret():
    with pytest.raises(ValueError):
        issue_ticket(SECRET, 'livehub', '')
    with pytest.raises(ValueError):
        issue_ticket('', 'livehub', 'alice')


def test_random_tickets_are_refused_with_a_reason_never_a_crash():
    rng = random.Random(5)
    good = issue_ticket(SECRET, 'livehub', 'alice')
    alphabet = 'abcXYZ019._-=+/ \x00\u00e9{}"'
    deadline = time.monotonic() + 2.0
    tried = 0
    while time.monotonic() < deadline:
        if rng.random() < 0.5:
            chars = list(good)
            for _ in range(rng.randint(1, 4)):
                chars[rng.randrange(len(chars))] = rng.choice(alphabet)
            candidate = ''.join(chars)
        else:
            candidate = ''.join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        if candidate == good:
            continue
        with pytest.raises(TicketError) as info:
            verify_ticket(SECRET, candidate, 'livehub')
        assert info.value.reason
        tried += 1
    assert tried > 1000


# -- topic rules ---------------------------------------------------------------

USER_RULES = parse_rules('demo.** app.** !app.user.** app.user.{authid}.**')


@pytest.mark.parametrize('uri, match, authid, allowed', [
    ('app.orders.created', 'exact', None, True),
    ('demo.ticks', 'exact', None, True),
    ('other.topic', 'exact', None, False),
    ('app.user.bob.notice', 'exact', 'bob', True),
    ('app.user.bob.notice', 'exact', 'eve', False),
    ('app.user.bob.notice', 'exact', None, False),
    ('app.user.bob', 'exact', 'bob', False),
    ('app.', 'prefix', None, False),            # would receive app.user.*
    ('app.orders.', 'prefix', None, True),
    ('app.user.bob.', 'prefix', 'bob', True),
    ('app.user.bob', 'prefix', 'bob', False),   # also app.user.bobby.*
    ('app.us', 'prefix', 'bob', False),
    ('app.orders', 'prefix', None, True),       # app.ordersx.* is public too
    ('app.u', 'prefix', None, False),           # would receive app.user.*
    ('', 'prefix', None, False),
    ('demo..x', 'wildcard', None, True),
    ('app..x', 'wildcard', None, False),
    ('app.user..x', 'wildcard', 'bob', False),
    ('app.user.bob..x', 'wildcard', 'bob', True),
])
def test_user_rules_allow_public_and_own_topics_only(uri, match, authid, allowed):
    assert rules_allow(USER_RULES, uri, match, authid) is allowed


def test_middle_star_matches_exactly_one_component():
    rules = parse_rules('app.*.created')
    assert rules_allow(rules, 'app.orders.created')
    assert not rules_allow(rules, 'app.orders.x.created')
    assert not rules_allow(rules, 'app.orders.updated')


def test_authid_that_is_not_one_uri_component_never_matches():
    assert not rules_allow(USER_RULES, 'app.user.a.b.x', 'exact', 'a.b')


def test_empty_rules_allow_nothing():
    assert not rules_allow([], 'app.x')


@pytest.mark.parametrize('bad', ['app..x', 'app.{user}', '!', 'app.**.x', 'app.#', '**'])
def test_bad_patterns_are_a_configuration_error_naming_the_key(bad):
    with pytest.raises(ConfigurationError) as info:
        parse_settings({'livehub.subscribe_user': 'demo.** ' + bad})
    assert 'livehub.subscribe_user' in str(info.value)


@pytest.mark.parametrize('old, new', [('app.*', 'app.**'), ('!app.user.*', 'app.user.**'),
                                      ('app.user.{authid}.*', 'app.user.{authid}.**')])
def test_old_trailing_star_in_rules_is_refused_with_the_new_spelling(old, new):
    with pytest.raises(ConfigurationError) as info:
        parse_settings({'livehub.subscribe_anonymous': 'demo.** ' + old})
    message = str(info.value)
    assert 'livehub.subscribe_anonymous' in message and 'write %s' % new in message


def test_double_star_matches_one_or_more_components_at_the_end():
    rules = parse_rules('app.**')
    assert rules_allow(rules, 'app.orders')
    assert rules_allow(rules, 'app.orders.created')
    assert not rules_allow(rules, 'app')
    assert rules_allow(rules, 'app.orders.', 'prefix')


# -- settings ------------------------------------------------------------------

def auth_settings(**extra):
    raw = {'livehub.auth': 'true', 'livehub.ticket_secret': SECRET}
    raw.update(extra)
    return parse_settings(raw)


def test_auth_on_without_secret_is_a_startup_error():
    with pytest.raises(ConfigurationError, match='ticket_secret is required'):
        parse_settings({'livehub.auth': 'true'})


@pytest.mark.parametrize('weak', ['short', 'a' * 40, 'abcabcabcabcabcabcabcabcabcabcabcabc'])
def test_weak_secret_is_a_startup_error(weak):
    with pytest.raises(ConfigurationError, match='too weak'):
        auth_settings(**{'livehub.ticket_secret': weak})


def test_ticket_secret_equal_to_backend_secret_is_refused():
    with pytest.raises(ConfigurationError, match='must differ'):
        auth_settings(**{'livehub.backend_secret': SECRET})


def test_auth_off_needs_no_secret():
    check_security_settings(parse_settings({}))
    assert auth_components(parse_settings({})) == []


def test_subscribe_permissions_are_pattern_permission_pairs():
    parsed = parse_settings({'livehub.subscribe_permissions': 'admin.**=admin app.staff.**=view_staff'})
    assert parsed.subscribe_permissions == [['admin.**', 'admin'], ['app.staff.**', 'view_staff']]
    for bad in ('admin.**', '=admin', '!admin.**=admin', 'ad..min=x', 'admin.*=admin'):
        with pytest.raises(ConfigurationError, match='livehub.subscribe_permissions'):
            parse_settings({'livehub.subscribe_permissions': bad})


def test_origins_need_a_scheme():
    with pytest.raises(ConfigurationError, match='allowed_origins'):
        parse_settings({'livehub.allowed_origins': 'example.com'})


# -- node config ---------------------------------------------------------------

def test_default_node_keeps_per_user_topics_and_meta_api_closed_to_anonymous():
    node = render_node_config(parse_settings({}))
    roles = {r['name']: r for r in node['workers'][0]['realms'][0]['roles']}
    permissions = {p['uri']: p['allow'] for p in roles['anonymous']['permissions']}
    assert permissions['']['subscribe'] and not permissions['']['publish']
    assert not permissions['app.user.']['subscribe']
    assert not permissions['wamp.']['subscribe']
    assert browser_websocket(node)['options']['max_message_size'] == 65536


def test_auth_node_uses_ticket_authenticator_and_dynamic_authorizer():
    node = render_node_config(auth_settings(**{
        'livehub.allowed_origins': 'https://example.com', 'livehub.max_message_size': '4096'}))
    websocket = browser_websocket(node)
    assert websocket['auth']['ticket'] == {
        'type': 'dynamic', 'authenticator': 'livehub.auth.authenticate'}
    assert websocket['auth']['anonymous']['role'] == 'anonymous'
    assert websocket['options']['allowed_origins'] == ['https://example.com:443']
    assert websocket['options']['allow_null_origin'] is False
    assert websocket['options']['max_message_size'] == 4096
    roles = {r['name']: r for r in node['workers'][0]['realms'][0]['roles']}
    assert roles['anonymous'] == {'name': 'anonymous', 'authorizer': 'livehub.auth.authorize'}
    assert roles['user'] == {'name': 'user', 'authorizer': 'livehub.auth.authorize'}
    assert roles['backend']['permissions'][0]['allow']['publish']
    backend = [t for t in node['workers'][0]['transports'] if t['id'] == 'backend'][0]
    assert list(backend['auth']) == ['wampcra']
    # embedded in the router worker (no network hop per join/subscribe), as backend
    component = {c['id']: c for c in node['workers'][0]['components']}['livehub_auth']
    assert component['classname'] == 'pyramid_livehub.router.auth.component.LivehubAuthComponent'
    assert component['role'] == 'backend'
    assert component['extra']['settings']['ticket_secret'] == SECRET
    # only the keys it uses: no backend secret, no broker password
    assert 'backend_secret' not in component['extra']['settings']
    assert not [key for key in component['extra']['settings'] if key.startswith(('amqp', 'mqtt', 'stomp'))]


CHECK_SCRIPT = '''
import json, sys
from crossbar.personality import Personality
for config in json.load(sys.stdin):
    Personality.check_config(Personality, config)
print('ok')
'''


def test_rendered_auth_node_passes_crossbar_checkconfig():
    # in a subprocess: crossbar imports Twisted, the tests use Autobahn on asyncio
    configs = [render_node_config(auth_settings(**{'livehub.allowed_origins': 'https://a.example'})),
               render_node_config(parse_settings({}))]
    result = subprocess.run([sys.executable, '-c', CHECK_SCRIPT], input=json.dumps(configs),
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().endswith('ok'), result.stderr[-2000:]


def test_origin_patterns_spell_out_the_default_port():
    from pyramid_livehub.router.auth import origin_patterns
    assert origin_patterns(['*', 'http://a.example', 'https://*.b.example/', 'http://c:8080',
                            'http://127.0.0.1:*']) == [
        '*', 'http://a.example:80', 'https://*.b.example:443', 'http://c:8080',
        'http://127.0.0.1:*']


# -- authorizer ----------------------------------------------------------------

def session(role='user', authid='bob', method='ticket', session_id=1):
    return {'authrole': role, 'authid': authid, 'authmethod': method, 'session': session_id}


def test_authorizer_refuses_browser_publish_by_default_and_allows_configured_topics():
    authorizer = TopicAuthorizer(auth_settings(**{'livehub.publish_user': 'client.chat.**'}))
    assert not authorizer.decide(session(), 'app.orders.created', 'publish', {})[0]
    assert authorizer.decide(session(), 'client.chat.room1', 'publish', {})[0]
    assert not authorizer.decide(session('anonymous', 'x', 'anonymous'),
                                 'client.chat.room1', 'publish', {})[0]


def test_authorizer_ignores_authid_rules_for_anonymous_sessions():
    authorizer = TopicAuthorizer(auth_settings(**{
        'livehub.subscribe_anonymous': 'app.user.{authid}.**'}))
    allowed, _ = authorizer.decide(session('anonymous', 'bob', 'anonymous'),
                                   'app.user.bob.x', 'subscribe', {'match': 'exact'})
    assert not allowed


def test_authorizer_adds_the_tickets_grants_for_ticket_sessions_only():
    authorizer = TopicAuthorizer(auth_settings())
    granted = dict(session(), authextra={'grants': ['admin.**', '!app.**', 'bad..x']})
    assert authorizer.decide(granted, 'admin.reports', 'subscribe', {})[0]
    assert authorizer.decide(granted, 'app.orders', 'subscribe', {})[0]    # "!" grants ignored
    assert not authorizer.decide(granted, 'admin.reports', 'publish', {})[0]
    assert not authorizer.decide(session(), 'admin.reports', 'subscribe', {})[0]
    # an anonymous client writes its own authextra: never trusted
    forged = dict(session('anonymous', 'x', 'anonymous'), authextra={'grants': ['admin.**']})
    assert not authorizer.decide(forged, 'admin.reports', 'subscribe', {})[0]


def test_authorizer_refuses_register_and_unknown_roles():
    authorizer = TopicAuthorizer(auth_settings())
    assert not authorizer.decide(session(), 'app.x', 'register', {})[0]
    assert not authorizer.decide(session('backend'), 'app.x', 'subscribe', {})[0]


def test_authorizer_limits_subscriptions_per_session_and_frees_them():
    now = [0.0]
    authorizer = TopicAuthorizer(auth_settings(**{'livehub.max_subscriptions': '2'}),
                                 clock=lambda: now[0])
    bob = session(session_id=7)
    assert authorizer.decide(bob, 'app.a', 'subscribe', {})[0]
    assert authorizer.decide(bob, 'app.b', 'subscribe', {})[0]
    allowed, reason = authorizer.decide(bob, 'app.c', 'subscribe', {})
    assert not allowed and 'max_subscriptions' in reason
    authorizer.subscribed(7, 100)
    authorizer.subscribed(7, 101)
    now[0] = 60.0
    assert not authorizer.decide(bob, 'app.c', 'subscribe', {})[0]
    authorizer.unsubscribed(7, 100)
    assert authorizer.decide(bob, 'app.c', 'subscribe', {})[0]
    authorizer.left(7)
    assert 7 not in authorizer.subscriptions
    # another session has its own budget
    assert authorizer.decide(session(session_id=8), 'app.a', 'subscribe', {})[0]


# -- one pattern language: rules, consumers and bridges agree --------------------

@pytest.mark.parametrize('pattern, topic', [
    ('app.*.created', 'app.orders.created'), ('app.*.created', 'app.orders.x.created'),
    ('app.**', 'app'), ('app.**', 'app.a'), ('app.**', 'app.a.b'), ('app.*', 'app.a'),
    ('app.*', 'app.a.b'), ('a.b', 'a.b'), ('a.b', 'a.bc'),
])
def test_a_pattern_means_the_same_for_rules_consumers_and_the_matcher(pattern, topic):
    from pyramid_livehub.patterns import parse_pattern
    from pyramid_livehub.plugins import subscription_for, topic_matches
    expected = parse_pattern(pattern).matches(topic)
    assert topic_matches(*subscription_for(pattern), topic) is expected
    if not pattern.endswith('.*'):     # a trailing * is refused in rules (old meaning)
        assert rules_allow(parse_rules(pattern), topic) is expected
