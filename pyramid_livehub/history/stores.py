"""History stores: where the events of history-enabled topics are kept.

Both stores have one interface and pass the same tests:

* :class:`MemoryStore` -- in the router's container worker.  Bounded per
  topic (size, age) and in number of topics (the topic written longest ago
  is evicted first, counted as ``evicted_topics``).  Its epoch is a random id
  per process start, so a router restart starts every stream over.
* :class:`RedisStore` -- Redis streams (one per topic, entry id
  ``<offset>-0``), the offset counter (``INCR``) and the epoch kept in Redis:
  a router restart keeps the same epoch and offsets, and several router nodes
  can share one Redis.  A batch of appends is one Lua script per topic
  (dedupe, ``XADD`` each event, ``INCRBY`` the counter once, trim by size
  with ``MAXLEN ~`` and by age once), so it stays atomic when several nodes
  write and costs one round trip for the whole batch.

Positions and results are plain dicts (they travel over WAMP as they are):

* position: ``{"epoch": str, "offset": int}``; ``offset`` is 1 for a topic's
  first event and 0 for a topic with no events yet;
* fetch result: ``{"epoch", "events": [{"offset", "args", "kwargs", "msgid",
  "time"}...], "complete", "first", "last"}``, see :meth:`HistoryStore.fetch`.

Stores are synchronous; :attr:`HistoryStore.blocking` says whether a call may
wait on the network (the router component then runs it off the reactor).
"""
import collections
import time
import uuid
from typing import Any, Sequence

import msgpack

from pyramid_livehub.history.settings import HistoryRules, Retention, redis_url_and_prefix

#: One event to append: ``(topic, args, kwargs, msgid)``.
Item = tuple[str, Sequence[Any] | None, dict | None, str | None]

#: Message ids remembered per store to drop a resend (memory store: count).
DEDUPE_WINDOW = 100000
#: Message ids remembered per topic (Redis store): the newest this many of the
#: topic's events; covers a publisher's unacknowledged events (livehub.queue_size).
DEDUPE_TOPIC_WINDOW = 10000
#: Seconds a topic's message ids outlive its last event (Redis store).
DEDUPE_SECONDS = 600


class NoHistory(LookupError):
    """The topic has no history (no ``livehub.history`` line matches it)."""

    def __init__(self, topic):
        super().__init__('topic %r keeps no history; add a line for it to livehub.history '
                         '(e.g. "%s 1000 3600")' % (topic, topic))
        self.topic = topic


def new_epoch() -> str:
    """A fresh random epoch id."""
    return uuid.uuid4().hex[:16]


class HistoryStore:
    """The interface of the stores (see the module docstring).

    ``rules`` is a :class:`~pyramid_livehub.history.settings.HistoryRules`:
    it says which topics keep history, and how much.
    """

    #: Name of the store in counters and logs.
    kind = ''
    #: True if calls may wait on the network (run them off the reactor).
    blocking = False

    def __init__(self, rules: HistoryRules) -> None:
        self.rules = rules
        self.appended = 0
        self.trimmed = 0
        self.duplicates = 0
        self.evicted_topics = 0

    def retention(self, topic: str) -> Retention:
        """The topic's retention; raises :class:`NoHistory` when it keeps none."""
        retention = self.rules.retention(topic)
        if retention is None:
            raise NoHistory(topic)
        return retention

    def append(self, topic: str, args: Sequence[Any] | None, kwargs: dict | None,
               msgid: str | None = None) -> dict[str, Any]:
        """Store one event; return ``{"epoch", "offset", "duplicate"}``.

        A ``msgid`` seen before (a resend after a lost connection) is not
        stored again: the result is the original position with
        ``duplicate`` True.
        """
        return self.append_many([(topic, args, kwargs, msgid)])[0]

    def append_many(self, items: Sequence[Item]) -> list[dict[str, Any]]:
        """Store ``[(topic, args, kwargs, msgid), ...]`` in order; a list of results."""
        raise NotImplementedError

    def fetch(self, topic: str, since: int | None = None, limit: int | None = None,
              epoch: str | None = None) -> dict[str, Any]:
        """Events of ``topic`` after offset ``since`` (the newest ``limit`` if None).

        Returns ``{"epoch", "events", "complete", "first", "last"}``:
        ``last`` is the newest offset given out, ``first`` the oldest offset
        still held (``last + 1`` when none is), ``events`` at most ``limit``
        events in offset order.  ``complete`` is False when the store cannot
        cover ``since``: events after it were trimmed or evicted, the caller's
        ``epoch`` is not the topic's, or ``since`` is beyond ``last``; in the
        last two cases the events are the newest ``limit``, as without
        ``since``.
        """
        retention = self.retention(topic)
        current, events, first, last = self._read(topic, retention, since, limit)
        complete = since is None or first - 1 <= since <= last
        if since is not None and ((epoch is not None and epoch != current) or since > last):
            current, events, first, last = self._read(topic, retention, None, limit)
            complete = False
        return {'epoch': current, 'events': events, 'complete': complete, 'first': first,
                'last': last}

    def _read(self, topic, retention, since, limit):
        """``(epoch, events, first, last)``: at most ``limit`` events after ``since``
        (the newest ``limit`` when ``since`` is None), trimmed to the retention."""
        raise NotImplementedError

    def position(self, topic: str) -> dict[str, Any]:
        """The topic's current position ``{"epoch", "offset"}`` (offset 0: no event yet)."""
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        """Counters: appended, duplicates, trimmed, evicted_topics (and the store's kind)."""
        return {'store': self.kind, 'appended': self.appended, 'duplicates': self.duplicates,
                'trimmed': self.trimmed, 'evicted_topics': self.evicted_topics}

    def close(self) -> None:
        """Release connections (the data stays where it is)."""


class _Topic:
    __slots__ = ('epoch', 'events', 'last')

    def __init__(self, epoch):
        self.epoch = epoch
        self.last = 0
        self.events: collections.deque[Any] = collections.deque()


class MemoryStore(HistoryStore):
    """History in this process's memory (see the module docstring).

    A topic evicted to make room starts over at offset 1 under a new epoch
    (``<store epoch>-<evictions so far>``), so nobody mistakes its new
    offsets for old ones.
    """

    kind = 'memory'
    epoch: str

    def __init__(self, rules, max_topics=10000, dedupe_window=DEDUPE_WINDOW, clock=time.time):
        super().__init__(rules)
        self.epoch = new_epoch()
        self.max_topics = max_topics
        self.dedupe_window = dedupe_window
        self.clock = clock
        self._topics = collections.OrderedDict()
        self._seen = collections.OrderedDict()  # (topic, msgid) -> (epoch, offset)

    def _topic_epoch(self):
        return self.epoch if not self.evicted_topics else '%s-%d' % (self.epoch,
                                                                   self.evicted_topics)

    def _trim(self, state, retention, now):
        events = state.events
        while len(events) > retention.size:
            events.popleft()
            self.trimmed += 1
        if retention.seconds is not None:
            cutoff = now - retention.seconds
            while events and events[0]['time'] < cutoff:
                events.popleft()
                self.trimmed += 1

    def append_many(self, items):
        results = []
        now = self.clock()
        for topic, args, kwargs, msgid in items:
            retention = self.retention(topic)
            seen = self._seen.get((topic, msgid)) if msgid is not None else None
            if seen is not None:
                self.duplicates += 1
                results.append({'epoch': seen[0], 'offset': seen[1], 'duplicate': True})
                continue
            state = self._topics.get(topic)
            if state is None:
                # The epoch from before this eviction is the one position() gave out
                # for the new topic; an evicted topic never gets its old one back.
                state = _Topic(self._topic_epoch())
                if len(self._topics) >= self.max_topics:
                    self._topics.popitem(last=False)
                    self.evicted_topics += 1
                self._topics[topic] = state
            else:
                self._topics.move_to_end(topic)
            state.last += 1
            state.events.append({'offset': state.last, 'args': list(args or ()),
                                 'kwargs': dict(kwargs or {}), 'msgid': msgid, 'time': now})
            self._trim(state, retention, now)
            self.appended += 1
            if msgid is not None:
                self._seen[topic, msgid] = (state.epoch, state.last)
                if len(self._seen) > self.dedupe_window:
                    self._seen.popitem(last=False)
            results.append({'epoch': state.epoch, 'offset': state.last, 'duplicate': False})
        return results

    def _read(self, topic, retention, since, limit):
        state = self._topics.get(topic)
        if state is None:
            return self._topic_epoch(), [], 1, 0
        self._trim(state, retention, self.clock())
        first = state.events[0]['offset'] if state.events else state.last + 1
        if since is None:
            events = list(state.events)
            events = events[len(events) - limit:] if limit is not None else events
        else:
            # Offsets are contiguous from ``first``: index straight into the deque.
            start = max(0, since + 1 - first)
            stop = len(state.events) if limit is None else min(len(state.events), start + limit)
            events = [state.events[i] for i in range(start, stop)]
        return state.epoch, events, first, state.last

    def position(self, topic):
        self.retention(topic)
        state = self._topics.get(topic)
        if state is None:
            return {'epoch': self._topic_epoch(), 'offset': 0}
        return {'epoch': state.epoch, 'offset': state.last}


#: Events per script call at most: a script blocks Redis while it runs, and
#: Lua's ``unpack`` takes at most ~8,000 values (ZADD gets two per event).
SCRIPT_EVENTS = 500

# One call per topic per batch (the events of one topic, in order), atomic
# across router nodes: the per-call work (epoch, INCRBY, trims, expiries) is
# paid once per batch, not once per event.
# KEYS: stream, counter, dedupe zset, epoch key
# ARGV: now_ms, size, max_age_ms (0 = none), dedupe_s, new_epoch, dedupe window,
#       then payload, msgid ('' = none) per event
# Returns {epoch, trimmed, r1, r2, ...}: ri is the event's offset, negated for a
# resend dropped as a duplicate (offsets start at 1, so the sign is free).
_APPEND_BATCH = """
local epoch = redis.call('GET', KEYS[4])
if not epoch then
  redis.call('SET', KEYS[4], ARGV[5], 'NX')
  epoch = redis.call('GET', KEYS[4])
end
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local first_new = last + 1
local reply = {epoch, 0}
local ids = {}        -- msgid -> offset, for resends inside this batch
local zadd = {}
for i = 7, #ARGV, 2 do
  local msgid = ARGV[i + 1]
  local seen = nil
  if msgid ~= '' then
    seen = ids[msgid] or redis.call('ZSCORE', KEYS[3], msgid)
  end
  if seen then
    reply[#reply + 1] = -tonumber(seen)
  else
    last = last + 1
    redis.call('XADD', KEYS[1], last .. '-0', 'd', ARGV[i], 't', ARGV[1], 'm', msgid)
    reply[#reply + 1] = last
    if msgid ~= '' then
      ids[msgid] = last
      zadd[#zadd + 1] = last
      zadd[#zadd + 1] = msgid
    end
  end
end
if last < first_new then return reply end
redis.call('INCRBY', KEYS[2], last - first_new + 1)
local trimmed = redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[2])
local max_age = tonumber(ARGV[3])
if max_age > 0 then
  local cutoff = tonumber(ARGV[1]) - max_age
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  if oldest[1] and tonumber(oldest[1][2][4]) < cutoff then
    local entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1000)
    local keep = last
    for _, entry in ipairs(entries) do
      if tonumber(entry[2][4]) >= cutoff then
        keep = tonumber(string.match(entry[1], '^(%d+)'))
        break
      end
    end
    trimmed = trimmed + redis.call('XTRIM', KEYS[1], 'MINID', keep .. '-0')
  end
  redis.call('PEXPIRE', KEYS[1], max_age)
end
if #zadd > 0 then
  redis.call('ZADD', KEYS[3], unpack(zadd))
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', last - tonumber(ARGV[6]))
  redis.call('EXPIRE', KEYS[3], ARGV[4])
end
reply[2] = trimmed
return reply
"""


class RedisStore(HistoryStore):
    """History in Redis streams (see the module docstring).

    Keys, under ``prefix``: ``epoch``; ``n:<topic>`` the offset counter (kept
    forever, so offsets never restart under the same epoch); ``s:<topic>``
    the stream (expires ``seconds`` after its last event when the topic has an
    age limit); ``d:<topic>`` the message ids of the topic's newest
    ``dedupe_window`` events (a sorted set, msgid scored by offset), for
    dropping resends; it expires ``dedupe_seconds`` after the topic's last
    event.  Age is enforced on append and again on read.
    ``history_max_topics`` does not apply: Redis's own ``maxmemory`` bounds it.

    Dedupe cost: one string key per message id with a 600 s expiry took ~196
    bytes per event (Redis 7.0, 50-byte prefix, 20-byte msgid), so 10,000
    events/s kept ~1.2 GB; the sorted set takes ~120 bytes per id and at most
    ``dedupe_window`` ids per topic (~1.2 MB for 10,000).  A resend older than
    the topic's last ``dedupe_window`` events is stored again.
    """

    kind = 'redis'
    blocking = True

    def __init__(self, rules, url='redis://127.0.0.1:6379/0', prefix='livehub:history:',
                 dedupe_seconds=DEDUPE_SECONDS, clock=time.time, client=None,
                 dedupe_window=DEDUPE_TOPIC_WINDOW):
        import redis
        super().__init__(rules)
        self.prefix = prefix
        self.dedupe_seconds = dedupe_seconds
        self.dedupe_window = dedupe_window
        self.clock = clock
        self.redis = client or redis.Redis.from_url(url)
        self._no_script = redis.exceptions.NoScriptError
        self._sha = None

    def _key(self, *parts):
        return self.prefix + ':'.join(parts)

    @property
    def epoch(self):
        """The store's epoch (kept in Redis; the first store to ask creates it)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self._key('epoch'), new_epoch(), nx=True)
        pipe.get(self._key('epoch'))
        return pipe.execute()[1].decode()

    def append_many(self, items):
        now_ms = int(self.clock() * 1000)
        epoch = new_epoch()  # used only if Redis has none yet
        # Group by topic (offsets are per topic, so only the order inside a
        # topic matters): one script call per topic and SCRIPT_EVENTS events.
        by_topic: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            self.retention(item[0])  # NoHistory before anything is written
            by_topic.setdefault(item[0], []).append(index)
        calls, slots = [], []
        for topic, indexes in by_topic.items():
            retention = self.retention(topic)
            head = [self._key('s', topic), self._key('n', topic), self._key('d', topic),
                    self._key('epoch'), now_ms, retention.size,
                    int((retention.seconds or 0) * 1000), self.dedupe_seconds, epoch,
                    self.dedupe_window]
            for start in range(0, len(indexes), SCRIPT_EVENTS):
                chunk = indexes[start:start + SCRIPT_EVENTS]
                call = list(head)
                for index in chunk:
                    _, args, kwargs, msgid = items[index]
                    call.append(msgpack.packb([list(args or ()), dict(kwargs or {})],
                                              use_bin_type=True))
                    call.append(msgid or '')
                calls.append(call)
                slots.append(chunk)
        try:
            replies = self._run_appends(calls)
        except self._no_script:
            # Redis restarted or was flushed: load the script again.  Nothing
            # ran (every EVALSHA failed alike), so running them again is safe.
            self._sha = None
            replies = self._run_appends(calls)
        results: list[dict[str, Any]] = [{}] * len(items)
        for chunk, (topic_epoch, trimmed, *offsets) in zip(slots, replies):
            topic_epoch = topic_epoch.decode()
            self.trimmed += trimmed
            for index, offset in zip(chunk, offsets):
                duplicate = offset < 0
                if duplicate:
                    self.duplicates += 1
                else:
                    self.appended += 1
                results[index] = {'epoch': topic_epoch, 'offset': abs(offset),
                                  'duplicate': duplicate}
        return results

    def _run_appends(self, calls):
        # EVALSHA in a plain pipeline: one round trip for the whole batch
        # (redis-py's Script objects add a SCRIPT EXISTS round trip per batch).
        if self._sha is None:
            self._sha = self.redis.script_load(_APPEND_BATCH)
        pipe = self.redis.pipeline(transaction=False)
        for call in calls:
            pipe.evalsha(self._sha, 4, *call)
        return pipe.execute() if calls else []

    def _read(self, topic, retention, since, limit):
        # One round trip; trimming by size and age is applied on read as well.
        stream = self._key('s', topic)
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self._key('epoch'))
        pipe.get(self._key('n', topic))
        pipe.xrange(stream, count=1)
        count = max(limit, 1) if limit is not None else None  # Redis refuses COUNT 0
        if since is not None:
            pipe.xrange(stream, min='%d-0' % (since + 1), count=count)
        else:
            pipe.xrevrange(stream, count=count)
        epoch, last, oldest, entries = pipe.execute()
        if since is None:
            entries.reverse()
        last = int(last or 0)
        first = last + 1
        cutoff = self.clock() - retention.seconds if retention.seconds is not None else None
        events = []
        for entry_id, fields in entries:
            event = self._event(entry_id, fields)
            if event['offset'] > last - retention.size and (cutoff is None
                                                             or event['time'] >= cutoff):
                events.append(event)
        if oldest:
            held = self._event(*oldest[0])
            first = max(held['offset'], last - retention.size + 1)
            if cutoff is not None and held['time'] < cutoff:
                # Trim on read: the oldest entries outlived their age.
                first = events[0]['offset'] if events else self._first_young(stream, cutoff,
                                                                             last)
        if since is not None and since + 1 < first and limit is not None and len(events) < limit:
            # ``since`` fell behind what is held: read the first ``limit`` held instead.
            return self._read(topic, retention, first - 1, limit)[:2] + (first, last)
        epoch = epoch.decode() if epoch is not None else self.epoch
        return epoch, events if limit != 0 else [], first, last

    def _first_young(self, stream, cutoff, last):
        for entry_id, fields in self.redis.xrange(stream, count=10000) or ():
            event = self._event(entry_id, fields)
            if event['time'] >= cutoff:
                return event['offset']
        return last + 1

    @staticmethod
    def _event(entry_id, fields):
        args, kwargs = msgpack.unpackb(fields[b'd'], raw=False)
        msgid = fields.get(b'm', b'').decode() or None
        return {'offset': int(entry_id.split(b'-')[0]), 'args': args, 'kwargs': kwargs,
                'msgid': msgid, 'time': int(fields[b't']) / 1000.0}

    def position(self, topic):
        self.retention(topic)
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self._key('epoch'))
        pipe.get(self._key('n', topic))
        epoch, last = pipe.execute()
        return {'epoch': epoch.decode() if epoch is not None else self.epoch,
                'offset': int(last or 0)}

    def close(self):
        self.redis.close()


def open_store(url: str, rules: HistoryRules, max_topics: int = 10000) -> HistoryStore:
    """The store a ``livehub.history_store`` value names (``memory`` or a Redis URL)."""
    if url == 'memory':
        return MemoryStore(rules, max_topics=max_topics)
    redis_url, prefix = redis_url_and_prefix(url)
    return RedisStore(rules, url=redis_url, prefix=prefix)
