"""The router worker keeps its start-up objects out of full garbage collections."""
from pyramid_livehub.router.guard import STATS
from tests.support.bridges import wamp_call


def test_the_router_worker_froze_its_startup_objects(router):
    # A crossbar router worker holds tens of thousands once started; a full
    # pass over them stalled every connection for 17-45 ms (gcfreeze's doc).
    frozen = wamp_call(router.settings, STATS)['gc_frozen_objects']
    assert frozen > 20000, frozen
