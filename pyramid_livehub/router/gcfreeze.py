"""Start-up objects kept out of the garbage collector's full passes (router worker, issue 13).

Once started, a router worker holds ~80,000 objects the collector tracks:
crossbar's, Twisted's and Autobahn's modules, classes and config.  Python's
full (generation 2) collection walks all of them, with every connection of
the worker waiting: measured 2026-11-28, 17-45 ms per pass in the router
worker, one of them during a 10-second run at 500 ev/s, which held 16
events back by up to 31 ms (the run's worst latencies by far).

:func:`freeze_startup_objects` collects once, then moves what is alive into
the permanent generation (:func:`gc.freeze`), which collections skip: a
later full pass walks only what came after start-up (sessions,
subscriptions, connections), and cycles among those are collected as
before.  The embedded guard component calls it when the router worker has
started (:mod:`pyramid_livehub.router.guard.component`); the guard's stats
report the count.
"""
import gc

__all__ = ['freeze_startup_objects']


def freeze_startup_objects() -> int:
    """Collect, then move every object alive now out of the collector's reach; return the count."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
