"""freeze_startup_objects: start-up objects leave the collector's reach, later cycles do not."""
from tests.support import run_python

CODE = '''
import gc
import weakref
from pyramid_livehub.router.gcfreeze import freeze_startup_objects

class Node:
    pass

def cycle():
    node = Node()
    node.self = node
    return weakref.ref(node)

before = cycle()              # garbage at freeze time: collected first, not frozen
kept = Node()
kept.self = kept              # alive at freeze time: frozen with the rest of start-up
kept_ref = weakref.ref(kept)
frozen = freeze_startup_objects()
assert frozen == gc.get_freeze_count(), frozen
assert before() is None
del kept
gc.collect()
assert kept_ref() is not None  # frozen objects are never collected (start-up state)
later = cycle()               # a cycle made after start-up: collected as before
assert later() is not None
gc.collect()
assert later() is None
print(frozen)
'''


def test_startup_objects_are_frozen_and_later_cycles_still_collected():
    assert int(run_python(CODE)) > 1000
