"""``request.livehub``: the request's view of the publisher, with transactions."""
from pyramid_livehub.codec import prepare_event
from pyramid_livehub.interfaces import IPublisher


class RequestPublisher:
    """What ``request.livehub`` returns.

    ``publish()`` follows the request's transaction when pyramid_tm (or any
    ``request.tm``) is active: events go out after the commit, in the order
    they were published, and are dropped if the transaction aborts.  Without
    a transaction manager they go out at once.  Topic and payload are checked
    right away in both cases, so a mistake raises in the view.
    """

    def __init__(self, request, publisher):
        self.request = request
        self.publisher = publisher
        self._pending = None

    def publish(self, topic, *args, **kwargs):
        """Publish after the transaction commits (or at once without one)."""
        args, kwargs = prepare_event(topic, args, kwargs, self.request)
        transaction = self._transaction()
        if transaction is None:
            self.publisher.enqueue(topic, args, kwargs)
            return
        if self._pending is None or self._pending[0] is not transaction:
            events = []
            self._pending = (transaction, events)
            transaction.addAfterCommitHook(self._after_commit, args=(events,))
        self._pending[1].append((topic, args, kwargs))

    def publish_immediately(self, topic, *args, **kwargs):
        """Publish now, whatever the transaction does later."""
        args, kwargs = prepare_event(topic, args, kwargs, self.request)
        self.publisher.enqueue(topic, args, kwargs)

    def flush(self, timeout=5.0):
        """Wait until queued events reached the router (see ``Publisher.flush``)."""
        return self.publisher.flush(timeout)

    @property
    def stats(self):
        """The publisher's counters as a dict."""
        return self.publisher.stats.as_dict()

    def _transaction(self):
        if not self.publisher.settings['transactional']:
            return None
        manager = getattr(self.request, 'tm', None)
        if manager is None:
            return None
        try:
            transaction = manager.get()
        except Exception:  # NoTransaction in explicit mode outside a begin()
            return None
        if not getattr(transaction, 'status', 'Active') == 'Active':
            return None
        return transaction

    def _after_commit(self, committed, events):
        if not committed:
            return
        for topic, args, kwargs in events:
            self.publisher.enqueue(topic, args, kwargs)


def livehub_for_request(request):
    """Reified request method behind ``request.livehub``."""
    return RequestPublisher(request, request.registry.getUtility(IPublisher))
