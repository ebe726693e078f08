"""Live models: committed inserts/updates/deletes reach a real WAMP subscriber
through a real crossbar node, on SQLite and on the real PostgreSQL.

Every test makes its own tables (unique names) and its own topic, and drops
the tables at the end.
"""
import datetime

import pytest
import sqlalchemy as sa
import transaction
from sqlalchemy.orm import Session, sessionmaker

from pyramid_livehub import get_publisher
from pyramid_livehub.subscriber import Subscriber
from tests.support.models import Models
from tests.support.services import require_service

POSTGRES_URL = 'postgresql+psycopg2://postgres@127.0.0.1:5432/test'


@pytest.fixture(params=['sqlite', 'postgresql'])
def engine(request, tmp_path):
    """A real database engine: a SQLite file, or the shared PostgreSQL."""
    if request.param == 'sqlite':
        engine = sa.create_engine('sqlite:///%s' % (tmp_path / 'live.db'))
    else:
        require_service('127.0.0.1', 5432, 'PostgreSQL', 'service postgresql start')
        engine = sa.create_engine(POSTGRES_URL)
    yield engine
    engine.dispose()


@pytest.fixture
def models(engine):
    models = Models(engine)
    yield models
    models.drop()


@pytest.fixture
def live_app(config, models):
    """A configured app: both models live, on topics unique to this test."""
    prefix = 'test.live%s' % models.suffix
    config.include('pyramid_livehub')
    config.include('pyramid_livehub.models')
    config.add_livehub_model(models.Order, topic=prefix + '.order',
                             fields=['id', 'title', 'status'])
    config.add_livehub_model(models.User, topic=prefix + '.user', fields=['id', 'name'])
    config.commit()
    publisher = get_publisher(config.registry)
    yield prefix, publisher
    publisher.close(timeout=5)


@pytest.fixture
def events(live_app, router, router_raw_settings):
    """A real WAMP subscriber to everything under the test's topic prefix."""
    prefix, _ = live_app
    with Subscriber(router_raw_settings, prefix + '.', match='prefix') as subscriber:
        yield subscriber


def expect(events, count, timeout=10):
    received = events.collect(count, timeout=timeout)
    assert len(received) == count, 'expected %d events, got %r' % (count, received)
    return received


def expect_nothing_before_sentinel(events, models, live_app, session_factory):
    """Publish a sentinel change; it must be the very next event (nothing slipped in before)."""
    with session_factory() as session:
        session.add(models.User(name='sentinel', password_hash='x'))
        session.commit()
    event = events.get(timeout=10)
    assert event.topic.endswith('.user.created') and event.args[0]['name'] == 'sentinel', event


def test_insert_update_delete_publish_three_events_with_only_chosen_fields(
        models, live_app, events):
    prefix, _ = live_app
    with Session(models.engine) as session:
        order = models.Order(title='Tea', internal_note='margin 80%')
        session.add(order)
        session.commit()
        order_id = order.id
        order.status = 'paid'
        session.commit()
        session.delete(order)
        session.commit()

    created, updated, deleted = expect(events, 3)
    assert created.topic == prefix + '.order.created'
    assert created.args == [{'id': order_id, 'title': 'Tea', 'status': 'new'}]
    assert updated.topic == prefix + '.order.updated'
    assert updated.args == [{'id': order_id, 'title': 'Tea', 'status': 'paid'}]
    assert updated.kwargs == {'changed': ['status']}
    assert deleted.topic == prefix + '.order.deleted'
    assert deleted.args == [{'id': order_id, 'title': 'Tea', 'status': 'paid'}]


def test_database_generated_values_are_read_back_and_published_as_iso8601(
        config, models, router_raw_settings, router):
    config.include('pyramid_livehub')
    topic = 'test.stamped%s.order' % models.suffix
    config.add_livehub_model(models.Order, topic=topic, fields=['id', 'created_at'])
    config.commit()
    publisher = get_publisher(config.registry)
    try:
        with Subscriber(router_raw_settings, topic + '.created') as events:
            with Session(models.engine) as session:
                session.add(models.Order(title='stamped'))
                session.commit()
            (event,) = expect(events, 1)
    finally:
        publisher.close(5)
    stamp = datetime.datetime.fromisoformat(event.args[0]['created_at'])
    assert abs((stamp - datetime.datetime.now()).total_seconds()) < 24 * 3600


def test_password_hash_never_published_and_its_change_alone_publishes_nothing(
        models, live_app, events):
    with Session(models.engine) as session:
        user = models.User(name='ann', password_hash='pbkdf2$secret')
        session.add(user)
        session.commit()
        (created,) = expect(events, 1)
        assert created.args == [{'id': user.id, 'name': 'ann'}]
        assert 'pbkdf2' not in repr(created)
        user.password_hash = 'pbkdf2$other'
        session.commit()
    expect_nothing_before_sentinel(events, models, live_app, lambda: Session(models.engine))


def test_rollback_publishes_nothing(models, live_app, events):
    with Session(models.engine) as session:
        session.add(models.Order(title='never'))
        session.flush()  # the row reached the database, then the transaction is undone
        session.rollback()
    expect_nothing_before_sentinel(events, models, live_app, lambda: Session(models.engine))


def test_rolled_back_savepoint_publishes_nothing_but_released_one_publishes(
        models, live_app, events):
    with Session(models.engine) as session:
        savepoint = session.begin_nested()
        session.add(models.Order(title='undone'))
        session.flush()
        savepoint.rollback()
        with session.begin_nested():
            session.add(models.Order(title='kept'))
        session.commit()
    (event,) = expect(events, 1)
    assert event.topic.endswith('.order.created') and event.args[0]['title'] == 'kept'
    expect_nothing_before_sentinel(events, models, live_app, lambda: Session(models.engine))


def test_bulk_changes_in_one_transaction_publish_each_row_once(models, live_app, events):
    rows = 40
    with Session(models.engine) as session:
        orders = [models.Order(title='o%d' % i) for i in range(rows)]
        session.add_all(orders)
        session.flush()
        for order in orders:  # changed in two more flushes, committed once
            order.status = 'packed'
        session.flush()
        for order in orders:
            order.status = 'sent'
        session.commit()
        created = expect(events, rows)
        assert {e.topic.rsplit('.', 1)[1] for e in created} == {'created'}
        assert sorted(e.args[0]['id'] for e in created) == sorted(o.id for o in orders)
        assert {e.args[0]['status'] for e in created} == {'sent'}  # final values

        for order in orders:
            order.title = order.title.upper()
        session.flush()
        for order in orders:
            order.status = 'done'
        session.commit()
        updated = expect(events, rows)
        assert {e.topic.rsplit('.', 1)[1] for e in updated} == {'updated'}
        assert len({e.args[0]['id'] for e in updated}) == rows
        assert all(e.kwargs['changed'] == ['status', 'title'] for e in updated)

        for order in orders:
            session.delete(order)
        session.commit()
        deleted = expect(events, rows)
        assert len({e.args[0]['id'] for e in deleted}) == rows
        assert {e.topic.rsplit('.', 1)[1] for e in deleted} == {'deleted'}

        born_and_gone = models.Order(title='temp')
        session.add(born_and_gone)
        session.flush()
        session.delete(born_and_gone)
        session.commit()
    expect_nothing_before_sentinel(events, models, live_app, lambda: Session(models.engine))


# -- the usual Pyramid stack: pyramid_tm + zope.sqlalchemy ----------------------------

def add_tm_views(config, models):
    """Views that write through ``request.dbsession`` under pyramid_tm."""
    import zope.sqlalchemy
    factory = sessionmaker(bind=models.engine)

    def dbsession(request):
        session = factory()
        zope.sqlalchemy.register(session, transaction_manager=request.tm)
        return session

    def create(request):
        order = models.Order(title=request.params['title'])
        request.dbsession.add(order)
        request.dbsession.flush()
        if request.params.get('fail'):
            raise ValueError('payment declined')  # pyramid_tm aborts the transaction
        return {'id': order.id}

    def update_status(request):
        order = request.dbsession.get(models.Order, int(request.matchdict['id']))
        order.status = request.params['status']
        return {}

    config.add_settings({'tm.manager_hook': 'pyramid_tm.explicit_manager'})
    config.include('pyramid_tm')
    config.add_request_method(dbsession, 'dbsession', reify=True)
    config.add_route('create', '/orders')
    config.add_route('update', '/orders/{id}')
    config.add_view(create, route_name='create', renderer='json')
    config.add_view(update_status, route_name='update', renderer='json')
    config.add_view(lambda exc, request: {'error': str(exc)}, context=ValueError,
                    renderer='json')


def test_pyramid_tm_commit_publishes_and_abort_publishes_nothing(
        config, models, live_app, events, make_testapp):
    # pyramid_livehub is already in `config` (the live_app fixture included it).
    app = make_testapp(config=config, include=(),
                       configure=lambda config: add_tm_views(config, models))
    app.post('/orders', {'title': 'Declined', 'fail': '1'})
    order_id = app.post('/orders', {'title': 'Coffee'}).json['id']
    (created,) = expect(events, 1)
    assert created.args == [{'id': order_id, 'title': 'Coffee', 'status': 'new'}]
    app.post('/orders/%d' % order_id, {'status': 'paid'})
    (updated,) = expect(events, 1)
    assert updated.args[0]['status'] == 'paid'
    with Session(models.engine) as session:  # the declined order was rolled back
        assert session.scalar(sa.select(sa.func.count()).select_from(models.Order)) == 1
    expect_nothing_before_sentinel(events, models, live_app, lambda: Session(models.engine))


def test_zope_transaction_abort_in_a_script_publishes_nothing(models, live_app, events):
    import zope.sqlalchemy
    manager = transaction.TransactionManager(explicit=True)
    session = sessionmaker(bind=models.engine)()
    zope.sqlalchemy.register(session, transaction_manager=manager)
    with manager:
        session.add(models.Order(title='kept'))
    manager.begin()
    session.add(models.Order(title='aborted'))
    session.flush()
    manager.abort()
    session.close()
    (event,) = expect(events, 1)
    assert event.args[0]['title'] == 'kept'
    expect_nothing_before_sentinel(events, models, live_app, lambda: Session(models.engine))
