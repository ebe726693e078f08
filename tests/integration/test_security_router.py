"""Ticket auth, topic rules and hardening through a real crossbar node.

The clients here are Autobahn sessions on the browser WebSocket, doing what
livehub.js does (WAMP-Ticket with a ticket the app issued, or anonymous);
the backend side is the real :class:`~pyramid_livehub.publisher.Publisher`
and :class:`~pyramid_livehub.subscriber.Subscriber` over WAMP-CRA.
"""
import asyncio
import base64
import os
import random
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from benchmarks.stuck_clients import RawWampClient
from pyramid_livehub.publisher import Publisher
from pyramid_livehub.router.auth import READY_MESSAGE
from pyramid_livehub.router.process import RouterProcess
from pyramid_livehub.security import issue_ticket
from pyramid_livehub.settings import parse_settings
from pyramid_livehub.subscriber import Subscriber
from pyramid_livehub.testing import JoinRefused, join_as_browser

from tests.support.bridges import wait_for_log
from tests.support.services import router_settings

SECRET = 'Hq7-rW2zK9xL4vB8nM1cT6yP3sD5fG0jA_uE'
#: How many fuzzed joins and procedure calls (counts, not seconds: a busy machine does fewer).
FUZZ_JOINS, FUZZ_CALLS = 25, 60


def run(coro, timeout=30):
    """Run ``coro`` on a fresh event loop in a thread of its own.

    Not in the test's thread: a sync Playwright of the browser tests keeps an
    event loop running there for the whole session.
    """
    with ThreadPoolExecutor(1, thread_name_prefix='security-client') as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(coro, timeout)).result()


@pytest.fixture(scope='module')
def secure_node(tmp_path_factory):
    """A node with auth on, browser publish allowed on ``client.*``, small limits."""
    raw = router_settings(**{
        'livehub.auth': 'true',
        'livehub.ticket_secret': SECRET,
        'livehub.publish_user': 'client.**',
        'livehub.max_subscriptions': '5',
        'livehub.max_message_size': '2048',
        'livehub.allowed_origins': 'http://127.0.0.1:* http://good.example',
    })
    settings = parse_settings(raw)
    node = RouterProcess(settings, str(tmp_path_factory.mktemp('secure-router')))
    node.start(wait_for_log=READY_MESSAGE)
    node.raw_settings = raw
    yield node
    node.stop()


@pytest.fixture(scope='module')
def publisher(secure_node):
    publisher = Publisher(secure_node.settings)
    yield publisher
    publisher.close(2)


def ticket_for(node, authid, **kwargs):
    settings = node.settings
    return issue_ticket(settings['ticket_secret'], kwargs.pop('realm', settings['realm']),
                        authid, ttl=kwargs.pop('ttl', 60), **kwargs)


async def next_event(session, topic, publish, match='exact', timeout=30):
    """Subscribe, then call ``publish()`` until an event arrives; return its args."""
    from autobahn.wamp.types import SubscribeOptions
    received = asyncio.get_running_loop().create_future()

    def on_event(*args, **kwargs):
        if not received.done():
            received.set_result(list(args))

    await session.subscribe(on_event, topic, options=SubscribeOptions(match=match))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.get_running_loop().run_in_executor(None, publish)
        try:
            return await asyncio.wait_for(asyncio.shield(received), 0.5)
        except asyncio.TimeoutError:
            continue
    raise AssertionError('no event on %r within %ss' % (topic, timeout))


def publish_and_flush(publisher, topic, payload):
    def publish():
        publisher.publish(topic, payload)
        assert publisher.flush(30)
    return publish


# -- who gets in ---------------------------------------------------------------

def test_logged_in_client_receives_its_private_topic(secure_node, publisher):
    async def scenario():
        settings = secure_node.settings
        alice = await join_as_browser(settings.browser_url, settings.realm, 'alice',
                                      ticket_for(secure_node, 'alice', principals=['group:staff']))
        assert alice._authid == 'alice' and alice._authrole == 'user'
        args = await next_event(alice, 'app.user.alice.notice',
                                publish_and_flush(publisher, 'app.user.alice.notice', {'hi': 1}))
        assert args == [{'hi': 1}]
        alice.leave()
    run(scenario())
    assert wait_for_log(secure_node, ["accepted ticket of 'alice'"], timeout=30)


def test_anonymous_client_connects_and_receives_public_topics(secure_node, publisher):
    async def scenario():
        settings = secure_node.settings
        anonymous = await join_as_browser(settings.browser_url, settings.realm)
        assert anonymous._authrole == 'anonymous'
        args = await next_event(anonymous, 'demo.ticks',
                                publish_and_flush(publisher, 'demo.ticks', 7))
        assert args == [7]
        anonymous.leave()
    run(scenario())


def assert_not_authorized(coro):
    from autobahn.wamp.exception import ApplicationError
    with pytest.raises(ApplicationError) as info:
        run(coro)
    assert info.value.error == 'wamp.error.not_authorized'


def test_anonymous_client_cannot_subscribe_to_a_private_topic(secure_node):
    async def scenario():
        settings = secure_node.settings
        anonymous = await join_as_browser(settings.browser_url, settings.realm)
        try:
            await anonymous.subscribe(lambda *a: None, 'app.user.alice.notice')
        finally:
            anonymous.leave()
    assert_not_authorized(scenario())
    assert wait_for_log(secure_node, ["refused subscribe 'app.user.alice.notice'"], timeout=30)


def test_user_cannot_subscribe_to_another_users_topic(secure_node):
    async def scenario():
        settings = secure_node.settings
        bob = await join_as_browser(settings.browser_url, settings.realm, 'bob',
                                    ticket_for(secure_node, 'bob'))
        try:
            await bob.subscribe(lambda *a: None, 'app.user.alice.notice')
        finally:
            bob.leave()
    assert_not_authorized(scenario())


def test_prefix_subscription_that_would_include_private_topics_is_refused(secure_node):
    async def scenario():
        from autobahn.wamp.types import SubscribeOptions
        settings = secure_node.settings
        bob = await join_as_browser(settings.browser_url, settings.realm, 'bob',
                                    ticket_for(secure_node, 'bob'))
        try:
            await bob.subscribe(lambda *a: None, 'app.', options=SubscribeOptions(match='prefix'))
        finally:
            bob.leave()
    assert_not_authorized(scenario())


@pytest.mark.parametrize('name, make_ticket, reason', [
    ('forged', lambda node: issue_ticket('x' * 8 + SECRET[8:], node.settings.realm, 'mallory'),
     'bad signature'),
    ('expired', lambda node: ticket_for(node, 'mallory', ttl=5, now=time.time() - 60), 'expired'),
    ('other realm', lambda node: ticket_for(node, 'mallory', realm='elsewhere'),
     "ticket is for realm 'elsewhere'"),
    ('empty', lambda node: '', 'empty ticket'),
    ('garbage', lambda node: 'lh1.%%%.***', 'bad signature'),
])
def test_bad_ticket_is_refused_with_the_reason_in_the_router_log(secure_node, name, make_ticket,
                                                                  reason):
    settings = secure_node.settings
    with pytest.raises(JoinRefused) as info:
        run(join_as_browser(settings.browser_url, settings.realm, 'mallory',
                            make_ticket(secure_node)))
    assert info.value.reason == 'livehub.error.ticket_refused'
    assert reason in info.value.message
    assert wait_for_log(secure_node, [reason], timeout=30), secure_node.log_tail()


def test_ticket_used_under_another_authid_is_refused(secure_node):
    settings = secure_node.settings
    with pytest.raises(JoinRefused) as info:
        run(join_as_browser(settings.browser_url, settings.realm, 'admin',
                            ticket_for(secure_node, 'bob')))
    assert 'claimed' in info.value.message


def test_backend_transport_refuses_anonymous_clients(secure_node):
    # The router answers with a refusal (a plain timeout would prove nothing).
    reason, message = run(join_anonymously(secure_node.settings.router_url,
                                           secure_node.settings.realm))
    assert reason == 'wamp.error.no_auth_method', (reason, message)


async def join_anonymously(url, realm):
    """Join ``realm`` at the rawsocket ``url`` anonymously: ('joined', None) or (reason, message)."""
    from autobahn.asyncio.rawsocket import WampRawSocketClientFactory
    from autobahn.asyncio.wamp import ApplicationSession
    from autobahn.wamp.types import ComponentConfig
    loop = asyncio.get_running_loop()
    outcome = loop.create_future()

    class Anonymous(ApplicationSession):
        def onConnect(self):
            self.join(realm, authmethods=['anonymous'])

        def onJoin(self, details):
            if not outcome.done():
                outcome.set_result(('joined', None))
            self.leave()

        def onLeave(self, details):
            if not outcome.done():
                outcome.set_result((details.reason, details.message))
            self.disconnect()

        def onDisconnect(self):
            if not outcome.done():
                outcome.set_result(('disconnected', None))

    parts = urlsplit(url)
    factory = WampRawSocketClientFactory(lambda: Anonymous(ComponentConfig(realm)))
    transport, _ = await loop.create_connection(factory, parts.hostname, parts.port)
    try:
        return await asyncio.wait_for(outcome, 30)
    finally:
        transport.close()


# -- what they may do ----------------------------------------------------------

def test_grants_in_the_ticket_open_extra_topics_for_that_user_only(secure_node):
    async def scenario():
        from autobahn.wamp.exception import ApplicationError
        settings = secure_node.settings
        dana = await join_as_browser(settings.browser_url, settings.realm, 'dana',
                                     ticket_for(secure_node, 'dana', grants=['admin.**']))
        await dana.subscribe(lambda *a: None, 'admin.reports')
        dana.leave()
        erin = await join_as_browser(settings.browser_url, settings.realm, 'erin',
                                     ticket_for(secure_node, 'erin'))
        with pytest.raises(ApplicationError):
            await erin.subscribe(lambda *a: None, 'admin.reports')
        erin.leave()
    run(scenario())


def test_anonymous_client_cannot_grant_itself_topics_with_authextra(secure_node):
    async def scenario():
        from autobahn.asyncio.wamp import ApplicationSession
        from autobahn.asyncio.websocket import WampWebSocketClientFactory
        from autobahn.wamp.types import ComponentConfig
        settings = secure_node.settings
        loop = asyncio.get_running_loop()
        joined = loop.create_future()

        class Sneaky(ApplicationSession):
            def onConnect(self):
                self.join(settings.realm, authmethods=['anonymous'], authid='dana',
                          authextra={'grants': ['admin.**', 'app.user.**']})

            def onJoin(self, details):
                joined.set_result(self)

        parts = urlsplit(settings.browser_url)
        factory = WampWebSocketClientFactory(lambda: Sneaky(ComponentConfig(settings.realm)),
                                             url=settings.browser_url)
        await loop.create_connection(factory, parts.hostname, parts.port)
        sneaky = await asyncio.wait_for(joined, 10)
        try:
            await sneaky.subscribe(lambda *a: None, 'admin.reports')
        finally:
            sneaky.leave()
    assert_not_authorized(scenario())


def test_browser_publish_to_a_server_topic_is_refused(secure_node):
    async def scenario():
        from autobahn.wamp.types import PublishOptions
        settings = secure_node.settings
        alice = await join_as_browser(settings.browser_url, settings.realm, 'alice',
                                      ticket_for(secure_node, 'alice'))
        try:
            await alice.publish('app.orders.created', 'fake', options=PublishOptions(acknowledge=True))
        finally:
            alice.leave()
    assert_not_authorized(scenario())


def test_anonymous_publish_is_refused_by_default(secure_node):
    async def scenario():
        from autobahn.wamp.types import PublishOptions
        settings = secure_node.settings
        anonymous = await join_as_browser(settings.browser_url, settings.realm)
        try:
            await anonymous.publish('client.chat', 'x', options=PublishOptions(acknowledge=True))
        finally:
            anonymous.leave()
    assert_not_authorized(scenario())


def test_browser_publish_to_an_allowed_client_topic_is_delivered(secure_node):
    with Subscriber(secure_node.settings, 'client.chat.room1') as backend:
        async def scenario():
            from autobahn.wamp.types import PublishOptions
            settings = secure_node.settings
            alice = await join_as_browser(settings.browser_url, settings.realm, 'alice',
                                          ticket_for(secure_node, 'alice'))
            await alice.publish('client.chat.room1', 'hello',
                                options=PublishOptions(acknowledge=True))
            alice.leave()
        run(scenario())
        assert backend.get(30).args == ['hello']


def test_subscriptions_per_session_are_limited(secure_node):
    async def scenario():
        from autobahn.wamp.exception import ApplicationError
        settings = secure_node.settings
        carol = await join_as_browser(settings.browser_url, settings.realm, 'carol',
                                      ticket_for(secure_node, 'carol'))
        for n in range(5):
            await carol.subscribe(lambda *a: None, 'app.limit.%d' % n)
        with pytest.raises(ApplicationError):
            await carol.subscribe(lambda *a: None, 'app.limit.5')
        carol.leave()
    run(scenario())
    assert wait_for_log(secure_node, ['livehub.max_subscriptions'], timeout=30)


def test_unsubscribing_frees_room_under_the_subscription_limit(secure_node):
    """The authorizer follows the router's meta events, not only its own answers."""
    async def scenario():
        from autobahn.wamp.exception import ApplicationError
        settings = secure_node.settings
        dave = await join_as_browser(settings.browser_url, settings.realm, 'dave',
                                     ticket_for(secure_node, 'dave'))
        subscriptions = [await dave.subscribe(lambda *a: None, 'app.free.%d' % n)
                         for n in range(5)]
        await subscriptions[0].unsubscribe()
        # Refused until the on_unsubscribe meta event reaches the authorizer: try until then.
        deadline = time.monotonic() + 30
        while True:
            try:
                await dave.subscribe(lambda *a: None, 'app.free.5')
                break
            except ApplicationError:
                assert time.monotonic() < deadline, 'no room freed within 30 s'
                await asyncio.sleep(0.1)
        dave.leave()
    run(scenario())


def test_websocket_from_a_foreign_origin_is_refused(secure_node):
    settings = secure_node.settings
    for origin in ('http://evil.example', 'null'):
        status = handshake_status(settings.browser_url, origin)
        assert not status.startswith(b'HTTP/1.1 101'), (origin, status)
    assert handshake_status(settings.browser_url, 'http://good.example').startswith(
        b'HTTP/1.1 101')
    assert run(_join_and_leave(settings, origin='http://good.example')) == 'anonymous'


async def _join_and_leave(settings, origin):
    session = await join_as_browser(settings.browser_url, settings.realm, origin=origin)
    role = session._authrole
    session.leave()
    return role


# -- malformed and oversize input ------------------------------------------------

def websocket_handshake(url, origin=None):
    """Open a raw TCP socket and send a WAMP WebSocket handshake; return (sock, status line)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    request = ('GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
               'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n'
               'Sec-WebSocket-Protocol: wamp.2.json\r\n%s\r\n'
               % (parts.path, parts.hostname, parts.port, key,
                  'Origin: %s\r\n' % origin if origin else ''))
    sock.sendall(request.encode())
    response = b''
    while b'\r\n\r\n' not in response:
        chunk = sock.recv(4096)
        if not chunk:
            break
        response += chunk
    return sock, response.split(b'\r\n')[0]


def handshake_status(url, origin):
    sock, status = websocket_handshake(url, origin)
    sock.close()
    return status


def raw_websocket(url):
    """A raw TCP socket after a WAMP WebSocket handshake (no library in between)."""
    sock, status = websocket_handshake(url)
    assert b' 101 ' in status, status
    return sock


def frame(payload, opcode=0x1, mask=True):
    """One WebSocket frame (client frames are masked)."""
    header = bytes([0x80 | opcode])
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        header += bytes([mask_bit | length])
    elif length < 65536:
        header += bytes([mask_bit | 126]) + struct.pack('!H', length)
    else:
        header += bytes([mask_bit | 127]) + struct.pack('!Q', length)
    if not mask:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def closed_by_router(sock, timeout=30.0):
    """True when the router sends a close frame or drops the connection."""
    sock.settimeout(timeout)
    data = b''
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
            data += chunk
            if data[:1] == b'\x88' or b'\x88' in data[:2]:
                return True
    except socket.timeout:
        return False
    except OSError:
        return True
    finally:
        sock.close()


@pytest.mark.parametrize('name, payload', [
    ('not json', frame(b'\xff\xfe{{{ not json')),
    ('unmasked frame', frame(b'[1,"livehub",{}]', mask=False)),
    ('reserved opcode', frame(b'abc', opcode=0x3)),
    ('random bytes', bytes(random.Random(3).getrandbits(8) for _ in range(300))),
])
def test_malformed_frame_closes_that_connection_only(secure_node, publisher, name, payload):
    async def scenario():
        settings = secure_node.settings
        watcher = await join_as_browser(settings.browser_url, settings.realm)
        loop = asyncio.get_running_loop()

        def attack():
            sock = raw_websocket(settings.browser_url)
            sock.sendall(payload)
            return closed_by_router(sock)

        assert await loop.run_in_executor(None, attack), name
        args = await next_event(watcher, 'demo.after.' + name.replace(' ', '_'),
                                publish_and_flush(publisher, 'demo.after.' + name.replace(' ', '_'),
                                                  name))
        assert args == [name]
        watcher.leave()
    run(scenario())
    assert secure_node.process.poll() is None


def test_oversize_message_from_a_joined_session_gets_1009_and_60kb_passes(private_router):
    node = private_router()  # the default livehub.max_message_size: 65536
    client = RawWampClient(node.settings.browser_url, node.settings.realm)
    try:
        client.join()  # a proper HELLO with roles: refusals below are about size only
        # 60 KB is read and answered (browsers may not publish: an ERROR, not a close)
        client.send([16, 7, {'acknowledge': True}, 'demo.big', ['x' * 60000]])
        reply = client.read_message()
        assert reply is not None and reply[:3] == [8, 16, 7], reply
        client.send([16, 8, {'acknowledge': True}, 'demo.big', ['x' * 200000]])
        code, reason = client.close_code() or (None, 'no close frame')
        assert code == 1009, (code, reason)
    finally:
        client.close()


# -- fuzz ----------------------------------------------------------------------

def test_fuzzed_tickets_and_authenticator_calls_never_crash_the_router(secure_node):
    """Random tickets over the wire and random arguments to the auth procedures."""
    rng = random.Random(11)
    settings = secure_node.settings
    good = ticket_for(secure_node, 'alice')

    def mutate():
        chars = list(good)
        for _ in range(rng.randint(1, 6)):
            chars[rng.randrange(len(chars))] = rng.choice('aZ09._-=\x00{}')
        return ''.join(chars)

    async def scenario():
        joined = refused = 0
        for _ in range(FUZZ_JOINS):
            candidate = mutate() if rng.random() < 0.6 else ''.join(
                chr(rng.randint(1, 0x2FF)) for _ in range(rng.randint(0, 300)))
            try:
                session = await join_as_browser(settings.browser_url, settings.realm,
                                                rng.choice([None, 'alice', 'x' * 300]), candidate)
                session.leave()
                joined += 1
            except JoinRefused:
                refused += 1
        assert joined == 0 and refused == FUZZ_JOINS

    run(scenario())

    # random arguments straight to the authenticator and authorizer procedures
    calls, errors = _fuzz_procedures(settings, rng, calls=FUZZ_CALLS)
    assert calls == FUZZ_CALLS and errors >= 1
    # still serving
    async def still_alive():
        alice = await join_as_browser(settings.browser_url, settings.realm, 'alice', good)
        alice.leave()
    run(still_alive())
    assert secure_node.process.poll() is None


def _fuzz_procedures(settings, rng, calls):
    """Call the auth procedures ``calls`` times with random arguments; (calls made, errors).

    Every call must end in an error or an ``allow: False``.
    """
    from autobahn.wamp.exception import ApplicationError

    from pyramid_livehub._session import run_with_session
    from pyramid_livehub.settings import LivehubSettings

    values = [None, 0, -1, 2 ** 70, 1.5, '', 'x' * 5000, [], {}, {'ticket': 1},
              {'transport': 'bad'}, {'transport': {'http_headers_received': {'cookie': 5}}},
              {'authrole': 'user', 'authid': None, 'authmethod': 'ticket'}, ['a', {'b': []}]]
    result = {'errors': 0, 'calls': 0, 'done': False}

    async def fuzz(session):
        for _ in range(calls):
            result['calls'] += 1
            procedure = rng.choice(['livehub.auth.authenticate', 'livehub.auth.authorize'])
            args = [rng.choice(values) for _ in range(rng.randint(0, 5))]
            try:
                answer = await session.call(procedure, *args)
                if procedure.endswith('authorize'):
                    assert answer['allow'] is False, (args, answer)
                else:
                    raise AssertionError('authenticated with %r' % (args,))
            except ApplicationError:
                result['errors'] += 1
        result['done'] = True

    # JSON, so that integers beyond 64 bits reach the router (msgpack refuses them here)
    run_with_session(LivehubSettings(settings, serializer='json'), fuzz, timeout=150, name='fuzz')
    assert result['done']
    return result['calls'], result['errors']
