"""Live models: committed inserts/updates/deletes reach a real WAMP subscriber
through a real crossbar node, on SQLite and on the real PostgreSQL.

Every test makes its own tables (unique names) and its own topic, and drops
the tables at the end.
"""
import datetime
import queue
import uuid

import pytest
import sqlalchemy as sa
import transaction
from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from pyramid_livehub import get_publisher
from pyramid_livehub.subscriber import Subscriber

from conftest import require_service

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


class Models:
    """Fresh mapped classes on tables with unique names (so runs never collide)."""

    def __init__(self, engine):
        suffix = uuid.uuid4().hex[:10]
        self.suffix = suffix

        class Base(DeclarativeBase):
            pass

        class Order(Base):
            __tablename__ = 'live_orders_%s' % suffix
            id: Mapped[int] = mapped_column(primary_key=True)
            title: Mapped[str] = mapped_column(sa.String(80))
            status: Mapped[str] = mapped_column(sa.String(20), default='new')
            internal_note: Mapped[str] = mapped_column(sa.String(80), default='')
            created_at: Mapped[datetime.datetime] = mapped_column(
                sa.DateTime, server_default=sa.func.current_timestamp())

        class User(Base):
            __tablename__ = 'live_users_%s' % suffix
            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str] = mapped_column(sa.String(80))
            password_hash: Mapped[str] = mapped_column(sa.String(200))

        self.Base, self.Order, self.User = Base, Order, User
        self.engine = engine
        Base.metadata.create_all(engine)

    def drop(self):
        self.Base.metadata.drop_all(self.engine)


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
    with pytest.raises(queue.Empty):
        events.get(timeout=0.3)


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

def make_tm_app(config, models):
    """A tiny app whose views write through ``request.dbsession`` under pyramid_tm."""
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
    return config.make_wsgi_app()


def test_pyramid_tm_commit_publishes_and_abort_publishes_nothing(
        config, models, live_app, events):
    import webtest
    app = webtest.TestApp(make_tm_app(config, models))
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


# -- configuration errors and defaults (no router needed) ----------------------------

@pytest.fixture
def recording_config():
    config = Configurator(settings={}, autocommit=False)
    config.include('pyramid_livehub.testing')
    config.include('pyramid_livehub.models')
    return config


@pytest.fixture
def sqlite_models():
    models = Models(sa.create_engine('sqlite://'))
    yield models
    models.drop()


def test_default_topic_is_prefix_and_snake_case_name_and_default_fields_are_the_primary_key(
        sqlite_models):
    class OrderLine(sqlite_models.Base):
        __tablename__ = 'order_lines_%s' % sqlite_models.suffix
        id: Mapped[int] = mapped_column(primary_key=True)
        secret: Mapped[str] = mapped_column(sa.String(20))

    config = Configurator(settings={'livehub.model_topic_prefix': 'shop.live'}, autocommit=False)
    config.include('pyramid_livehub.testing')
    config.include('pyramid_livehub.models')
    config.add_livehub_model(OrderLine)
    config.commit()
    sqlite_models.Base.metadata.create_all(sqlite_models.engine)
    with Session(sqlite_models.engine) as session:
        session.add(OrderLine(secret='s3cret'))
        session.commit()
    outbox = get_publisher(config.registry).outbox
    assert [(e.topic, e.args) for e in outbox] == [('shop.live.order_line.created', [{'id': 1}])]


def test_unknown_field_is_refused_with_a_suggestion(recording_config, sqlite_models):
    with pytest.raises(ConfigurationError, match=r"no field 'titel'.*Did you mean 'title'"):
        recording_config.add_livehub_model(sqlite_models.Order, fields=['id', 'titel'])


def test_fields_given_as_one_string_is_refused(recording_config, sqlite_models):
    with pytest.raises(ConfigurationError, match=r"list of attribute names"):
        recording_config.add_livehub_model(sqlite_models.Order, fields='id title')


def test_unmapped_class_is_refused(recording_config):
    class NotMapped:
        id = 1
    with pytest.raises(ConfigurationError, match='not a mapped SQLAlchemy class'):
        recording_config.add_livehub_model(NotMapped)


def test_bad_topic_is_refused(recording_config, sqlite_models):
    with pytest.raises(ConfigurationError, match='not a valid WAMP topic'):
        recording_config.add_livehub_model(sqlite_models.Order, topic='app..orders')


def test_live_model_without_pyramid_livehub_included_names_the_fix(sqlite_models):
    config = Configurator(settings={}, autocommit=False)
    config.include('pyramid_livehub.models')
    config.add_livehub_model(sqlite_models.Order)
    with pytest.raises(ConfigurationError, match=r"config.include\('pyramid_livehub'\)"):
        config.commit()


def test_unserializable_field_value_raises_naming_the_model_and_the_fix(sqlite_models):
    class Weird(sqlite_models.Base):
        __tablename__ = 'weird_%s' % sqlite_models.suffix
        id: Mapped[int] = mapped_column(primary_key=True)

        @property
        def thing(self):
            return object()

    config = Configurator(settings={}, autocommit=False)
    config.include('pyramid_livehub.testing')
    config.include('pyramid_livehub.models')
    config.add_livehub_model(Weird, fields=['id', 'thing'])
    config.commit()
    sqlite_models.Base.metadata.create_all(sqlite_models.engine)
    with Session(sqlite_models.engine) as session:
        session.add(Weird())
        with pytest.raises(TypeError, match=r'live model Weird: .*thing.*__json__'):
            session.commit()


def test_actions_limit_what_is_published(sqlite_models):
    config = Configurator(settings={}, autocommit=False)
    config.include('pyramid_livehub.testing')
    config.include('pyramid_livehub.models')
    config.add_livehub_model(sqlite_models.Order, fields=['id', 'title'], actions=['deleted'])
    config.commit()
    with Session(sqlite_models.engine) as session:
        order = sqlite_models.Order(title='x')
        session.add(order)
        session.commit()
        order.title = 'y'
        session.commit()
        session.delete(order)
        session.commit()
    outbox = get_publisher(config.registry).outbox
    assert [(e.topic, e.args) for e in outbox] == [('app.order.deleted', [{'id': 1, 'title': 'y'}])]
