"""The demo app (demo/, not an installed package) and its settings on free ports."""
import os
import sys

from pyramid.paster import get_appsettings

from tests.support import PROJECT_ROOT
from tests.support.services import router_settings

DEMO_INI = os.path.join(PROJECT_ROOT, 'demo', 'development.ini')


def demo_settings():
    """The demo's own settings, on free ports."""
    settings = dict(get_appsettings(DEMO_INI))
    settings.update(router_settings())
    return settings


def make_demo_app(settings):
    """The demo's WSGI app, built by its own ``main``."""
    if PROJECT_ROOT not in sys.path:  # the demo is not an installed package
        sys.path.insert(0, PROJECT_ROOT)
    import demo
    return demo.main({}, **settings)
