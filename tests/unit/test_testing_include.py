"""pyramid_livehub.testing: users test their own apps without a router."""
import pytest

from pyramid_livehub import get_publisher
from tests.support.app import make_testapp


def make_app(use_tm):
    def view(request):
        request.livehub.publish('app.orders.created', {'id': 1}, by='test')
        if request.params.get('fail'):
            raise RuntimeError('abort')
        return {}

    def configure(config):
        config.add_route('v', '/')
        config.add_view(view, route_name='v', renderer='json')
    include = ['pyramid_tm'] * use_tm + ['pyramid_livehub.testing']
    app = make_testapp({}, include=include, configure=configure)
    return app, get_publisher(app.app.registry)


def test_outbox_records_published_events():
    app, publisher = make_app(use_tm=False)
    app.get('/')
    (event,) = publisher.outbox
    assert event.topic == 'app.orders.created'
    assert event.args == [{'id': 1}]
    assert event.kwargs == {'by': 'test'}


def test_outbox_follows_the_transaction():
    app, publisher = make_app(use_tm=True)
    with pytest.raises(RuntimeError):
        app.get('/?fail=1')
    assert publisher.outbox == []
    app.get('/')
    assert len(publisher.outbox) == 1


def test_recording_publisher_still_checks_input():
    _, publisher = make_app(use_tm=False)
    with pytest.raises(ValueError):
        publisher.publish('bad topic', 1)
