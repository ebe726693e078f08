"""Who may read history (issue 12 item 7): the subscribe rules, through a real crossbar node.

Browsers (ticket users, anonymous clients) call ``livehub.history.fetch`` and
``position`` on the browser WebSocket like livehub.js does; the history
component refuses a topic the session may not subscribe to, says so, and
counts it.
"""
import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from autobahn.wamp.exception import ApplicationError

from pyramid_livehub.publisher import Publisher
from pyramid_livehub.router.process import RouterProcess
from pyramid_livehub.security import issue_ticket
from pyramid_livehub.settings import parse_settings
from pyramid_livehub.testing import join_as_browser
from tests.support.services import router_settings

SECRET = 'Hq7-rW2zK9xL4vB8nM1cT6yP3sD5fG0jA_uE'


def run(coro, timeout=30):
    with ThreadPoolExecutor(1, thread_name_prefix='history-client') as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(coro, timeout)).result()


def start(tmp_path_factory, name, **overrides):
    raw = router_settings(**dict({'livehub.history': 'app.** 100'}, **overrides))
    settings = parse_settings(raw)
    node = RouterProcess(settings, str(tmp_path_factory.mktemp(name)))
    node.start(timeout=40, wait_for_log='livehub history: ready')
    publisher = Publisher(settings)
    for topic in ('app.user.alice.notes', 'app.user.bob.notes', 'app.news'):
        publisher.publish(topic, {'secret': topic})
    assert publisher.flush(10)
    return node, publisher


@pytest.fixture(scope='module')
def secure_history_node(tmp_path_factory):
    node, publisher = start(tmp_path_factory, 'secure-history', **{
        'livehub.auth': 'true', 'livehub.ticket_secret': SECRET})
    yield node, publisher
    publisher.close(1)
    node.stop()


async def stats(publisher):
    async def call():
        return await publisher._background.session.call('livehub.history.stats')
    return await asyncio.wrap_future(publisher._background.submit(call()))


def test_a_user_reads_the_history_of_its_own_private_topic_but_not_another_users(
        secure_history_node):
    node, publisher = secure_history_node
    settings = node.settings

    async def scenario():
        ticket = issue_ticket(SECRET, settings['realm'], 'alice', ttl=60)
        alice = await join_as_browser(settings.browser_url, settings.realm, 'alice', ticket)
        own = await alice.call('livehub.history.fetch', 'app.user.alice.notes')
        public = await alice.call('livehub.history.position', 'app.news')
        refused_before = (await stats(publisher))['refused']
        errors = []
        for procedure, args in (('fetch', ('app.user.bob.notes',)),
                                ('fetch', ('app.user.bob.notes', 0, 10)),
                                ('position', ('app.user.bob.notes',))):
            try:
                await alice.call('livehub.history.' + procedure, *args)
            except ApplicationError as exc:
                errors.append(exc)
        refused_after = (await stats(publisher))['refused']
        anonymous = await join_as_browser(settings.browser_url, settings.realm)
        try:
            await anonymous.call('livehub.history.fetch', 'app.user.alice.notes')
        except ApplicationError as exc:
            errors.append(exc)
        alice.leave()
        anonymous.leave()
        return own, public, errors, refused_before, refused_after

    own, public, errors, refused_before, refused_after = run(scenario())
    assert [e['args'] for e in own['events']] == [[{'secret': 'app.user.alice.notes'}]]
    assert public['offset'] == 1
    assert len(errors) == 4
    for error in errors:
        assert error.error == 'livehub.history.not_authorized'
        assert 'may not subscribe to' in error.args[0]
        assert 'secret' not in repr(error.kwargs)
    assert refused_after - refused_before == 3


def test_without_auth_anonymous_browsers_read_public_history_but_not_user_topics(
        tmp_path_factory):
    node, publisher = start(tmp_path_factory, 'open-history')
    try:
        settings = node.settings

        async def scenario():
            anonymous = await join_as_browser(settings.browser_url, settings.realm)
            public = await anonymous.call('livehub.history.fetch', 'app.news')
            try:
                await anonymous.call('livehub.history.fetch', 'app.user.alice.notes')
            except ApplicationError as exc:
                refused = exc
            else:
                refused = None
            anonymous.leave()
            return public, refused

        public, refused = run(scenario())
        assert [e['args'] for e in public['events']] == [[{'secret': 'app.news'}]]
        assert refused is not None and refused.error == 'livehub.history.not_authorized'
    finally:
        publisher.close(1)
        node.stop()
