"""Live models: configuration errors and defaults, checked on SQLite with the recording publisher."""
import pytest
import sqlalchemy as sa
from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError
from sqlalchemy.orm import Mapped, Session, mapped_column

from pyramid_livehub import get_publisher
from tests.support.models import Models


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
