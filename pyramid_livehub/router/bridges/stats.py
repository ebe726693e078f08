"""The thread-safe state of a bridge: bounded queues, counters, reconnect delays.

Kept apart from :mod:`pyramid_livehub.router.bridges.base` because it needs no
Twisted: tests and tools can use it without choosing txaio's framework.
"""
import collections
import random
import threading


class BridgeStats:
    """Counters of one bridge.

    ``received``: messages from the broker; ``published``: events published
    into WAMP; ``forwarded``: WAMP events taken for the broker; ``sent``:
    messages the broker accepted; ``dropped_inbound``/``dropped_outbound``:
    lost to a full queue; ``unmappable``: names refused by the topic mapping;
    ``echoes``: our own messages that came back, skipped;
    ``skipped_bridged``: WAMP events that came in through a bridge, not sent
    out again; ``errors``: other failures (logged); ``connects``: broker
    connections made; ``connected``: connected now.
    """

    COUNTERS = ('received', 'published', 'forwarded', 'sent', 'dropped_inbound',
                'dropped_outbound', 'unmappable', 'echoes', 'skipped_bridged', 'errors',
                'connects')

    #: Recent per-message delays kept for the percentiles.
    DELAY_SAMPLES = 2048

    def __init__(self):
        for name in self.COUNTERS:
            setattr(self, name, 0)
        self.connected = False
        self.last_error = ''
        self.delays = {'inbound': collections.deque(maxlen=self.DELAY_SAMPLES),
                       'outbound': collections.deque(maxlen=self.DELAY_SAMPLES)}

    def record_delay(self, direction, seconds):
        """Remember how long one message spent inside the bridge (``inbound``/``outbound``)."""
        self.delays[direction].append(seconds)

    def delay_ms(self, direction):
        """``{'p50': ms, 'p99': ms}`` of the recent delays in ``direction``, or None."""
        samples = sorted(self.delays[direction])
        if not samples:
            return None
        return {'p50': round(samples[len(samples) // 2] * 1000, 3),
                'p99': round(samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000, 3)}

    def as_dict(self):
        """The counters, ``connected``, ``last_error`` and the delay percentiles (ms)."""
        result = {name: getattr(self, name) for name in self.COUNTERS}
        result.update(connected=self.connected, last_error=self.last_error,
                      inbound_delay_ms=self.delay_ms('inbound'),
                      outbound_delay_ms=self.delay_ms('outbound'))
        return result

    def log_line(self):
        """``received=3 published=3 ...`` for the periodic log line."""
        return ' '.join('%s=%s' % (name, getattr(self, name))
                        for name in self.COUNTERS + ('connected',))


class BoundedQueue:
    """A thread-safe FIFO that drops its oldest item when full (the caller counts)."""

    def __init__(self, bound):
        self.bound = bound
        self._items = collections.deque()
        self._cond = threading.Condition()

    def __len__(self):
        return len(self._items)

    def put(self, item, wait=0.0):
        """Append ``item``; return True if the oldest item was dropped to make room.

        ``wait`` > 0 first waits up to that many seconds for room (back-pressure
        for durable bridges, whose broker keeps what they have not taken yet).
        """
        with self._cond:
            if wait and len(self._items) >= self.bound:
                self._cond.wait_for(lambda: len(self._items) < self.bound, wait)
            dropped = len(self._items) >= self.bound
            if dropped:
                self._items.popleft()
            self._items.append(item)
            self._cond.notify()
        return dropped

    def put_back(self, items):
        """Return unsent ``items`` to the front; return how many did not fit (dropped)."""
        with self._cond:
            room = max(0, self.bound - len(self._items))
            keep = list(items)[:room]
            self._items.extendleft(reversed(keep))
            self._cond.notify()
        return len(items) - len(keep)

    def get_batch(self, limit, timeout=None):
        """Up to ``limit`` items, waiting up to ``timeout`` seconds for the first one."""
        with self._cond:
            if not self._items and timeout:
                self._cond.wait(timeout)
            count = min(limit, len(self._items))
            batch = [self._items.popleft() for _ in range(count)]
            if batch:
                self._cond.notify_all()  # room for a waiting put()
            return batch

    def wake(self):
        """Wake a waiting ``get_batch`` (used when stopping)."""
        with self._cond:
            self._cond.notify_all()


class RetryDelays:
    """The reconnect policy (the core ``livehub.*retry*`` settings): growing, capped, jittered."""

    def __init__(self, settings):
        self.initial = settings['initial_retry_delay']
        self.maximum = settings['max_retry_delay']
        self.growth = settings['retry_delay_growth']
        self.jitter = settings['retry_delay_jitter']
        self.reset()

    def reset(self):
        """Start again from the initial delay (after a successful connection)."""
        self._next = self.initial

    def next(self):
        """Seconds to wait before the next attempt."""
        delay = self._next
        self._next = min(self.maximum, self._next * self.growth)
        return delay * (1 + random.uniform(0, self.jitter))
