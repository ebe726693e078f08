"""The one bounded queue of livehub, and the one rule for logging repeated losses.

:class:`BoundedQueue` holds what waits for a slower side: the publisher's
events waiting for the router, a bridge's messages waiting for WAMP or the
broker, a consumer's backlog.  When it is full it drops (and counts, and
logs at a limited rate) the oldest or the newest item, or refuses with
:class:`QueueFull`.

:func:`should_log` is the rate limit for every "this happened again" log
line (drops, refused topics, plugin failures): the first
:data:`LOG_FIRST` occurrences, then every :data:`LOG_EVERY`-th.
"""
import collections
import logging
import threading
import time
from typing import Any

__all__ = ['BoundedQueue', 'QueueFull', 'should_log', 'LOG_FIRST', 'LOG_EVERY']

#: Occurrences logged one by one before only every :data:`LOG_EVERY`-th is.
LOG_FIRST = 10
#: After the first :data:`LOG_FIRST`, one occurrence in this many is logged.
LOG_EVERY = 1000

OVERFLOW_POLICIES = ('drop_oldest', 'drop_newest', 'raise')


def should_log(count):
    """True when occurrence number ``count`` (1-based) of a repeated event is worth a log line."""
    return count <= LOG_FIRST or count % LOG_EVERY == 0


class QueueFull(Exception):
    """Raised by ``publish()`` when the queue is full and ``livehub.overflow = raise``."""


class BoundedQueue:
    """A thread-safe FIFO of at most ``bound`` items that counts what it drops.

    ``overflow`` says what a :meth:`put` into a full queue does:
    ``drop_oldest`` (make room), ``drop_newest`` (discard the new item) or
    ``raise`` (:class:`QueueFull`, nothing dropped).  Drops are counted in
    :attr:`dropped` and logged with :func:`should_log` as
    ``"<name> full (<bound>[; hint]): ..."`` on ``logger``, a
    :mod:`logging` logger or a txaio/Twisted one (``.warn``).
    """

    def __init__(self, bound, overflow='drop_oldest', name='livehub queue', logger=None,
                 hint=''):
        if overflow not in OVERFLOW_POLICIES:
            raise ValueError('overflow must be one of %s, got %r'
                             % (', '.join(OVERFLOW_POLICIES), overflow))
        self.bound = bound
        self.overflow = overflow
        self.name = name
        self.hint = hint
        self.logger = logger if logger is not None else logging.getLogger(__name__)
        #: items lost to the bound (by :meth:`put` and :meth:`put_back`)
        self.dropped = 0
        self._items: collections.deque[Any] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._closed = False
        self._releases = 0  # bumped by release_waiters(): ends every wait in put()

    def __len__(self):
        return len(self._items)

    def put(self, item, wait=0.0, may_wait=None):
        """Append ``item``; return True if an item (the oldest or this one) was dropped.

        ``wait`` > 0 first waits up to that many seconds for room (back-pressure:
        for durable bridges, whose broker keeps what they have not taken yet,
        and for the publisher outside a request); the drop's log line then
        says how long it waited.  ``may_wait()``, asked only when the queue is
        full (it is off the fast path), can veto the wait for this call.
        """
        with self._cond:
            items = self._items
            if len(items) >= self.bound:
                waited = None
                if wait and (may_wait is None or may_wait()):
                    releases, start = self._releases, time.monotonic()
                    self._cond.wait_for(
                        lambda: len(items) < self.bound or self._releases != releases, wait)
                    waited = time.monotonic() - start
                if len(items) >= self.bound:
                    if self.overflow == 'raise':
                        raise QueueFull('%s is full (%d%s)%s' % (
                            self.name, self.bound, self._hint(), _waited(waited)))
                    self._count_drops(1, waited)
                    if self.overflow == 'drop_newest':
                        return True
                    items.popleft()
                    items.append(item)
                    self._cond.notify()
                    return True
            items.append(item)
            self._cond.notify()
        return False

    def put_back(self, items):
        """Return unsent ``items`` to the front, in order; return how many did not fit (dropped)."""
        items = list(items)
        with self._cond:
            room = max(0, self.bound - len(self._items))
            keep = items[:room]
            self._items.extendleft(reversed(keep))
            lost = len(items) - len(keep)
            if lost:
                self._count_drops(lost)
            self._cond.notify()
        return lost

    def get_batch(self, limit, timeout=0.0):
        """Up to ``limit`` items, oldest first.

        Waits up to ``timeout`` seconds for the first one (0: not at all,
        None: until one comes or :meth:`close`); returns ``[]`` once closed.
        """
        with self._cond:
            if timeout != 0:
                self._cond.wait_for(lambda: self._items or self._closed, timeout)
            if self._closed:
                return []
            count = min(limit, len(self._items))
            batch = [self._items.popleft() for _ in range(count)]
            if batch:
                self._cond.notify_all()  # room for a waiting put()
            return batch

    def wake(self):
        """Wake every waiting ``get_batch``/``put`` (used when stopping)."""
        with self._cond:
            self._cond.notify_all()

    def release_waiters(self):
        """End every wait for room in :meth:`put` now (its item meets the overflow policy)."""
        with self._cond:
            self._releases += 1
            self._cond.notify_all()

    def close(self):
        """Make every ``get_batch`` return ``[]`` from now on; the items stay (not consumed)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def after_fork(self):
        """In a forked child: a fresh lock (the parent's may be held by a thread that is gone)."""
        self._cond = threading.Condition(threading.Lock())

    def _count_drops(self, count, waited=None):
        before, self.dropped = self.dropped, self.dropped + count
        # Log when any of the drops counted now passes should_log().
        if before < LOG_FIRST or self.dropped // LOG_EVERY > before // LOG_EVERY:
            text = '%s full (%d%s), %s dropped%s; %d dropped so far' % (
                self.name, self.bound, self._hint(),
                'newest' if self.overflow == 'drop_newest' else 'oldest', _waited(waited),
                self.dropped)
            if isinstance(self.logger, logging.Logger):
                self.logger.warning('%s', text)
            else:  # txaio / Twisted logger: the text is the value, not the format
                self.logger.warn('{text}', text=text)

    def _hint(self):
        return '; %s' % self.hint if self.hint else ''


def _waited(seconds):
    return '' if seconds is None else ' after waiting %.3gs for room' % seconds
