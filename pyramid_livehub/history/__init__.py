"""Topic history and stream positions (issue 12): where positions come from.

Design
======

Crossbar has no publish hook: nothing inside the router can stamp an event
on its way from a publisher to the subscribers.  So positions are assigned
by a **router component** in the container worker,
:class:`~pyramid_livehub.history.component.HistoryComponent`, and an event on
a history-enabled topic reaches the router as a *call*, not a publish::

    publisher --CALL livehub.history.publish(topic, args, kwargs, msgid)--> router
        --> HistoryComponent: drop a resent msgid, assign {epoch, offset},
            append to the store, PUBLISH topic (with the position) --> subscribers
        <-- RESULT {epoch, offset, duplicate}      (this is the acknowledgement)

* The call's result *is* the acknowledgement: once it arrives the event is in
  the store and was handed to the router for the subscribers.  A publisher
  keeps an event until then and resends it (same ``msgid``) after a lost
  connection; a resend whose first copy got through is dropped at the store
  (``duplicate`` True, the original position returned, nothing published
  twice).  ``livehub.history.publish_batch`` takes many events per call.
* ``publish`` works for every topic: one without history is published
  unpositioned and the result is None, so acknowledged publishing can use
  the same procedure for all topics (no dedupe there: nothing records them).
* One component assigns positions per router; appends are serialised (one
  store thread for Redis), so offsets are published in order.  With the Redis
  store offsets are assigned inside one Lua script per topic per batch
  (``INCRBY``), so several routers sharing one Redis still give each event
  one offset; each router publishes only what it stored, so subscribers of
  another node see the event only if the nodes are linked (Crossbar
  router-to-router links).
* Events published straight to a history-enabled topic (``session.publish``)
  bypass the component and carry no position; livehub's own publishers call
  the procedure instead: :class:`~pyramid_livehub.publisher.Publisher` with
  ``publish_batch``, and inside the router the bridges' inbound side and
  plugin ``hub.publish`` through
  :class:`~pyramid_livehub.router.history_forward.HistoryForwarder`.

Epochs: the memory store's epoch is random per process start; a topic it
evicted starts over as ``<epoch>-<evictions so far>``.  The Redis store keeps
the epoch in Redis, so a router restart keeps epoch and offsets; flushing
Redis starts a new epoch.

Wire format (for any WAMP client)
=================================

An event on a history-enabled topic carries its position in the reserved
keyword argument ``livehub_position`` (next to ``livehub_broker``, the other
reserved key)::

    EVENT args=[...] kwargs={..., "livehub_position":
                             {"epoch": "3f9c0a1b2c3d4e5f", "offset": 42, "msgid": "..."}}

``msgid`` is there only when the publisher gave one.  A plain Autobahn
client reads it as ``kwargs.pop('livehub_position', None)`` (Python; or
:func:`split_position`) or
``kwargs.livehub_position`` (JavaScript); offsets grow by one per event per
exact topic and are the same for every subscriber.  Publishers may not use
the key themselves (the call is refused).

Procedures (registered by the component, under ``livehub.history.``):

``publish(topic, args=None, kwargs=None, msgid=None)``
    -> ``{"epoch", "offset", "duplicate"}`` or None (topic keeps no history).
``publish_batch([[topic, args, kwargs, msgid], ...])`` -> list of the above.
``fetch(topic, since=None, limit=None, epoch=None)``
    -> ``{"epoch", "events": [{"offset", "args", "kwargs", "msgid",
    "time"}...], "complete", "first", "last"}``: the events after offset
    ``since`` (the oldest ``limit`` of them), or the newest ``limit`` when
    ``since`` is None (late join).  ``complete`` is False when the store no
    longer covers ``since`` (trimmed, evicted, another ``epoch``, ``since`` >
    ``last``): the caller missed events it cannot get back.  ``first`` is
    the oldest offset held (``last + 1`` when none), ``last`` the newest
    given out; page by calling again with ``since`` = the last event's offset.
``position(topic)`` -> ``{"epoch", "offset"}`` (offset 0: no event yet).
``stats()`` -> counters: appended, duplicates, trimmed, evicted_topics,
    published, unpositioned, store_errors, publish_errors, batches (store
    round trips: calls that arrive while the store is busy go together).

Cost (2-core machine shared with other jobs, so rough): one ``publish``
call per event ran at ~2,200-3,700 events/s, ``publish_batch`` of 100 at
~5,000-11,000/s with either store, acknowledged plain publishes (no history)
at ~2,800-9,900/s in the same runs: publishers should batch.

``fetch`` and ``position`` raise ``livehub.history.not_enabled`` for a topic
no ``livehub.history`` line matches; the router's roles decide who may call
them (browsers: only for topics they may subscribe to, issue 12 item 7).
"""
from typing import Any, Mapping

#: Reserved kwargs key that carries an event's position (see the wire format above).
POSITION_KEY = 'livehub_position'

#: Prefix of the component's procedures.
PROCEDURE_PREFIX = 'livehub.history.'

#: Error of a call to a procedure nobody registered (yet): the history
#: component joins shortly after a router start.
NO_SUCH_PROCEDURE = 'wamp.error.no_such_procedure'

#: Refusals of ``publish``/``publish_batch`` after which the caller sends the
#: same events (same msgids) again: nothing was published, or it was stored
#: but not published live (the resend is then dropped as a duplicate and the
#: event reaches subscribers through ``fetch``), or the component went away
#: during the call (``wamp.error.canceled``).
RETRY_LATER = ('livehub.history.store_unavailable', 'livehub.history.publish_failed',
               'wamp.error.canceled', NO_SUCH_PROCEDURE)

#: Dotted path of the router component.
COMPONENT_CLASS = 'pyramid_livehub.history.component.HistoryComponent'


def split_position(kwargs: dict | None) -> tuple[dict | None, dict | None]:
    """``(kwargs without the position, position or None)`` of a received event.

    For Python subscribers: ``kwargs, position = split_position(kwargs)``;
    ``position`` is ``{"epoch", "offset"[, "msgid"]}``.
    """
    if not kwargs or POSITION_KEY not in kwargs:
        return kwargs, None
    kwargs = dict(kwargs)
    return kwargs, kwargs.pop(POSITION_KEY)


def history_components(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Node-config provider: the history component, when ``livehub.history`` names topics.

    The component gets only its own keys in ``extra`` (the rest of the
    settings reach it through the container's usual ``settings`` entry).
    """
    from pyramid_livehub.history.settings import as_history_lines
    lines = as_history_lines(settings.get('history') or [])
    if not lines:
        return []
    return [{
        'id': 'history',
        'classname': COMPONENT_CLASS,
        'extra': {'history': lines,
                  'store': settings.get('history_store', 'memory'),
                  'max_topics': settings.get('history_max_topics', 10000)},
    }]


__all__ = ['POSITION_KEY', 'PROCEDURE_PREFIX', 'history_components', 'split_position']
