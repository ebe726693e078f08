"""Live models: publish SQLAlchemy inserts, updates and deletes after the commit.

::

    config.include('pyramid_livehub')      # includes pyramid_livehub.models
    config.add_livehub_model(Order, fields=['id', 'title', 'status'])

Every ``Order`` that a committed transaction inserts, updates or deletes is
published as ``app.order.created`` / ``app.order.updated`` /
``app.order.deleted`` with one positional argument: a dict of the chosen
fields (only the primary key when no fields are chosen, so a password hash
never leaks by accident).  ``updated`` also carries ``changed=[...]``, the
chosen fields whose value changed.

How it works: SQLAlchemy session events collect the changes of every flush
per transaction (``after_flush`` sees what changed, ``after_flush_postexec``
reads the flushed values, ``before_flush`` snapshots rows about to be
deleted).  A savepoint's changes move to its parent when it is released; the
outermost commit hands them to the publisher; anything still collected when
a transaction ends without a commit (rollback, close, pyramid_tm abort) is
discarded.  A row changed several times in one transaction publishes once,
with its final values.  Because this hooks the ``Session`` class, it works
with any session: ``zope.sqlalchemy`` + pyramid_tm, plain sessions, scripts.

Outside Pyramid, :func:`publish_model_changes` does the same with a
:class:`~pyramid_livehub.publisher.Publisher` of your own.
"""
import difflib
import logging
import re
import threading
import weakref
from typing import Any, Callable, Iterable, NamedTuple, Sequence

from pyramid_livehub._codec import prepare_payload
from pyramid_livehub._parse import configuration_error
from pyramid_livehub._uri import check_topic
from pyramid_livehub.interfaces import ILivehubSettings, ILiveModels, IPublisher

__all__ = ['ACTIONS', 'LiveModel', 'Serializer', 'add_livehub_model', 'includeme',
           'live_model_for', 'live_model_for_class', 'make_live_model', 'publish_model_changes']

log = logging.getLogger(__name__)

ACTIONS = ('created', 'updated', 'deleted')

#: ``serializer(instance) -> dict``: a live model's own payload.
Serializer = Callable[[Any], dict[str, Any]]

# mapped class -> LiveModel; weak so that throw-away classes (tests) go away
_live_models: 'weakref.WeakKeyDictionary[type, LiveModel]' = weakref.WeakKeyDictionary()
_install_lock = threading.Lock()
_installed = False

_PENDING_KEY = 'livehub.model_changes'


class LiveModel:
    """How one mapped class is published: topic, fields and publisher."""

    def __init__(self, model: type, topic: str, fields: Iterable[str],
                 get_publisher: Callable[[], Any], serializer: Serializer | None = None,
                 actions: Iterable[str] = ACTIONS) -> None:
        # A weak reference: _live_models is keyed weakly by the class, and a
        # strong one here would keep throw-away classes alive for ever.
        self._model = weakref.ref(model)
        self.model_name = model.__name__
        self.topic = topic
        self.fields = list(fields)
        self.get_publisher = get_publisher
        self.serializer = serializer
        self.actions = frozenset(actions)
        mapper = _mapper_of(model)
        self.column_fields = {name for name in self.fields if name in mapper.attrs}
        # A field that is not a mapped attribute (a property) may depend on any column.
        self.has_derived_fields = len(self.column_fields) < len(self.fields) or bool(serializer)
        self.published = 0
        self.lost = 0

    @property
    def model(self) -> type | None:
        """The mapped class (None once it has been garbage collected)."""
        return self._model()

    def topic_for(self, action: str) -> str:
        """The full event topic, e.g. ``app.order.created``."""
        return '%s.%s' % (self.topic, action)

    def serialize(self, instance: Any, load: bool = True) -> dict[str, Any]:
        """The payload dict of ``instance``: the chosen fields, JSON-ready.

        ``load=False`` only reads values already in memory (for rows whose
        database row is gone).
        """
        if self.serializer is not None:
            values = self.serializer(instance)
        elif load:
            values = {name: getattr(instance, name) for name in self.fields}
        else:
            loaded = _inspect(instance).dict
            values = {name: loaded[name] for name in self.fields if name in loaded}
        try:
            (plain,), _ = prepare_payload((values,), {})
        except TypeError as exc:
            raise TypeError('live model %s: %s; choose other fields in add_livehub_model('
                            'fields=...) or give the value a __json__(request) method'
                            % (self.model_name, exc)) from None
        result: dict[str, Any] = plain
        return result

    def changed_fields(self, instance: Any) -> list[str]:
        """Chosen column fields whose value changed in the current flush."""
        attrs = _inspect(instance).attrs
        return [name for name in self.fields
                if name in self.column_fields and attrs[name].history.has_changes()]

    def __repr__(self) -> str:
        return '<LiveModel %s -> %s.* %s>' % (self.model_name, self.topic, self.fields)


# -- public API ---------------------------------------------------------------

def publish_model_changes(model: type, publisher: Any, topic: str | None = None,
                          fields: Sequence[str] | None = None,
                          serializer: Serializer | None = None,
                          actions: Iterable[str] = ACTIONS, topic_prefix: str = 'app') -> LiveModel:
    """Publish committed inserts/updates/deletes of ``model`` through ``publisher``.

    ``publisher`` is a :class:`~pyramid_livehub.publisher.Publisher` or a
    callable returning one (looked up at commit time).  ``topic`` defaults to
    ``<topic_prefix>.<model_name>`` (``OrderLine`` -> ``app.order_line``).
    ``fields`` are attribute names (columns or properties); by default only
    the primary key.  ``serializer(instance) -> dict`` replaces ``fields``
    when you need more control.  ``actions`` limits which of
    ``created``/``updated``/``deleted`` are published.

    A commit while a Pyramid request runs never waits for room in a full
    publisher queue; a script's or worker's commit waits up to
    ``livehub.publish_block_timeout`` like ``Publisher.publish()``.

    Returns the :class:`LiveModel`.  Calling it again for the same class
    replaces the previous registration.
    """
    live = make_live_model(model, publisher, topic=topic, fields=fields, serializer=serializer,
                           actions=actions, topic_prefix=topic_prefix)
    _install_listeners()
    _live_models[model] = live
    return live


def make_live_model(model: type, publisher: Any, topic: str | None = None,
                    fields: Sequence[str] | None = None, serializer: Serializer | None = None,
                    actions: Iterable[str] = ACTIONS, topic_prefix: str = 'app') -> LiveModel:
    """Check the arguments and build a :class:`LiveModel` (not yet active)."""
    mapper = _mapper_of(model)
    if mapper is None:
        raise configuration_error(
            'add_livehub_model: %r is not a mapped SQLAlchemy class; pass the class of your '
            'declarative model (e.g. Order), not a table or an instance' % (model,))
    if topic is None:
        topic = '%s.%s' % (topic_prefix, _snake_case(model.__name__))
    try:
        check_topic(topic)
    except ValueError as exc:
        raise configuration_error('add_livehub_model(%s, topic=...): %s' % (model.__name__, exc))
    if isinstance(fields, str):
        raise configuration_error(
            'add_livehub_model(%s, fields=%r): fields is a list of attribute names, e.g. '
            "fields=['id', 'title']" % (model.__name__, fields))
    if fields is None:
        fields = [mapper.get_property_by_column(column).key for column in mapper.primary_key]
    for name in fields:
        if not hasattr(model, name):
            known = sorted(mapper.attrs.keys())
            close = difflib.get_close_matches(name, known, n=1)
            hint = ' Did you mean %r?' % close[0] if close else ' Its attributes: %s.' % ', '.join(known)
            raise configuration_error('add_livehub_model(%s): no field %r.%s'
                                     % (model.__name__, name, hint))
    unknown = set(actions) - set(ACTIONS)
    if unknown:
        raise configuration_error('add_livehub_model(%s, actions=...): %s unknown; choose from %s'
                                 % (model.__name__, ', '.join(sorted(unknown)), ', '.join(ACTIONS)))
    get_publisher = publisher if callable(publisher) and not hasattr(publisher, 'enqueue') \
        else (lambda: publisher)
    return LiveModel(model, topic, fields, get_publisher, serializer=serializer, actions=actions)


def live_model_for(instance: Any) -> LiveModel | None:
    """The :class:`LiveModel` of ``instance``'s class (or a base class), or None."""
    if not _live_models:
        return None
    return live_model_for_class(type(instance))


def add_livehub_model(config: Any, model: type, topic: str | None = None,
                      fields: Sequence[str] | None = None, serializer: Serializer | None = None,
                      actions: Iterable[str] = ACTIONS) -> None:
    """Configurator directive: publish committed changes of ``model``.

    ::

        config.add_livehub_model(Order, fields=['id', 'title', 'status'])
        config.add_livehub_model(User, topic='app.accounts', fields=['id', 'name'])

    See :func:`publish_model_changes` for the arguments.  The publisher is
    the app's (``config.include('pyramid_livehub')`` first).
    """
    registry = config.registry

    def get_publisher() -> Any:
        return registry.queryUtility(IPublisher)

    def register() -> None:
        settings = registry.queryUtility(ILivehubSettings)
        if settings is None or registry.queryUtility(IPublisher) is None:
            raise configuration_error(
                "add_livehub_model(%s): pyramid_livehub is not set up; call "
                "config.include('pyramid_livehub') before adding live models"
                % getattr(model, '__name__', model))
        live = publish_model_changes(model, get_publisher, topic=topic, fields=fields,
                                     serializer=serializer, actions=actions,
                                     topic_prefix=settings['model_topic_prefix'])
        models = registry.queryUtility(ILiveModels)
        if models is None:
            models = []
            registry.registerUtility(models, ILiveModels)
        models.append(live)

    # Check what can be checked now, so that a typo points at the caller's line.
    make_live_model(model, get_publisher, topic=topic, fields=fields,
                    serializer=serializer, actions=actions)
    # order=1: after pyramid_livehub's own setup action registered the publisher.
    config.action(('livehub-model', model), register, order=1)


def includeme(config: Any) -> None:
    """Add the ``config.add_livehub_model(...)`` directive."""
    config.add_directive('add_livehub_model', add_livehub_model)


# -- session events -------------------------------------------------------------

class Change(NamedTuple):
    """One row's change waiting for the commit."""

    live: LiveModel
    action: str
    payload: dict[str, Any]
    changed: list[str] | None


def _install_listeners() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        from sqlalchemy import event
        from sqlalchemy.orm import Session
        event.listen(Session, 'before_flush', _before_flush)
        event.listen(Session, 'after_flush', _after_flush)
        event.listen(Session, 'after_flush_postexec', _after_flush_postexec)
        event.listen(Session, 'after_commit', _after_commit)
        event.listen(Session, 'after_transaction_end', _after_transaction_end)
        event.listen(Session, 'do_orm_execute', _warn_about_bulk_statements)
        _installed = True


def _state(session: Any) -> dict[str, Any]:
    """Per-session bookkeeping, created on first use."""
    state = session.info.get(_PENDING_KEY)
    if state is None:
        state = session.info[_PENDING_KEY] = {
            'changes': {},     # transaction -> {identity: Change}
            'flushed': [],     # (action, instance, changed) waiting for postexec
            'snapshots': {},   # id(instance) -> payload of a row about to be deleted
        }
    return state


def _collecting_transaction(session: Any) -> Any:
    """The transaction a flush's changes belong to: innermost savepoint or the root."""
    return session.get_nested_transaction() or session.get_transaction()


def _before_flush(session: Any, flush_context: Any, instances: Any) -> None:
    # Rows about to be deleted: read their fields while the row still exists.
    snapshots = None
    for instance in session.deleted:
        live = live_model_for(instance)
        if live is not None and 'deleted' in live.actions:
            if snapshots is None:
                snapshots = _state(session)['snapshots']
            snapshots[id(instance)] = live.serialize(instance)


def _after_flush(session: Any, flush_context: Any) -> None:
    # new/dirty/deleted and attribute history still show the flush's changes here.
    flushed = None
    for action, instances in (('created', session.new), ('updated', session.dirty),
                              ('deleted', session.deleted)):
        for instance in instances:
            live = live_model_for(instance)
            if live is None or action not in live.actions:
                continue
            changed = None
            if action == 'updated':
                changed = live.changed_fields(instance)
                if not changed and not (live.has_derived_fields and
                                        session.is_modified(instance)):
                    continue  # only fields nobody subscribed to changed
            if flushed is None:
                flushed = _state(session)['flushed']
            flushed.append((action, instance, changed))


def _after_flush_postexec(session: Any, flush_context: Any) -> None:
    state = session.info.get(_PENDING_KEY)
    if not state or not state['flushed']:
        return
    flushed, state['flushed'] = state['flushed'], []
    snapshots, state['snapshots'] = state['snapshots'], {}
    changes = state['changes'].setdefault(_collecting_transaction(session), {})
    for action, instance, changed in flushed:
        live = live_model_for(instance)
        if live is None:
            continue  # flushed rows all had a live model; it cannot have gone, but be safe
        if action == 'deleted':
            payload = snapshots.get(id(instance))
            if payload is None:  # deleted by a cascade: only what is in memory
                payload = live.serialize(instance, load=False)
        else:
            payload = live.serialize(instance)
        identity = (type(instance), _inspect(instance).identity_key)
        _merge(changes, identity, Change(live, action, payload, changed))


def _merge(changes: dict[Any, Change], identity: Any, new: Change) -> None:
    """Fold a row's new change into what the transaction already holds for it."""
    old = changes.pop(identity, None)
    if old is None:
        changes[identity] = new
        return
    if old.action == 'created':
        if new.action == 'deleted':
            return  # born and gone in one transaction: nobody saw it
        changes[identity] = Change(new.live, 'created', new.payload, None)
    elif new.action == 'updated' or (old.action == 'deleted' and new.action == 'created'):
        changed = sorted(set(old.changed or ()) | set(new.changed or ())) \
            if old.action == 'updated' else None
        changes[identity] = Change(new.live, 'updated', new.payload, changed)
    else:
        changes[identity] = new


def _after_commit(session: Any) -> None:
    state = session.info.get(_PENDING_KEY)
    if not state or not state['changes']:
        return
    transaction = _collecting_transaction(session)
    changes = state['changes'].pop(transaction, None)
    if not changes:
        return
    if transaction.nested:
        # A released savepoint: its changes now belong to the enclosing transaction.
        parent = transaction.parent
        while parent is not None and not (parent.nested or parent.parent is None):
            parent = parent.parent
        into = state['changes'].setdefault(parent, {})
        for identity, change in changes.items():
            _merge(into, identity, change)
        return
    _publish(changes.values())


def _after_transaction_end(session: Any, transaction: Any) -> None:
    # Whatever a transaction still holds when it ends was not committed: drop it.
    state = session.info.get(_PENDING_KEY)
    if state:
        state['changes'].pop(transaction, None)
        if transaction.parent is None:
            state['flushed'] = []
            state['snapshots'] = {}


def _publish(changes: Iterable[Change]) -> None:
    # Imported here: the router's processes import this package (for its
    # settings) and pyramid.threadlocal would bring Pyramid's registry along.
    from pyramid.threadlocal import get_current_request
    # A commit during a web request must not wait for the router (the same
    # test LiveEvent uses); a script's or worker's commit may.
    block = get_current_request() is None
    for change in changes:
        live = change.live
        kwargs = {'changed': change.changed} if change.action == 'updated' else {}
        try:
            publisher = live.get_publisher()
            if publisher is None:
                raise RuntimeError('no publisher (is pyramid_livehub included?)')
            publisher.enqueue(live.topic_for(change.action), [change.payload], kwargs,
                              block=block)
            live.published += 1
        except Exception as exc:  # noqa: BLE001 - the database has committed; never undo that
            live.lost += 1
            log.error('livehub: could not publish %s of %s: %s (%d lost so far)',
                      change.action, live.model_name, exc, live.lost)


_warned_bulk: weakref.WeakSet[LiveModel] = weakref.WeakSet()


def _warn_about_bulk_statements(orm_execute_state: Any) -> None:
    if not (orm_execute_state.is_update or orm_execute_state.is_delete
            or orm_execute_state.is_insert):
        return
    mapper = orm_execute_state.bind_mapper
    if mapper is None:
        return
    live = live_model_for_class(mapper.class_)
    if live is not None and live not in _warned_bulk:
        _warned_bulk.add(live)
        log.warning('livehub: a bulk insert/update/delete statement on %s bypasses the '
                    'session\'s unit of work, so it publishes no live events; change the '
                    'objects and flush to publish them', mapper.class_.__name__)


def live_model_for_class(klass: type) -> LiveModel | None:
    """The :class:`LiveModel` of a class (or its nearest live base class), or None."""
    for base in klass.__mro__:
        live = _live_models.get(base)
        if live is not None:
            return live
    return None


# -- helpers -------------------------------------------------------------------

def _inspect(instance: Any) -> Any:
    from sqlalchemy import inspect
    return inspect(instance)


def _mapper_of(model: Any) -> Any:
    from sqlalchemy import inspect
    from sqlalchemy.exc import NoInspectionAvailable
    try:
        mapper = inspect(model)
    except NoInspectionAvailable:
        return None
    return mapper if getattr(mapper, 'is_mapper', False) else None


def _snake_case(name: str) -> str:
    return re.sub(r'(?<=[a-z0-9])(?=[A-Z])', '_', name).lower()
