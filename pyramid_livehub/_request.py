"""``request.livehub``: the request's view of the publisher, with transactions."""
from typing import Any, Sequence

from pyramid_livehub._codec import prepare_event
from pyramid_livehub.interfaces import IPublisher, PublisherLike

#: A checked event waiting for the commit: ``(topic, args, kwargs)``.
_Pending = tuple[str, Sequence[Any], dict[str, Any]]


class RequestPublisher:
    """What ``request.livehub`` returns.

    ``publish()`` follows the request's transaction when pyramid_tm (or any
    ``request.tm``) is active: events go out after the commit, in the order
    they were published, and are dropped if the transaction aborts.  Without
    a transaction manager they go out at once.  Topic and payload are checked
    right away in both cases, so a mistake raises in the view.  It never
    waits for room in a full publisher queue (a slow router must not stall
    requests): past the bound, ``livehub.overflow`` applies, counted.
    """

    def __init__(self, request: Any, publisher: PublisherLike) -> None:
        self.request = request
        self.publisher = publisher
        self._pending: tuple[Any, list[_Pending]] | None = None

    def publish(self, topic: str, *args: Any, **kwargs: Any) -> None:
        """Publish after the transaction commits (or at once without one)."""
        payload, named = prepare_event(topic, args, kwargs, self.request,
                                       self.publisher.settings['serializer'])
        transaction = self._transaction()
        if transaction is None:
            self.publisher.enqueue(topic, payload, named, block=False)
            return
        if self._pending is None or self._pending[0] is not transaction:
            events: list[_Pending] = []
            self._pending = (transaction, events)
            transaction.addAfterCommitHook(self._after_commit, args=(events,))
        self._pending[1].append((topic, payload, named))

    def publish_immediately(self, topic: str, *args: Any, **kwargs: Any) -> None:
        """Publish now, whatever the transaction does later."""
        payload, named = prepare_event(topic, args, kwargs, self.request,
                                       self.publisher.settings['serializer'])
        self.publisher.enqueue(topic, payload, named, block=False)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until queued events reached the router (see ``Publisher.flush``)."""
        return self.publisher.flush(timeout)

    def history(self, topic: str, limit: int | None = None, since: int | None = None,
                timeout: float = 5.0) -> dict[str, Any]:
        """Events the router keeps for a ``livehub.history`` topic.

        ``since=None``: the newest ``limit`` events (all kept when ``limit`` is
        None); ``since=N``: the events after offset ``N``.  Returns
        ``{"epoch", "events": [{"offset", "args", "kwargs", "msgid", "time"}, ...],
        "complete", "first", "last"}``; ``complete`` is False when events after
        ``since`` are gone (trimmed, evicted, another epoch).  A WAMP call
        through the process's publisher session: raises
        :class:`~pyramid_livehub.publisher.HistoryNotEnabled` for a topic
        without history and ``TimeoutError`` after ``timeout`` seconds.
        Events the request published but did not commit yet are not there.
        """
        return self.publisher.history(topic, limit=limit, since=since, timeout=timeout)

    def position(self, topic: str, timeout: float = 5.0) -> dict[str, Any]:
        """``{"epoch", "offset"}`` of the newest event on a ``livehub.history`` topic.

        Render it into a page so that its client subscribes from there and
        misses nothing published between render and connect.  Raises like
        :meth:`history`.
        """
        return self.publisher.position(topic, timeout=timeout)

    @property
    def stats(self) -> dict[str, int]:
        """The publisher's counters as a dict."""
        counters: dict[str, int] = self.publisher.stats.as_dict()
        return counters

    def _transaction(self) -> Any:
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

    def _after_commit(self, committed: bool, events: list[_Pending]) -> None:
        if not committed:
            return
        for topic, args, kwargs in events:
            self.publisher.enqueue(topic, args, kwargs, block=False)


def livehub_for_request(request: Any) -> RequestPublisher:
    """Reified request method behind ``request.livehub``."""
    return RequestPublisher(request, request.registry.getUtility(IPublisher))
