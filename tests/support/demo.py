"""The demo app (demo/, not an installed package) and its settings on free ports."""
import os
import sys

from pyramid.paster import get_appsettings

from pyramid_livehub.router.process import free_port
from tests.support import PROJECT_ROOT
from tests.support.services import router_settings

DEMO_INI = os.path.join(PROJECT_ROOT, 'demo', 'development.ini')


def demo_settings():
    """The demo's own settings, on free ports (the router's and the zmq sensor's)."""
    settings = dict(get_appsettings(DEMO_INI))
    settings.update(router_settings())
    settings['livehub.zmq_subscribe_endpoints'] = 'tcp://127.0.0.1:%d' % free_port()
    return settings


def import_demo():
    """The demo package (not installed: imported from the project root)."""
    if PROJECT_ROOT not in sys.path:  # the demo is not an installed package
        sys.path.insert(0, PROJECT_ROOT)
    import demo
    return demo


def make_demo_app(settings):
    """The demo's WSGI app, built by its own ``main``."""
    return import_demo().main({}, **settings)


def demo_sensor(parsed_settings):
    """The demo's ZeroMQ sensor for parsed settings, as ``make demo`` starts it (or None)."""
    import_demo()
    from demo.sensor import sensor_for
    return sensor_for(parsed_settings)
