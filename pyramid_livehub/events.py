"""Publishing through Pyramid's event system: ``registry.notify(LiveEvent(...))``."""
from typing import Any

from pyramid.threadlocal import get_current_request

from pyramid_livehub.interfaces import IPublisher


class LiveEvent:
    """A Pyramid event that pyramid_livehub publishes as a WAMP event.

    ``request.registry.notify(LiveEvent('app.orders.created', order))`` is
    the same as ``request.livehub.publish('app.orders.created', order)``:
    inside a request it waits for the transaction; outside one it publishes
    at once.  Subscribers of your own may inspect or change ``topic``,
    ``args`` and ``kwargs`` before it goes out (register them for
    ``LiveEvent`` too).
    """

    def __init__(self, topic: str, *args: Any, **kwargs: Any) -> None:
        self.topic = topic
        self.args = args
        self.kwargs = kwargs


def publish_live_event(event: LiveEvent) -> None:
    """Subscriber for :class:`LiveEvent`: hands it to the request's or the process's publisher."""
    request = get_current_request()
    if request is not None and getattr(request, 'registry', None) is not None:
        request.livehub.publish(event.topic, *event.args, **event.kwargs)
        return
    from pyramid.threadlocal import get_current_registry
    publisher = get_current_registry().getUtility(IPublisher)
    publisher.publish(event.topic, *event.args, **event.kwargs)
