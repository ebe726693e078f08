"""Debug-log arguments formatted only when the message is logged (router worker, issue 13).

Crossbar and Autobahn build their debug messages' arguments eagerly on the
per-event path: ``Router.authorize`` calls ``pformat()`` on the cached
authorization for every publish, the broker and the WebSocket protocol
colour URIs and session ids with ``hltype``/``hlval``/``hlid``, all for a
``log.debug()`` that is a no-op at the router's ``info`` level.  Profiling
the router worker under a publish burst (py-spy) put those calls at ~25 %
of its samples.

:func:`defer_log_formatting` rebinds those helper names, in the modules that
call them (:data:`PATCHED`), to wrappers returning a :class:`LazyText`: a
tiny object that runs the real helper when the log message is actually
formatted (``str``/``format``/``repr``), so the text is the same when the
message is logged and nothing is computed when it is not.  Every use of
these names in those modules is a keyword argument of a log call (checked
for the crossbar and Autobahn versions we pin; a new name in
:data:`PATCHED` needs the same check).  The embedded guard component calls
it in the router worker (:mod:`pyramid_livehub.router.guard.component`).
"""
import functools
import importlib

#: ``{module: names}`` rebound to lazy wrappers.
PATCHED = {
    'crossbar.router.router': ('pformat', 'hltype', 'hlval', 'hlid'),
    'crossbar.router.broker': ('hlflag', 'hlid', 'hltype'),
    'autobahn.wamp.websocket': ('hlval',),
    'autobahn.websocket.protocol': ('hltype', 'hlval'),
}


class LazyText(functools.partial):
    """``func(*args, **kwargs)``, called when the text is needed (and each time it is).

    A :class:`functools.partial`, so building one on the per-event path runs
    no Python code (a plain wrapper function and ``__init__`` cost the router
    worker ~7 % of its samples under a publish burst).
    """

    __slots__ = ()

    def __str__(self):
        return str(self())

    def __format__(self, spec):
        return format(self(), spec)

    # crossbar's JSON log observer writes repr() of non-JSON values: same text
    __repr__ = __str__


class _LazyHelper(functools.partial):
    """What :func:`lazy` returns: calling it builds a :class:`LazyText` (in C)."""

    __slots__ = ()
    _livehub_lazy = True

    @property
    def __wrapped__(self):
        return self.args[0]


def lazy(func):
    """A wrapper of ``func`` returning :class:`LazyText` (``func`` itself if already wrapped)."""
    if getattr(func, '_livehub_lazy', False):
        return func
    return _LazyHelper(LazyText, func)


def defer_log_formatting(patched=None):
    """Rebind the :data:`PATCHED` names to lazy wrappers; return how many were rebound."""
    count = 0
    for module_name, names in (PATCHED if patched is None else patched).items():
        module = importlib.import_module(module_name)
        for name in names:
            current = getattr(module, name)
            if not getattr(current, '_livehub_lazy', False):
                setattr(module, name, lazy(current))
                count += 1
    return count
