"""The counters of a bridge (:class:`BridgeStats`).

Kept apart from :mod:`pyramid_livehub.router.bridges.base` because it needs no
Twisted: tests and tools can use it without choosing txaio's framework.  The
bridge's queues are :class:`pyramid_livehub._queue.BoundedQueue` and its
reconnect delays :class:`pyramid_livehub._retry.RetryPolicy`, as everywhere in livehub.
"""
import collections


class BridgeStats:
    """Counters of one bridge.

    ``received``: messages from the broker; ``published``: events published
    into WAMP; ``forwarded``: WAMP events taken for the broker; ``sent``:
    messages the broker accepted; ``dropped_inbound``/``dropped_outbound``:
    lost to a full queue; ``unmappable``: names refused by the topic mapping;
    ``echoes``: our own messages that came back, skipped;
    ``skipped_bridged``: WAMP events that came in through a bridge, not sent
    out again; ``errors``: other failures (logged); ``connects``: broker
    connections made; ``connected``: connected now.  ``history``: the
    counters of the bridge's way into the history component (events on
    ``livehub.history`` topics; see
    :class:`~pyramid_livehub.router.history_forward.HistoryForwarder`), also
    counted in ``published``, ``errors`` and ``dropped_inbound``.
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
        #: callable returning the history forwarder's counters (set by the bridge)
        self.history = None
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
                      outbound_delay_ms=self.delay_ms('outbound'),
                      history=self.history() if self.history is not None else None)
        return result

    def log_line(self):
        """``received=3 published=3 ...`` for the periodic log line."""
        line = ' '.join('%s=%s' % (name, getattr(self, name))
                        for name in self.COUNTERS + ('connected',))
        if self.history is not None:
            counters = self.history()
            if counters['positioned'] or counters['waiting'] or counters['failed']:
                line += ' ' + ' '.join('history_%s=%s' % item for item in counters.items())
        return line
